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
	"strconv"
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
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := e.db.Read.Query(q)
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
	sort.Strings(ts)
	return ts
}

// digest is the content of q's rows, skip's column left out: their count
// and a hash of the multiset of rows, the sum of each row's SHA-256 (so
// that no ORDER BY over unknown columns is needed, nor a sort). Each value
// is written with its type, so that NULL, the empty string and 0 differ. The matrix takes
// two snapshots per cell, some 1,400 per database: written with fmt and
// sorted, they were most of the web tests' CPU.
func (e *authzEnv) digest(q string, skip string) string {
	e.t.Helper()
	rows, err := e.stmt(q).Query()
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var sum [2]uint64 // 128 bits of each row's hash, summed
	var line []byte
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		line = line[:0]
		for i, v := range vals {
			if cols[i] != skip {
				line = appendValue(append(line, cols[i]...), v)
			}
		}
		h := sha256.Sum256(line)
		for i := range sum {
			sum[i] += binary.LittleEndian.Uint64(h[8*i:])
		}
		n++
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("%d rows %016x%016x", n, sum[0], sum[1])
}

// stmt is q prepared, once per env: SQLite's statement cache (store)
// leaves statements without arguments out, and compiling the snapshots'
// hundred queries each time was a tenth of the matrix's CPU.
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

// selectAll is a query of every column of tbl. On SQLite each column is
// read as stored (+col has no declared type), so the driver does not parse
// a timestamp's text into a time.Time only for the digest to print it
// again: that was a seventh of the matrix's CPU.
func (e *authzEnv) selectAll(tbl string) string {
	e.t.Helper()
	if q, ok := e.selects[tbl]; ok {
		return q
	}
	if e.selects == nil {
		e.selects = map[string]string{}
	}
	if e.db.Dialect == store.Postgres {
		e.selects[tbl] = `SELECT * FROM ` + tbl
		return e.selects[tbl]
	}
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
		id := `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
		cols = append(cols, "+"+id+" AS "+id)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	if len(cols) == 0 {
		e.t.Fatalf("table %s has no columns", tbl)
	}
	e.selects[tbl] = `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + tbl
	return e.selects[tbl]
}

// pgDigests digests every table on PostgreSQL in one query, in the
// server: per table its row count and the sum of two 64-bit hashes of each
// row's text (a multiset hash, as digest's), a session's flash and
// permission.denied audit entries left out as in digest. One round trip
// per snapshot instead of a hundred, and no rows sent.
func (e *authzEnv) pgDigests(tables []string) map[string]string {
	e.t.Helper()
	key := "pg:" + strings.Join(tables, ",")
	q, ok := e.selects[key]
	if !ok {
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
			parts[i] = fmt.Sprintf(`SELECT %s AS tbl, count(*) AS n, coalesce(sum(hashtextextended(%s, 0)::numeric), 0)::text || '/' || coalesce(sum(hashtextextended(%[2]s, 1)::numeric), 0)::text AS h FROM %s t%s`,
				pgQuote(tbl), row, id, where)
		}
		q = strings.Join(parts, " UNION ALL ")
		if e.selects == nil {
			e.selects = map[string]string{}
		}
		e.selects[key] = q
	}
	rows, err := e.stmt(q).Query()
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var tbl, h string
		var n int
		if err := rows.Scan(&tbl, &n, &h); err != nil {
			e.t.Fatal(err)
		}
		out[tbl] = fmt.Sprintf("%d rows %s", n, h)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	if len(out) != len(tables) {
		e.t.Fatalf("snapshot of %d tables, want %d", len(out), len(tables))
	}
	return out
}

// pgQuote is s as a PostgreSQL string literal.
func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// appendValue appends a column's value to a row's line: a type letter, the
// length, then the value, so that no two rows share a line.
func appendValue(b []byte, v any) []byte {
	var typ byte
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0) // the type and length, set below
	switch v := v.(type) {
	case nil:
		typ = 'n'
	case int64:
		typ, b = 'i', strconv.AppendInt(b, v, 10)
	case float64:
		typ, b = 'f', strconv.AppendFloat(b, v, 'g', -1, 64)
	case bool:
		typ, b = 'b', strconv.AppendBool(b, v)
	case string:
		typ, b = 's', append(b, v...)
	case []byte:
		typ, b = 's', append(b, v...)
	case time.Time:
		typ, b = 't', append(v.AppendFormat(b, time.RFC3339Nano), v.Location().String()...)
	default:
		typ, b = 'v', fmt.Appendf(b, "%T %v", v, v)
	}
	b[start] = typ
	binary.LittleEndian.PutUint32(b[start+1:], uint32(len(b)-start-5))
	return b
}

func (e *authzEnv) snap() snapshot {
	e.t.Helper()
	ctx := context.Background()
	sn := snapshot{digests: map[string]string{}}
	tables := e.tables()
	if e.db.Dialect == store.Postgres {
		sn.digests = e.pgDigests(tables)
		tables = nil
	}
	for _, tbl := range tables {
		switch tbl {
		case "audit_log":
			sn.digests[tbl] = e.digest(e.selectAll(tbl)+` WHERE action <> 'permission.denied'`, "")
		case "web_sessions":
			sn.digests[tbl] = e.digest(e.selectAll(tbl), "flash")
		default:
			sn.digests[tbl] = e.digest(e.selectAll(tbl), "")
		}
	}
	var err error
	if sn.counts, err = e.db.TableCounts(ctx); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE action = 'permission.denied'`).Scan(&sn.denials); err != nil {
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

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	start := time.Now()
	t.Cleanup(func() { t.Logf("took %s", time.Since(start).Round(time.Millisecond)) }) // after both engines' subtests
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
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
		type cell struct {
			r    authzRoute
			a    authzActor
			path string
			want outcome
		}
		var first, last []cell
		for _, r := range routes {
			_, has := fill(t, r.path, ids)
			for _, act := range actors {
				c := cell{r, act, "", expect(r, act, has)}
				if r.unsafe() && (c.want == allowed || c.want == anyAnswer) {
					last = append(last, c)
				} else {
					first = append(first, c)
				}
			}
		}
		for _, c := range append(first, last...) {
			t.Run(c.r.pattern+"/"+c.a.name, func(t *testing.T) {
				// A retried job is no longer failed: each request gets
				// its own, so that the order of the cells does not matter.
				ids["jobs/{id}"] = e.failedJob()
				// A deleted endpoint is gone: likewise, each request on
				// an endpoint gets its own (with a delivery).
				if strings.Contains(c.r.path, "/webhooks/{id}") {
					hook := e.webhook()
					ids["webhooks/{id}"], ids["deliveries/{delivery}"] = hook.endpoint, hook.delivery
				}
				c.path, _ = fill(t, c.r.path, ids)
				c.path += authzQuery[c.r.pattern]
				cookie := e.session(c.a.user, c.a.actingAs)
				before := e.snap()
				res := e.do(c.r.method, c.path, cookie)
				after := e.snap()
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
			})
		}
		t.Logf("%d routes × %d actors on %s", len(routes), len(actors), e.db.Dialect)
	})
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
