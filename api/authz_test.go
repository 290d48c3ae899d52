package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// The access matrix of the JSON API (the portal's is web/authz_test.go):
// every vendor route refuses requests without a valid vendor token and
// changes nothing; the instance endpoints, authenticated by a license or an
// activation code, let one customer's credential report only for its own
// subscription and instances.

// publicRoutes are the routes that need no vendor token. A new route is a
// vendor route unless it is added here on purpose.
var publicRoutes = []string{
	"GET /api/v1/openapi.json",
	"GET /api/v1/license_keys",
	"POST /api/v1/activations",
	"POST /api/v1/seat_links",
	"POST /api/v1/usage_data",
	"POST /usage_data", // GitLab's raw Service Ping; the license it carries authenticates
}

// tables lists the database's tables.
func (e *env) tables() []string {
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

// digest is a short digest of every row a query returns, in any order.
func (e *env) digest(q string, args ...any) string {
	e.t.Helper()
	rows, err := e.db.Read.Query(q, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals, err := dbtest.ScanValues(rows)
		if err != nil {
			e.t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v\x1f", cols[i], v)
		}
		lines = append(lines, b.String())
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l + "\n"))
	}
	return fmt.Sprintf("%d rows %s", len(lines), hex.EncodeToString(h.Sum(nil))[:16])
}

// snap digests every table but River's (its leader and queue rows change
// as it runs) and those in skip.
func (e *env) snap(skip ...string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, tbl := range e.tables() {
		if strings.HasPrefix(tbl, "river_") || slices.Contains(skip, tbl) {
			continue
		}
		out[tbl] = e.digest(`SELECT * FROM ` + tbl)
	}
	return out
}

// snapOf digests what belongs to one customer and its subscription.
func (e *env) snapOf(l licensed) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for name, q := range map[string]string{
		"customer":      `SELECT * FROM customers WHERE id = $1`,
		"subscriptions": `SELECT * FROM subscriptions WHERE customer_id = $1`,
		"instances":     `SELECT * FROM instances WHERE subscription_id IN (SELECT id FROM subscriptions WHERE customer_id = $1)`,
		"seat_reports":  `SELECT * FROM seat_reports WHERE subscription_id IN (SELECT id FROM subscriptions WHERE customer_id = $1)`,
		"usage_pings":   `SELECT * FROM usage_pings WHERE subscription_id IN (SELECT id FROM subscriptions WHERE customer_id = $1)`,
		"licenses":      `SELECT * FROM licenses WHERE subscription_id IN (SELECT id FROM subscriptions WHERE customer_id = $1)`,
		"invoices":      `SELECT * FROM invoices WHERE customer_id = $1`,
	} {
		out[name] = e.digest(q, l.customer)
	}
	return out
}

func diff(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, fmt.Sprintf("%s (%s → %s)", k, before[k], v))
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k+" (gone)")
		}
	}
	sort.Strings(out)
	return out
}

// settle waits until no email is pending, so that the outbox job does not
// change the database while a cell runs.
func (e *env) settle() {
	e.t.Helper()
	e.waitEmails()
	// And every other job the setup queued: the saved card's description
	// by the provider (payment_method.describe) writes the card and an
	// audit entry, which a snapshot of the matrix would take for a change.
	if err := e.jobs.Drain(context.Background(), time.Minute); err != nil {
		e.t.Fatal(err)
	}
}

// fillPath puts ids of customer A into a route's wildcards.
func fillPath(path string, a licensed) string {
	path = strings.ReplaceAll(path, "/subscriptions/{id}", "/subscriptions/"+a.sub)
	path = strings.ReplaceAll(path, "/customers/{id}", "/customers/"+a.customer)
	return strings.ReplaceAll(path, "{id}", "none_00000000000000000000")
}

// TestAPIAccessMatrix: every vendor route × {no token, a bad token, a
// license, an activation code, the token in the wrong scheme} is 401 and
// changes nothing; with the vendor token none is refused or fails.
func TestAPIAccessMatrix(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		a := e.buy("a@example.com")
		e.activate(a, "inst-a")
		e.settle()
		creds := []struct{ name, header string }{
			{"no token", ""},
			{"bad token", "Bearer not-a-token-0123456789abcdefghijkl"},
			{"license as token", "Bearer " + strings.ReplaceAll(a.license, "\n", "")},
			{"activation code as token", "Bearer " + a.code},
			{"token without Bearer", testToken},
			{"token in Basic", "Basic " + testToken},
		}
		var vendor []api.RouteInfo
		for _, rt := range api.RouteTable() {
			key := rt.Method + " " + rt.Path
			if rt.Auth == slices.Contains(publicRoutes, key) {
				t.Errorf("%s: Auth=%v; a route needs a vendor token unless listed in publicRoutes", key, rt.Auth)
			}
			if rt.Auth {
				vendor = append(vendor, rt)
			}
		}
		before := e.snap()
		for _, rt := range vendor {
			path := fillPath(rt.Path, a)
			for _, c := range creds {
				var body any
				if rt.Method == "POST" {
					body = map[string]any{}
				}
				h := []string{"Authorization", c.header, "Idempotency-Key", "k-" + c.name}
				got := e.send("", rt.Method, path, body, h...)
				if got.status != http.StatusUnauthorized || got.code() != "unauthorized" || got.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s with %s: %s, want 401 unauthorized with WWW-Authenticate", rt.Method, path, c.name, got)
				}
			}
			after := e.snap()
			if d := diff(before, after); len(d) > 0 {
				t.Errorf("%s %s without a valid token changed %v", rt.Method, path, d)
			}
			before = after
		}
		// The vendor token passes on every route (GETs first: a POST may
		// cancel or advance what a later GET reads).
		slices.SortStableFunc(vendor, func(x, y api.RouteInfo) int {
			return map[bool]int{true: 0, false: 1}[x.Method == "GET"] - map[bool]int{true: 0, false: 1}[y.Method == "GET"]
		})
		for _, rt := range vendor {
			path := fillPath(rt.Path, a)
			var body any
			if rt.Method != "GET" {
				body = map[string]any{}
			}
			got := e.send("", rt.Method, path, body, "Authorization", "Bearer "+testToken)
			if got.status == http.StatusUnauthorized || got.status == http.StatusForbidden || got.status >= 500 {
				t.Errorf("%s %s with the vendor token: %.300s", rt.Method, path, got)
			}
		}
	})
}

// instanceCell is one request to an instance endpoint.
type instanceCell struct {
	name   string
	path   string
	body   any
	vendor bool   // send the vendor token (usage files are uploaded by the vendor)
	status int    // the answer wanted
	code   string // the error code wanted, if refused
	owner  string // "a" or "b": whose data may change; "" for nothing at all
}

// TestInstanceEndpointsAccessMatrix: the instance endpoints × {no license,
// a garbage license, the license of A, the license of B (another customer's
// subscription)} × {A's instance, B's instance}: nothing changes without a
// credential, and one customer's license or code never changes, or reads,
// the other's subscription, instances, seat reports or usage.
func TestInstanceEndpointsAccessMatrix(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		a, b := e.buy("a@example.com"), e.buy("b@example.com")
		e.activate(a, "inst-a")
		e.activate(b, "inst-b")
		e.settle()
		lic := map[string]string{"no license": "", "garbage license": "hello", "license A": a.license, "license B": b.license}
		owner := map[string]string{"license A": "a", "license B": "b"}
		var cells []instanceCell
		for _, cred := range []string{"no license", "garbage license", "license A", "license B"} {
			for _, inst := range []string{"inst-a", "inst-b"} {
				mine := owner[cred] != "" && inst == "inst-"+owner[cred]
				theirs := owner[cred] != "" && !mine
				add := func(path string, body any, vendor bool, ok int, unauth int, unauthCode string) {
					c := instanceCell{name: cred + " for " + inst, path: path, body: body, vendor: vendor}
					switch {
					case mine:
						c.status, c.owner = ok, owner[cred]
					case theirs:
						c.status, c.code = 403, "instance_unknown"
					default:
						c.status, c.code = unauth, unauthCode
					}
					cells = append(cells, c)
				}
				add("/api/v1/seat_links", seatLink(lic[cred], inst), false, 200, 401, map[bool]string{true: "unauthorized", false: "license_invalid"}[cred == "no license"])
				add("/api/v1/usage_data", ping(lic[cred], inst, 1), false, 201, 401, map[bool]string{true: "unauthorized", false: "license_invalid"}[cred == "no license"])
				add("/api/v1/usage_files", usageFile(lic[cred], inst), true, 200, 422, "invalid")
			}
		}
		// Activations last: A's code may register B's instance id under A
		// (that changes nothing of B's), after which A may report for it.
		cells = append(cells,
			instanceCell{name: "no code", path: "/api/v1/activations", body: map[string]any{"instance_id": "inst-b"}, status: 422, code: "required"},
			instanceCell{name: "garbage code", path: "/api/v1/activations", body: map[string]any{"activation_code": "hello", "instance_id": "inst-b"},
				status: 422, code: "invalid"},
			instanceCell{name: "wrong code", path: "/api/v1/activations", body: map[string]any{"activation_code": "ABCDEFGHJKMNPQRSTWXYZ234", "instance_id": "inst-b"},
				status: 404, code: "activation_code_invalid"},
			instanceCell{name: "license as code", path: "/api/v1/activations", body: map[string]any{"activation_code": a.license, "instance_id": "inst-b"},
				status: 422, code: "invalid"},
			instanceCell{name: "code A for inst-b", path: "/api/v1/activations", body: map[string]any{"activation_code": a.code, "instance_id": "inst-b"},
				status: 201, owner: "a"},
		)
		for _, c := range cells {
			var h []string
			if c.vendor {
				h = []string{"Authorization", "Bearer " + testToken}
			}
			before, beforeA, beforeB := e.snap("throttles"), e.snapOf(a), e.snapOf(b)
			got := e.send("", "POST", c.path, c.body, h...)
			after, afterA, afterB := e.snap("throttles"), e.snapOf(a), e.snapOf(b)
			where := fmt.Sprintf("%s, %s", c.path, c.name)
			if got.status != c.status || (c.code != "" && got.code() != c.code) {
				t.Errorf("%s: %.300s, want %d %s", where, got, c.status, c.code)
			}
			switch c.owner {
			case "":
				if d := diff(before, after); len(d) > 0 {
					t.Errorf("%s: refused, but changed %v", where, d)
				}
			case "a":
				if d := diff(beforeB, afterB); len(d) > 0 {
					t.Errorf("%s: changed B's %v", where, d)
				}
				if strings.Contains(string(got.body), b.sub) || strings.Contains(string(got.body), b.customer) {
					t.Errorf("%s: the answer names B: %s", where, got)
				}
			case "b":
				if d := diff(beforeA, afterA); len(d) > 0 {
					t.Errorf("%s: changed A's %v", where, d)
				}
				if strings.Contains(string(got.body), a.sub) || strings.Contains(string(got.body), a.customer) {
					t.Errorf("%s: the answer names A: %s", where, got)
				}
			}
		}
		// A license is no vendor credential: it reads nothing of B's (or A's).
		for _, path := range []string{"/api/v1/subscriptions/" + b.sub, "/api/v1/subscriptions/" + b.sub + "/license",
			"/api/v1/customers/" + b.customer, "/api/v1/subscriptions/" + b.sub + "/seat_reports"} {
			if got := e.send("", "GET", path, nil, "Authorization", "Bearer "+strings.ReplaceAll(a.license, "\n", "")); got.status != 401 {
				t.Errorf("GET %s with A's license: %.200s, want 401", path, got)
			}
		}
	})
}
