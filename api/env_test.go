package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/keys"
	"github.com/fulfillhq/fulfill/payments/testpay"
	"github.com/fulfillhq/fulfill/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const testToken = "test-token-0123456789abcdefghijklmnop"

// env is a whole Fulfill server on one database, with a simulated clock.
type env struct {
	t     testing.TB
	db    *store.DB
	srv   *httptest.Server
	pay   *testpay.Provider
	clock *fulfill.SimulatedClock
	keys  *keys.Store
	svc   *commerce.Service
	jobs  *jobs.Runner
}

func newEnv(t testing.TB, url string, start string, opts ...func(*jobs.Config)) *env {
	t.Helper()
	return newEnvAPI(t, url, start, nil, opts...)
}

// newEnvAPI is newEnv with the API server (and the service through it)
// configured by configure before it serves, e.g. with small rate limits.
func newEnvAPI(t testing.TB, url string, start string, configure func(*api.Server), opts ...func(*jobs.Config)) *env {
	t.Helper()
	ctx := context.Background()
	d, err := fulfill.ParseDate(start)
	if err != nil {
		t.Fatal(err)
	}
	te := testenv.New(t, url, d.Time(), "DE")
	db, svc, clock, pay, ks := te.DB, te.Svc, te.Clock, te.Pay, te.Keys
	if err := db.PutToken(ctx, "test", commerce.HashSecret(testToken), "admin", clock.Now()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := jobs.Config{Service: svc, Clock: clock, Simulated: clock, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	runner, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		runner.Stop(sctx)
	})
	a := &api.Server{Svc: svc, DB: db, Jobs: runner, Keys: ks, Logger: log}
	if configure != nil {
		configure(a)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv, pay: pay, clock: clock, keys: ks, svc: svc, jobs: runner}
}

// do sends a request and decodes the JSON answer into out (if not nil); it
// returns the status code.
func (e *env) do(method, path string, body any, out any, headers ...string) int {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// text fetches a plain-text answer.
func (e *env) text(path string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// must is do that fails the test unless the status is want.
func (e *env) must(want int, method, path string, body any, out any) {
	e.t.Helper()
	var raw json.RawMessage
	got := e.do(method, path, body, &raw)
	if got != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

type line struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitAmount  int64  `json:"unit_amount"`
	Amount      int64  `json:"amount"`
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Proration   bool   `json:"proration"`
}

type invoice struct {
	ID       string `json:"id"`
	Number   string `json:"number"`
	Status   string `json:"status"`
	Currency string `json:"currency"`
	Subtotal int64  `json:"subtotal"`
	Tax      int64  `json:"tax"`
	Total    int64  `json:"total"`
	DueOn    string `json:"due_on"`
	TaxNote  string `json:"tax_note"`
	Lines    []line `json:"lines"`
}

type subscription struct {
	ID        string `json:"id"`
	Plan      string `json:"plan"`
	State     string `json:"state"`
	Seats     int64  `json:"seats"`
	StartsOn  string `json:"starts_on"`
	EndsOn    string `json:"ends_on"`
	AutoRenew bool   `json:"auto_renew"`
}

type purchase struct {
	Subscription   subscription `json:"subscription"`
	Invoice        invoice      `json:"invoice"`
	ActivationCode *string      `json:"activation_code"`
}

func (e *env) customer(country, taxID string) string {
	e.t.Helper()
	var c struct{ ID string }
	e.must(201, "POST", "/api/v1/customers", map[string]any{"email": "buyer@example.com", "name": "Ann Buyer",
		"company": "Example Inc", "country": country, "tax_id": taxID}, &c)
	return c.ID
}

func (e *env) advance(to string) {
	e.t.Helper()
	e.must(200, "POST", "/api/v1/test_clock/advance", map[string]any{"to": to}, nil)
}

func linesOf(inv invoice, kind string) []line {
	var out []line
	for _, l := range inv.Lines {
		if l.Kind == kind {
			out = append(out, l)
		}
	}
	return out
}
