package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/web"
)

func TestMain(m *testing.M) {
	// Hundreds of sign-ups and sign-ins: hash at argon2id's lowest cost
	// (TestDefaultPasswordHashCostIsOWASPs checks what a server uses).
	web.UseCheapPasswordHashingInTests()
	// 8 per CPU: the browser tests hold a slot each for minutes, mostly
	// waiting on Chromium; at 4 the authorization matrix, the longest
	// test, queued a minute behind them.
	// One Chromium for the browser tests (sharedBrowser), stopped after them.
	dbtest.MainParallel(m, 8, closeBrowser)
}

// env is the portal and console on one database, with a simulated clock.
type env struct {
	t     *testing.T
	db    *store.DB
	svc   *commerce.Service
	clock *fulfill.SimulatedClock
	// wall is the throttles' clock: it stands still unless a test moves it.
	wall *fulfill.SimulatedClock
	srv  *httptest.Server
}

func newEnv(t *testing.T, url string, opts ...func(*web.Config)) *env {
	t.Helper()
	te := testenv.New(t, url, fulfill.NewDate(2026, 3, 1).Time(), "DE")
	db, svc, clock := te.DB, te.Svc, te.Clock
	// At the start of a day, so that no test's counts cross a window's end.
	wall := fulfill.NewSimulatedClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	cfg := web.Config{Service: svc, DB: db, Clock: clock, WallClock: wall, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	w, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, svc: svc, clock: clock, wall: wall, srv: srv}
}

// client is one browser: its own cookies, no automatic redirects.
type client struct {
	e *env
	c *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(method, path string, form url.Values, headers ...string) resp {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(b), res.Header}
}

func (c *client) get(path string) resp { return c.do("GET", path, nil) }

func (c *client) post(path string, kv ...string) resp {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return c.do("POST", path, f)
}

// must checks a status.
func (r resp) must(t *testing.T, want int) resp {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body:\n%.3000s", r.status, want, r.body)
	}
	return r
}

var tokenRE = regexp.MustCompile(`(/[a-z/]+)\?token=([A-Za-z0-9_-]+)`)

// lastLink returns the path and token of the newest emailed link to addr.
func (e *env) lastLink(addr string) (path, token string) {
	e.t.Helper()
	es, err := e.db.Emails(context.Background(), "", fulfill.Page{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range es {
		if m.To == addr {
			if g := tokenRE.FindStringSubmatch(m.Body); g != nil {
				return g[1], g[2]
			}
		}
	}
	e.t.Fatalf("no link emailed to %s", addr)
	return "", ""
}

const password = "correct horse battery"

// signUp creates a confirmed, signed-in customer user.
func (e *env) signUp(email string) *client {
	e.t.Helper()
	c := e.client()
	c.post("/signup", "name", "Ann Buyer", "email", email, "password", password).must(e.t, 200)
	path, tok := e.lastLink(email)
	if path != "/confirm" {
		e.t.Fatalf("link path %s", path)
	}
	c.post("/confirm", "token", tok).must(e.t, 303)
	return c
}

// buy purchases a plan with a new billing account and returns the
// subscription id.
func (c *client) buy(plan, seats string) string {
	c.e.t.Helper()
	r := c.post("/buy", "plan", plan, "seats", seats, "company", "Example GmbH", "country", "DE", "pay", "card",
		"card", "pm_card_visa", "account", "new", "eula", web.EULAVersion).must(c.e.t, 303)
	loc := r.header.Get("Location")
	id, ok := strings.CutPrefix(strings.TrimSuffix(loc, "?welcome=1"), "/subscriptions/")
	if !ok {
		c.e.t.Fatalf("redirect to %q", loc)
	}
	return id
}

func (e *env) staff(email, role string) *client {
	e.t.Helper()
	if _, err := web.CreateStaff(context.Background(), e.db, e.clock, email, "Staff", role, password); err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	c.post("/admin/signin", "email", email, "password", password).must(e.t, 303)
	return c
}

func commerceReport(sub string, maxUsers, billable int64) commerce.SeatReportInput {
	return commerce.SeatReportInput{SubscriptionID: sub, MaxUsers: &maxUsers, BillableUsers: &billable}
}
