package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// raw sends a request and returns the answer's status, headers and body.
func (e *env) raw(method, path string, body any, headers ...string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// Issue 9, item 10: answers that carry an activation code or a license
// (first answer and idempotent replay alike) tell every cache not to keep
// them; with an https public URL every answer carries HSTS.
func TestSecretAnswersAreNeverCached(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url, "2026-03-01")
		cus := e.customer("US", "")
		body := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5, "payment_method": "pm_card_visa"}
		check := func(what string, status, want int, h http.Header, b []byte) {
			t.Helper()
			if status != want {
				t.Fatalf("%s: status %d, want %d: %s", what, status, want, b)
			}
			if got := h.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", what, got)
			}
		}
		st, h, b := e.raw("POST", "/api/v1/subscriptions", body, "Idempotency-Key", "k-7f3a9c")
		check("purchase", st, 201, h, b)
		var p purchase
		if err := json.Unmarshal(b, &p); err != nil || p.ActivationCode == nil {
			t.Fatalf("purchase answer %s: %v", b, err)
		}
		st, h, b = e.raw("POST", "/api/v1/subscriptions", body, "Idempotency-Key", "k-7f3a9c")
		check("replayed purchase", st, 201, h, b)
		if !strings.Contains(string(b), *p.ActivationCode) {
			t.Errorf("the replay lacks the activation code: %s", b)
		}
		st, h, b = e.raw("POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/activation_code", nil)
		check("new activation code", st, 201, h, b)
		st, h, b = e.raw("GET", "/api/v1/subscriptions/"+p.Subscription.ID+"/license", nil)
		check("license download", st, 200, h, b)
		if got := h.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("HSTS %q over plain HTTP with an http public URL", got)
		}
		e.svc.PublicURL = "https://billing.example.com"
		behindProxy := httptest.NewServer((&api.Server{Svc: e.svc, DB: e.db}).Handler())
		defer behindProxy.Close()
		res, err := http.Get(behindProxy.URL + "/api/v1/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h = res.Header
		if got := h.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
			t.Errorf("HSTS %q with an https public URL", got)
		}
	})
}
