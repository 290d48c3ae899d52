package web

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/store"
)

// This file is the authorization matrix (issue 4, acceptance 2): every
// route the server registers × every kind of visitor, from one table.
//
// The routes are read from the route functions themselves (with a recording
// handle), so a route added to any of them is covered without touching this
// file; TestAuthzRouteGroups fails if routes() gains a route function that
// authzRouteGroups does not list. A path wildcard is filled from
// authzWildcards, keyed by the segment before it ("subscriptions/{id}"), or
// by the segments around it where one kind of id is not enough
// ("subscriptions/{id}/provisioning": a SaaS subscription): a wildcard
// missing there fails the test, so nobody forgets a fixture.
//
// Every request gets a fresh session of its actor (inserted directly: no
// password hashing), so one request cannot affect the next one's identity
// (a sign-out, an impersonation).
//
// "Nothing changed" is checked on a digest of every row of every table (the
// table list comes from the database's catalog), plus store.TableCounts. The
// only exemptions, both by design and narrow:
//   - web_sessions.flash: rendering a page consumes the flash message ("shown
//     once"). The fresh sessions have none, so in practice nothing changes.
//   - audit_log rows with action permission.denied: a 403 is audited (exactly
//     one row); any other audit row is a change.

// authzRouteGroups are the route functions routes() calls, by name.
func authzRouteGroups(s *Server) map[string]func(func(string, access, handlerFunc)) {
	return map[string]func(func(string, access, handlerFunc)){
		"portalRoutes":      s.portalRoutes,
		"billingRoutes":     s.billingRoutes,
		"supportRoutes":     s.supportRoutes,
		"adminRoutes":       s.adminRoutes,
		"consoleRoutes":     s.consoleRoutes,
		"creditNoteRoutes":  s.creditNoteRoutes,
		"termsRoutes":       s.termsRoutes,
		"integrationRoutes": s.integrationRoutes,
		"discountRoutes":    s.discountRoutes,
		"instanceRoutes":    s.instanceRoutes,
	}
}

type authzRoute struct {
	method, pattern, path string
	access                access
}

func (r authzRoute) unsafe() bool {
	return r.method != http.MethodGet && r.method != http.MethodHead
}

func (r authzRoute) admin() bool { return strings.HasPrefix(r.path, "/admin") }

// authzRoutesOf records every route of every group.
func authzRoutesOf(t *testing.T, s *Server) []authzRoute {
	t.Helper()
	var routes []authzRoute
	rec := func(pattern string, a access, _ handlerFunc) {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok { // no method: the route answers every method
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				routes = append(routes, authzRoute{m, pattern, pattern, a})
			}
			return
		}
		routes = append(routes, authzRoute{method, pattern, path, a})
	}
	groups := authzRouteGroups(s)
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		groups[name](rec)
	}
	if len(routes) < 40 {
		t.Fatalf("only %d routes recorded", len(routes))
	}
	return routes
}

// TestAuthzRouteGroups checks that the matrix knows every route function
// that routes() in web.go calls.
func TestAuthzRouteGroups(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "web.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var called []string
	ast.Inspect(f, func(n ast.Node) bool {
		fd, ok := n.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "routes" {
			return true
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "Routes") {
					called = append(called, sel.Sel.Name)
				}
			}
			return true
		})
		return false
	})
	known := slices.Sorted(maps.Keys(authzRouteGroups(&Server{})))
	slices.Sort(called)
	if !slices.Equal(called, known) {
		t.Fatalf("routes() calls %v but the authorization matrix covers %v: add the new route function to authzRouteGroups", called, known)
	}
}

// authzFixture is what customer A (or B) owns, plus things staff pages show.
type authzFixture struct {
	user, customer, sub, invoice, request, pm, email string
	saasSub                                          string // provisioning pages are for SaaS subscriptions only
}

// authzWildcards maps "segment/{wildcard}" (or, more specific,
// "segment/{wildcard}/next") to A's fixture (or a shared one).
func authzWildcards(a authzFixture, job string, hook authzWebhook) map[string]string {
	return map[string]string{
		"subscriptions/{id}":              a.sub,
		"subscriptions/{id}/provisioning": a.saasSub,
		"webhooks/{id}":                   hook.endpoint,
		"deliveries/{delivery}":           hook.delivery,
		"invoices/{id}":                   a.invoice,
		"account/{id}":                    a.customer,
		"payment_methods/{pm}":            a.pm,
		"support/{id}":                    a.request,
		"customers/{id}":                  a.customer,
		"emails/{id}":                     a.email,
		"jobs/{id}":                       job,
		"instances/{instance}":            "authz-instance", // customer A's subscription's instance
	}
}

// authzQuery adds query parameters to some GETs so that they run their
// previews (which must not write either).
var authzQuery = map[string]string{
	"GET /subscriptions/{id}/seats":   "?seats=20",
	"GET /subscriptions/{id}/add_ons": "?add_on=duo-pro&quantity=5",
	"GET /subscriptions/{id}/upgrade": "?plan=sm-ultimate",
	"GET /subscriptions/{id}/renewal": "?seats=5&plan=sm-ultimate",
	"GET /buy/review":                 "?plan=sm-premium&seats=10&company=Example+GmbH&country=DE&pay=card&card=pm_card_visa&account=new",
	"GET /admin/customers":            "?q=example",
	"GET /invitations/accept":         "?token=nonsense",
}

// fill replaces the wildcards of a path; it fails on an unknown one. The
// key "prev/{wildcard}/next" wins over "prev/{wildcard}".
func fill(t *testing.T, path string, ids map[string]string) (string, bool) {
	t.Helper()
	segs := strings.Split(path, "/")
	has := false
	for i, seg := range segs {
		if seg == "{$}" {
			segs[i] = ""
			continue
		}
		if !strings.HasPrefix(seg, "{") {
			continue
		}
		has = true
		prev := ""
		if i > 0 {
			prev = segs[i-1]
		}
		key := prev + "/" + seg
		v, ok := "", false
		if i+1 < len(segs) {
			v, ok = ids[key+"/"+segs[i+1]]
		}
		if !ok {
			v, ok = ids[key]
		}
		if !ok || v == "" {
			t.Fatalf("route %s: no fixture for wildcard %q: add one to authzWildcards", path, prev+"/"+seg)
		}
		segs[i] = v
	}
	return strings.Join(segs, "/"), has
}

type authzEnv struct {
	t     *testing.T
	s     *Server
	db    *store.DB
	svc   *commerce.Service
	clock *fulfill.SimulatedClock
	h     http.Handler
	// stmts are the snapshots' queries, prepared once (see digest), and
	// selects their SELECT of each table (selectAll).
	stmts   map[string]*sql.Stmt
	selects map[string]string
}

func newAuthzEnv(t *testing.T, url string) *authzEnv {
	t.Helper()
	te := testenv.New(t, url, fulfill.NewDate(2026, 3, 1).Time(), "DE")
	db, svc, clock := te.DB, te.Svc, te.Clock
	s, err := New(Config{Service: svc, DB: db, Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &authzEnv{t: t, s: s, db: db, svc: svc, clock: clock, h: s.Handler()}
}

func (e *authzEnv) user(email, role string) string {
	e.t.Helper()
	now := e.clock.Now().UTC()
	u := &store.User{ID: fulfill.NewID("usr"), Email: email, Name: email, Role: role, ConfirmedAt: &now, CreatedAt: now}
	if err := e.db.InTx(context.Background(), func(tx *store.Tx) error { return tx.InsertUser(u) }); err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

// customer makes a customer user with a billing account, a paid
// subscription (invoice, license, emails), a support request and a card.
func (e *authzEnv) customer(email, company string) authzFixture {
	e.t.Helper()
	ctx := context.Background()
	f := authzFixture{user: e.user(email, "customer")}
	c, err := e.svc.CreateCustomer(ctx, commerce.CustomerInput{Email: email, Name: company, Company: company, Country: "DE"})
	if err != nil {
		e.t.Fatal(err)
	}
	f.customer = c.ID
	res, err := e.svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 10, PaymentMethod: "pm_card_visa"})
	if err != nil {
		e.t.Fatal(err)
	}
	f.sub, f.invoice = res.Subscription.ID, res.Invoice.ID
	saas, err := e.svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: c.ID, Plan: "saas-premium", Seats: 5, PaymentMethod: "pm_card_visa"})
	if err != nil {
		e.t.Fatal(err)
	}
	f.saasSub = saas.Subscription.ID
	now := e.clock.Now().UTC()
	req := &store.SupportRequest{ID: fulfill.NewID("req"), CustomerID: c.ID, SubscriptionID: f.sub, UserID: f.user, Category: "billing",
		Subject: "A question", CreatedAt: now}
	// The checkout saved the card as the default: it is the fixture's card.
	pms, err := e.db.PaymentMethods(ctx, c.ID)
	if err != nil || len(pms) != 1 || !pms[0].Default {
		e.t.Fatalf("saved cards %+v %v", pms, err)
	}
	pm := pms[0]
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.LinkCustomer(f.user, c.ID, now); err != nil {
			return err
		}
		// An activated instance of the subscription, for the deactivation routes.
		if err := tx.UpsertInstance(f.sub, "authz-instance", "gitlab.example.com", "18.2.0", now); err != nil {
			return err
		}
		if err := tx.InsertSupportRequest(req, &store.SupportMessage{ID: fulfill.NewID("msg"), RequestID: req.ID, UserID: f.user,
			Body: "How do I pay?", CreatedAt: now}); err != nil {
			return err
		}
		m := &fulfill.Email{ID: fulfill.NewID("em"), Kind: "test", To: email, Subject: "Hello " + company,
			Body: "A test email.", Status: "pending", CreatedAt: now}
		if err := tx.InsertEmail(m); err != nil {
			return err
		}
		return tx.Enqueue(commerce.SendEmailArgs{EmailID: m.ID}, nil)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	f.request, f.pm = req.ID, pm.ID
	es, err := e.db.Emails(ctx, "", fulfill.Page{Limit: 1})
	if err != nil || len(es) == 0 {
		e.t.Fatalf("no email: %v", err)
	}
	f.email = es[0].ID
	return f
}

// authzWebhook is a webhook endpoint with one delivery.
type authzWebhook struct{ endpoint, delivery string }

// webhook registers an endpoint for every event and gives it a delivery of
// the oldest event, as a replay would.
func (e *authzEnv) webhook() authzWebhook {
	e.t.Helper()
	ctx := context.Background()
	svc := &integrations.Service{DB: e.db, Clock: e.clock}
	ep, _, err := svc.CreateEndpoint(ctx, "test", integrations.EndpointInput{URL: "https://hooks.example.com/authz", Description: "Authz", Events: []string{"*"}})
	if err != nil {
		e.t.Fatal(err)
	}
	d := &store.WebhookDelivery{ID: fulfill.NewID("whd"), EndpointID: ep.ID, CreatedAt: e.clock.Now().UTC()}
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		evs, err := tx.EventsSince(time.Time{}, 1)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("no event to deliver")
		}
		d.EventID, d.EventType = evs[0].ID, evs[0].Type
		_, err = tx.InsertWebhookDelivery(d)
		return err
	})
	if err != nil {
		e.t.Fatalf("webhook delivery fixture: %v", err)
	}
	return authzWebhook{ep.ID, d.ID}
}

// failedJob inserts a discarded River job for the jobs page's retry.
func (e *authzEnv) failedJob() string {
	e.t.Helper()
	now := e.clock.Now().UTC()
	var id int64
	err := e.db.Write.QueryRowContext(context.Background(), `INSERT INTO river_job (kind, args, max_attempts, attempt, state,
		attempted_at, finalized_at, created_at, scheduled_at, priority, queue, metadata)
		VALUES ('authz_fixture', '{}', 1, 1, 'discarded', $1, $1, $1, $1, 1, 'default', '{}') RETURNING id`, now).Scan(&id)
	if err != nil {
		e.t.Fatalf("insert a failed job: %v", err)
	}
	return fmt.Sprint(id)
}

// session signs a user in by inserting a session; actingAs makes a staff
// session impersonate a customer.
func (e *authzEnv) session(userID, actingAs string) string {
	e.t.Helper()
	if userID == "" {
		return ""
	}
	ctx := context.Background()
	secret, hash := newSecret()
	now := e.clock.Now().UTC()
	if err := e.db.InsertSession(ctx, &store.Session{IDHash: hash, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, "192.0.2.1"); err != nil {
		e.t.Fatal(err)
	}
	if actingAs != "" {
		if err := e.db.SetActingAs(ctx, hash, actingAs); err != nil {
			e.t.Fatal(err)
		}
	}
	return secret
}

func (e *authzEnv) do(method, path, cookie string) *httptest.ResponseRecorder {
	var body io.Reader
	if method != http.MethodGet && method != http.MethodHead {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "http://127.0.0.1"+path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// snapshot is the database's content: a digest per table.
type snapshot struct {
	digests map[string]string
	counts  map[string]int
	denials int
}

func (e *authzEnv) tables() []string {
	e.t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if e.db.Dialect == store.Postgres {
		// pg_tables, not information_schema.tables: the same base tables
		// for a fraction of the planning.
		q = `SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()`
	}
	rows, err := e.stmt(q).Query()
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var ts []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		ts = append(ts, n)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	sort.Strings(ts)
	return ts
}

// stmt is q prepared, once per env: SQLite's statement cache (store)
// leaves statements without arguments out, and compiling the snapshots'
// queries each time was a tenth of the matrix's CPU.
func (e *authzEnv) stmt(q string) *sql.Stmt {
	e.t.Helper()
	if st := e.stmts[q]; st != nil {
		return st
	}
	st, err := e.db.Read.Prepare(q)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	if e.stmts == nil {
		e.stmts = map[string]*sql.Stmt{}
		e.t.Cleanup(func() {
			for _, st := range e.stmts {
				st.Close()
			}
		})
	}
	e.stmts[q] = st
	return st
}

// digestQuery is the query that reads every table of tables for a
// snapshot, built once per table list: a row per table and the digest of
// its rows (PostgreSQL, pgDigestQuery), or the table's rows, each as one
// text (SQLite, sqliteRowsQuery). A session's flash and permission.denied
// audit entries are left out.
func (e *authzEnv) digestQuery(tables []string) string {
	e.t.Helper()
	key := strings.Join(tables, ",")
	if q, ok := e.selects[key]; ok {
		return q
	}
	if e.selects == nil {
		e.selects = map[string]string{}
	}
	var q string
	if e.db.Dialect == store.Postgres {
		q = pgDigestQuery(tables)
	} else {
		q = e.sqliteRowsQuery(tables)
	}
	e.selects[key] = q
	return q
}

// pgDigestQuery digests every table on PostgreSQL in one query, in the
// server: per table its row count and the sum of two 64-bit hashes of each
// row's text (a multiset hash: no ORDER BY over unknown columns, no sort).
// The row is cast to text once (OFFSET 0 keeps the planner from pulling
// the cast up into both hashes). One round trip per snapshot, no rows sent.
func pgDigestQuery(tables []string) string {
	parts := make([]string, len(tables))
	for i, tbl := range tables {
		id := pgx.Identifier{tbl}.Sanitize()
		row, where := "t::text", ""
		switch tbl {
		case "audit_log":
			where = ` WHERE action <> 'permission.denied'`
		case "web_sessions":
			row = "(to_jsonb(t) - 'flash')::text"
		}
		parts[i] = fmt.Sprintf(`SELECT %s AS tbl, count(*) AS n, coalesce(sum(hashtextextended(r, 0)::numeric), 0)::text || '/' || coalesce(sum(hashtextextended(r, 1)::numeric), 0)::text AS h FROM (SELECT %s AS r FROM %s t%s OFFSET 0) s`,
			sqlQuote(tbl), row, id, where)
	}
	return strings.Join(parts, " UNION ALL ")
}

// sqliteRowsQuery reads every row of every table on SQLite in one query
// (one statement, one read transaction, instead of one of each per table),
// each row as one text: its columns as stored, each written by quote()
// (NULL, 0, '0', X'30' and 0.0 all differ; a text's quotes are doubled, so
// no two rows share a text), joined by commas.
func (e *authzEnv) sqliteRowsQuery(tables []string) string {
	e.t.Helper()
	parts := make([]string, len(tables))
	for i, tbl := range tables {
		var cols []string
		for _, c := range e.sqliteColumns(tbl) {
			if tbl == "web_sessions" && c == "flash" {
				continue
			}
			cols = append(cols, `quote("`+strings.ReplaceAll(c, `"`, `""`)+`")`)
		}
		where := ""
		if tbl == "audit_log" {
			where = ` WHERE action <> 'permission.denied'`
		}
		parts[i] = fmt.Sprintf(`SELECT %s AS tbl, %s AS r FROM "%s"%s`, sqlQuote(tbl), strings.Join(cols, " || ',' || "),
			strings.ReplaceAll(tbl, `"`, `""`), where)
	}
	return strings.Join(parts, " UNION ALL ")
}

// sqliteColumns lists tbl's columns.
func (e *authzEnv) sqliteColumns(tbl string) []string {
	e.t.Helper()
	rows, err := e.stmt(`SELECT name FROM pragma_table_info(?)`).Query(tbl)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			e.t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	if len(cols) == 0 {
		e.t.Fatalf("table %s has no columns", tbl)
	}
	return cols
}

// digests runs the snapshot's query: a digest per table, its row count
// and a hash of the multiset of its rows.
func (e *authzEnv) digests(tables []string) map[string]string {
	e.t.Helper()
	rows, err := e.stmt(e.digestQuery(tables)).Query()
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	defer rows.Close()
	out := map[string]string{}
	if e.db.Dialect == store.Postgres {
		for rows.Next() {
			var tbl, h string
			var n int
			if err := rows.Scan(&tbl, &n, &h); err != nil {
				e.t.Fatal(err)
			}
			out[tbl] = fmt.Sprintf("%d rows %s", n, h)
		}
	} else {
		// On SQLite the rows come here: the sum of each row's SHA-256
		// (128 bits of it), so that no ORDER BY is needed, nor a sort.
		type sum struct {
			n int
			h [2]uint64
		}
		sums := make(map[string]*sum, len(tables))
		for _, tbl := range tables {
			sums[tbl] = &sum{}
		}
		var tbl string
		var row sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&tbl, &row); err != nil {
				e.t.Fatal(err)
			}
			sm := sums[tbl]
			h := sha256.Sum256(row)
			sm.n++
			for i := range sm.h {
				sm.h[i] += binary.LittleEndian.Uint64(h[8*i:])
			}
		}
		for tbl, sm := range sums {
			out[tbl] = fmt.Sprintf("%d rows %016x%016x", sm.n, sm.h[0], sm.h[1])
		}
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	if len(out) != len(tables) {
		e.t.Fatalf("snapshot of %d tables, want %d", len(out), len(tables))
	}
	return out
}

// sqlQuote is s as an SQL string literal.
func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (e *authzEnv) snap() snapshot {
	e.t.Helper()
	ctx := context.Background()
	sn := e.denialsOnly()
	sn.digests = e.digests(e.tables())
	var err error
	if sn.counts, err = e.db.TableCounts(ctx); err != nil {
		e.t.Fatal(err)
	}
	return sn
}

// denialsOnly is a snapshot of the permission.denied audit entries alone,
// for a request whose other changes are not checked.
func (e *authzEnv) denialsOnly() snapshot {
	e.t.Helper()
	var sn snapshot
	if err := e.stmt(`SELECT COUNT(*) FROM audit_log WHERE action = 'permission.denied'`).QueryRow().Scan(&sn.denials); err != nil {
		e.t.Fatal(err)
	}
	return sn
}

// changed lists the tables whose content differs, except those allowed.
func changed(a, b snapshot, allowed ...string) []string {
	var out []string
	for tbl, d := range b.digests {
		if a.digests[tbl] != d && !slices.Contains(allowed, tbl) {
			out = append(out, fmt.Sprintf("%s (%s → %s)", tbl, a.digests[tbl], d))
		}
	}
	for tbl, n := range b.counts {
		if a.counts[tbl] != n && !slices.Contains(allowed, tbl) && !slices.Contains(out, tbl) {
			out = append(out, fmt.Sprintf("TableCounts[%s] %d → %d", tbl, a.counts[tbl], n))
		}
	}
	sort.Strings(out)
	return out
}

// authzActor is one kind of visitor.
type authzActor struct {
	name     string
	role     string // "" for no session
	user     string
	actingAs string
}

// outcome is what a request must answer.
type outcome int

const (
	allowed   outcome = iota // passes the access check (the handler decides)
	toSignIn                 // 303 to the sign-in page
	toConsole                // 303 to /admin: staff use the console, not the portal
	notFound                 // 404, exactly like a missing id
	forbidden                // 403, audited
	anyAnswer                // public pages: no 5xx, that is all
)

func (o outcome) String() string {
	return [...]string{"allowed", "redirect to sign-in", "redirect to /admin", "404", "403", "any answer"}[o]
}

// expect is the matrix: what an actor gets on a route.
func expect(r authzRoute, a authzActor, hasWildcard bool) outcome {
	staffRole := a.role != "" && a.role != "customer"
	switch {
	case r.access == public:
		return anyAnswer
	case a.role == "":
		return toSignIn
	case a.role == "customer" && r.access != customer:
		return notFound // customers do not learn that the console exists
	case a.name == "customer B" && hasWildcard:
		return notFound // B on A's ids
	case a.role == "customer":
		return allowed
	case r.access == customer && a.actingAs == "":
		return toConsole
	case r.access == customer: // impersonating: looking only, unless admin
		if r.unsafe() && a.role != RoleAdmin {
			return forbidden
		}
		return allowed
	case staffRole && r.access == staffRW && !canChange(&store.User{Role: a.role}):
		return forbidden
	case staffRole && r.access == adminRole && a.role != RoleAdmin:
		return forbidden
	}
	return allowed
}

// readOnlyMayChange are the unsafe staff routes that a read_only member may
// use, by design, and what they may change: impersonation only flags the
// member's own session and is audited ("every role may look").
var readOnlyMayChange = map[string][]string{
	"POST /admin/customers/{id}/impersonate": {"web_sessions", "audit_log"},
	"POST /impersonation/stop":               {"web_sessions", "audit_log"},
}

// TestAuthorizationMatrix runs the matrix in two halves side by side, the
// portal's routes and the console's (/admin), each on databases of its own:
// a cell's checks need the database to itself, so the cells of one
// database run one after another.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	start := time.Now()
	t.Cleanup(func() { t.Logf("took %s", time.Since(start).Round(time.Millisecond)) }) // after all the subtests
	for _, part := range []struct {
		name    string
		console bool
	}{{"portal", false}, {"console", true}} {
		t.Run(part.name, func(t *testing.T) {
			t.Parallel()
			dbtest.ForEachParallel(t, func(t *testing.T, url string) { authzMatrix(t, url, part.console) })
		})
	}
}

// authzMatrix runs the cells of the console's routes (console) or of the
// others on the database at url.
func authzMatrix(t *testing.T, url string, console bool) {
	e := newAuthzEnv(t, url)
	a := e.customer("a@example.com", "Alpha GmbH")
	b := e.customer("b@example.com", "Beta GmbH")
	ids := authzWildcards(a, e.failedJob(), e.webhook())
	support := e.user("support@vendor.example", RoleSupport)
	ro := e.user("ro@vendor.example", RoleReadOnly)
	admin := e.user("admin@vendor.example", RoleAdmin)
	actors := []authzActor{
		{name: "no session"},
		{name: "customer A", role: "customer", user: a.user},
		{name: "customer B", role: "customer", user: b.user},
		{name: "support", role: RoleSupport, user: support},
		{name: "read_only", role: RoleReadOnly, user: ro},
		{name: "admin", role: RoleAdmin, user: admin},
		// Impersonation is where read-only staff meet customer routes.
		{name: "read_only as A", role: RoleReadOnly, user: ro, actingAs: a.customer},
	}
	routes := authzRoutesOf(t, e.s)
	// GETs and refusals first, then the requests that are let through
	// and may change data, so that those cannot mask a change.
	var first, last []authzCell
	n := 0
	for _, r := range routes {
		if r.admin() != console {
			continue
		}
		n++
		_, has := fill(t, r.path, ids)
		for _, act := range actors {
			c := authzCell{r: r, a: act, want: expect(r, act, has)}
			if r.unsafe() && (c.want == allowed || c.want == anyAnswer) {
				last = append(last, c)
			} else {
				first = append(first, c)
			}
		}
	}
	// The first cells may change nothing: their fixtures are all made
	// before the first request, and each cell's snapshot after its
	// request is the next cell's before (one snapshot a cell, not two).
	for i := range first {
		e.prepare(t, &first[i], ids)
	}
	prev := e.snap()
	for _, c := range first {
		t.Run(c.r.pattern+"/"+c.a.name, func(t *testing.T) {
			before := prev
			res := e.do(c.r.method, c.path, c.cookie)
			after := e.snap()
			prev = after
			c.check(t, res, before, after)
		})
	}
	// The last cells may change data: each makes its fixtures just
	// before its request. Those whose changes are not checked (allowed
	// to anyone but read_only) take only the count of denials.
	for _, c := range last {
		t.Run(c.r.pattern+"/"+c.a.name, func(t *testing.T) {
			e.prepare(t, &c, ids)
			snap := e.snap
			if !c.checksChanges() {
				snap = e.denialsOnly
			}
			before := snap()
			res := e.do(c.r.method, c.path, c.cookie)
			after := snap()
			c.check(t, res, before, after)
		})
	}
	t.Logf("%d of %d routes × %d actors on %s", n, len(routes), len(actors), e.db.Dialect)
}

// authzCell is one request of the matrix: a route, a visitor and the
// answer it must get.
type authzCell struct {
	r    authzRoute
	a    authzActor
	want outcome
	// path and cookie are made by prepare.
	path, cookie string
}

// prepare makes the cell's fixtures: its path, with a failed job or a
// webhook endpoint of its own where the path takes one (a retried job is
// no longer failed, a deleted endpoint is gone: so the order of the cells
// does not matter), and a fresh session of its actor.
func (e *authzEnv) prepare(t *testing.T, c *authzCell, ids map[string]string) {
	t.Helper()
	if strings.Contains(c.r.path, "/jobs/{id}") {
		ids["jobs/{id}"] = e.failedJob()
	}
	if strings.Contains(c.r.path, "/webhooks/{id}") {
		hook := e.webhook()
		ids["webhooks/{id}"], ids["deliveries/{delivery}"] = hook.endpoint, hook.delivery
	}
	c.path, _ = fill(t, c.r.path, ids)
	c.path += authzQuery[c.r.pattern]
	c.cookie = e.session(c.a.user, c.a.actingAs)
}

// checksChanges reports whether the cell checks what its request changed:
// all but the unsafe requests let through for anyone but read_only staff.
func (c authzCell) checksChanges() bool {
	return !c.r.unsafe() || (c.want != allowed && c.want != anyAnswer) || (c.want == allowed && c.a.role == RoleReadOnly)
}

// check checks the answer, and what changed between the snapshots.
func (c authzCell) check(t *testing.T, res *httptest.ResponseRecorder, before, after snapshot) {
	t.Helper()
	loc := res.Header().Get("Location")
	body := res.Body.String()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %s as %s: want %s; got %d (Location %q)\n%s\n%.1500s", c.r.method, c.path, c.a.name, c.want,
			res.Code, loc, fmt.Sprintf(format, args...), body)
	}
	if res.Code >= 500 {
		fail("server error")
	}
	switch c.want {
	case toSignIn:
		signin := "/signin"
		if c.r.admin() {
			signin = "/admin/signin"
		}
		if res.Code != http.StatusSeeOther || (loc != signin && !strings.HasPrefix(loc, signin+"?")) {
			fail("not sent to %s", signin)
		}
	case toConsole:
		if res.Code != http.StatusSeeOther || loc != "/admin" {
			fail("not sent to the console")
		}
	case notFound:
		if res.Code != http.StatusNotFound {
			fail("not a 404")
		}
	case forbidden:
		if res.Code != http.StatusForbidden {
			fail("not a 403")
		}
	case allowed:
		if res.Code == http.StatusNotFound || res.Code == http.StatusForbidden || res.Code == http.StatusUnauthorized ||
			strings.HasPrefix(loc, "/signin") || strings.HasPrefix(loc, "/admin/signin") {
			fail("refused")
		}
		if c.a.role != "" && c.a.role != "customer" && c.r.access == customer && c.a.actingAs == "" && loc == "/admin" {
			fail("refused")
		}
	}
	// What may change.
	denials := after.denials - before.denials
	switch {
	case c.want == forbidden:
		if denials != 1 {
			fail("%d permission.denied audit entries, want 1", denials)
		}
	case denials != 0:
		fail("%d permission.denied audit entries, want 0", denials)
	}
	var may []string
	switch {
	case !c.r.unsafe():
		// No GET changes anything, for anyone.
	case c.want == allowed && c.a.role == RoleReadOnly:
		var ok bool
		if may, ok = readOnlyMayChange[c.r.pattern]; !ok {
			fail("read_only reached an unsafe route that is not in readOnlyMayChange")
		}
	case c.want == allowed || c.want == anyAnswer:
		return // allowed to change data
	}
	if diff := changed(before, after, may...); len(diff) > 0 {
		fail("the request changed: %s", strings.Join(diff, "; "))
	}
}

// The matrix's snapshots see a change to any column of any table (a
// session's flash message and permission.denied audit entries aside), and
// nothing else.
func TestAuthorizationSnapshotsSeeEveryChange(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newAuthzEnv(t, url)
		a := e.customer("a@example.com", "Alpha GmbH")
		e.session(a.user, "")
		before := e.snap()
		if diff := changed(before, e.snap()); len(diff) > 0 {
			t.Fatalf("two snapshots of an idle database differ: %v", diff)
		}
		for _, c := range []struct {
			sql  string
			want []string
		}{
			{`UPDATE web_sessions SET flash = 'saved'`, nil},
			{`UPDATE customers SET name = name || '.'`, []string{"customers"}},
			{`UPDATE subscriptions SET seats = seats + 1`, []string{"subscriptions"}},
			{`UPDATE web_sessions SET remote_addr = remote_addr`, nil},
			{`UPDATE web_sessions SET remote_addr = '192.0.2.9'`, []string{"web_sessions"}},
		} {
			if _, err := e.db.Write.Exec(c.sql); err != nil {
				t.Fatalf("%s: %v", c.sql, err)
			}
			after := e.snap()
			var got []string
			for _, d := range changed(before, after) {
				got = append(got, strings.Fields(d)[0])
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: changed %v, want %v", c.sql, got, c.want)
			}
			before = after
		}
	})
}
