package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/stripe/stripe-go/v82"
)

func newTestProvider(t *testing.T, base string, rec *recorder) *Provider {
	t.Helper()
	p, err := New(Config{SecretKey: "sk_test_123", BaseURL: base, HTTPClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// succeed rewrites the status of created PaymentIntents to "succeeded":
// stripe-mock answers from a fixed fixture whose status is
// requires_payment_method, whatever was asked.
func succeed(req *http.Request, body []byte) []byte {
	if req.Method != "POST" || req.URL.Path != "/v1/payment_intents" {
		return body
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	m["status"] = "succeeded"
	b, _ := json.Marshal(m)
	return b
}

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no secret key: want error")
	}
	if _, err := New(Config{SecretKey: "sk_test_1", BaseURL: "localhost:12111"}); err == nil {
		t.Error("base URL without scheme: want error")
	}
	p, err := New(Config{SecretKey: "sk_test_1"})
	if err != nil || p.Name() != "stripe" {
		t.Fatalf("New = %v, %v", p, err)
	}
}

func TestValidMethod(t *testing.T) {
	p, _ := New(Config{SecretKey: "sk_test_1"})
	for id, want := range map[string]bool{
		"pm_card_visa": true, "pm_1PgafyB7WZ01zgkW": true, "pm_": false, "": false,
		"card_123": false, "pm_a b": false, "pm_x,y": false, "invoice": false,
	} {
		if got := p.ValidMethod(id); got != want {
			t.Errorf("ValidMethod(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestAgainstStripeMock(t *testing.T) {
	base := startStripeMock(t)
	req := fulfill.ChargeRequest{CustomerID: "cus_01J", InvoiceID: "inv_01J", Amount: 12345, Currency: "EUR",
		PaymentMethod: "pm_card_visa", IdempotencyKey: "fulfill-inv_01J", Description: "Invoice F-1"}

	t.Run("charge", func(t *testing.T) {
		rec := &recorder{base: http.DefaultTransport, patch: succeed}
		p := newTestProvider(t, base, rec)
		res, err := p.Charge(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Provider != "stripe" || !strings.HasPrefix(res.Ref, "pi_") {
			t.Errorf("result = %+v", res)
		}
		cus := rec.requests("/v1/customers")
		if len(cus) != 1 {
			t.Fatalf("%d customer requests, want 1", len(cus))
		}
		if k := cus[0].Header.Get("Idempotency-Key"); k != "fulfill-customer-cus_01J" {
			t.Errorf("customer Idempotency-Key = %q", k)
		}
		if v := cus[0].Form.Get("metadata[fulfill_customer_id]"); v != "cus_01J" {
			t.Errorf("customer metadata = %q", v)
		}
		pis := rec.requests("/v1/payment_intents")
		if len(pis) != 1 {
			t.Fatalf("%d payment intent requests, want 1", len(pis))
		}
		pi := pis[0]
		if k := pi.Header.Get("Idempotency-Key"); k != req.IdempotencyKey {
			t.Errorf("payment intent Idempotency-Key = %q, want %q", k, req.IdempotencyKey)
		}
		// stripe-mock reflects the key it received: proof it reached the server.
		if k := pi.RespHeader.Get("Idempotency-Key"); k != req.IdempotencyKey {
			t.Errorf("server saw Idempotency-Key %q, want %q", k, req.IdempotencyKey)
		}
		for field, want := range map[string]string{
			"amount": "12345", "currency": "eur", "payment_method": "pm_card_visa", "confirm": "true",
			"off_session": "true", "metadata[invoice_id]": "inv_01J", "description": "Invoice F-1",
		} {
			if got := pi.Form.Get(field); got != want {
				t.Errorf("payment intent %s = %q, want %q", field, got, want)
			}
		}
		if pi.Form.Get("customer") == "" || !strings.HasPrefix(pi.Form.Get("customer"), "cus_") {
			t.Errorf("payment intent customer = %q", pi.Form.Get("customer"))
		}
	})

	t.Run("retry sends the same key", func(t *testing.T) {
		rec := &recorder{base: http.DefaultTransport, patch: succeed}
		p := newTestProvider(t, base, rec)
		// A second provider stands for the process after a restart.
		p2 := newTestProvider(t, base, rec)
		r1, err := p.Charge(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := p2.Charge(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		pis := rec.requests("/v1/payment_intents")
		if len(pis) != 2 {
			t.Fatalf("%d payment intent requests, want 2", len(pis))
		}
		for _, q := range pis {
			if k := q.RespHeader.Get("Idempotency-Key"); k != req.IdempotencyKey {
				t.Errorf("server saw Idempotency-Key %q, want %q", k, req.IdempotencyKey)
			}
		}
		// Stripe compares a retry's parameters with the first request's.
		// The customer id is left out only because stateless stripe-mock
		// creates a new customer each time; Stripe replays the first.
		f0, f1 := pis[0].Form, pis[1].Form
		f0.Del("customer")
		f1.Del("customer")
		if fmt.Sprint(f0) != fmt.Sprint(f1) {
			t.Errorf("retry changed the parameters (Stripe would answer idempotency_error):\n%v\n%v", pis[0].Form, pis[1].Form)
		}
		for _, q := range rec.requests("/v1/customers") {
			if k := q.Header.Get("Idempotency-Key"); k != "fulfill-customer-cus_01J" {
				t.Errorf("customer Idempotency-Key = %q", k)
			}
		}
		// stripe-mock is stateless and does not replay by key, so the ids
		// differ here; Stripe returns the first PaymentIntent for the key.
		if r1.Ref != r2.Ref {
			t.Logf("stripe-mock gave %s then %s (no idempotent replay in stripe-mock)", r1.Ref, r2.Ref)
		}
	})

	t.Run("not succeeded is a decline", func(t *testing.T) {
		// Unpatched, stripe-mock's fixture says requires_payment_method.
		rec := &recorder{base: http.DefaultTransport}
		p := newTestProvider(t, base, rec)
		_, err := p.Charge(t.Context(), req)
		var fe *fulfill.Error
		if !errors.As(err, &fe) || fe.Code != fulfill.ECardDeclined {
			t.Fatalf("err = %v, want card_declined", err)
		}
	})

	t.Run("refund", func(t *testing.T) {
		rec := &recorder{base: http.DefaultTransport}
		p := newTestProvider(t, base, rec)
		id, err := p.Refund(t.Context(), "pi_123", 500, "fulfill-refund-cn_1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, "re_") {
			t.Errorf("refund id = %q", id)
		}
		rs := rec.requests("/v1/refunds")
		if len(rs) != 1 {
			t.Fatalf("%d refund requests", len(rs))
		}
		if k := rs[0].RespHeader.Get("Idempotency-Key"); k != "fulfill-refund-cn_1" {
			t.Errorf("server saw Idempotency-Key %q", k)
		}
		if rs[0].Form.Get("amount") != "500" || rs[0].Form.Get("payment_intent") != "pi_123" {
			t.Errorf("refund form = %v", rs[0].Form)
		}
	})

	t.Run("bad requests never reach Stripe", func(t *testing.T) {
		rec := &recorder{base: http.DefaultTransport}
		p := newTestProvider(t, base, rec)
		if _, err := p.Refund(t.Context(), "pi_123", 0, "k"); err == nil {
			t.Error("refund of 0 (Stripe: everything): want error")
		}
		if _, err := p.Refund(t.Context(), "pi_123", 1, ""); err == nil {
			t.Error("refund without key: want error")
		}
		noKey := req
		noKey.IdempotencyKey = ""
		if _, err := p.Charge(t.Context(), noKey); err == nil {
			t.Error("charge without key: want error")
		}
		badPM := req
		badPM.PaymentMethod = "tok_visa"
		if _, err := p.Charge(t.Context(), badPM); fulfill.ErrorCode(err) != fulfill.EInvalid {
			t.Errorf("charge of tok_visa: err = %v, want invalid", err)
		}
		if n := len(rec.reqs); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
}

// fakeStripe answers payment intents with the given responses in turn, as
// Stripe would, for what stripe-mock cannot do: declines and 5xx.
func fakeStripe(t *testing.T, answers ...func(w http.ResponseWriter)) (*Provider, *recorder) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/customers" {
			fmt.Fprint(w, `{"id":"cus_fake","object":"customer"}`)
			return
		}
		mu.Lock()
		i := min(n, len(answers)-1)
		n++
		mu.Unlock()
		answers[i](w)
	}))
	t.Cleanup(srv.Close)
	rec := &recorder{base: http.DefaultTransport}
	return newTestProvider(t, srv.URL, rec), rec
}

func answer(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func TestChargeDeclinedByStripe(t *testing.T) {
	p, _ := fakeStripe(t, answer(402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
		"message":"Your card has insufficient funds.","param":"","request_log_url":"x"}}`))
	_, err := p.Charge(t.Context(), fulfill.ChargeRequest{CustomerID: "c1", InvoiceID: "i1", Amount: 100, Currency: "usd",
		PaymentMethod: "pm_card_chargeDeclinedInsufficientFunds", IdempotencyKey: "k1"})
	var fe *fulfill.Error
	if !errors.As(err, &fe) || fe.Code != "insufficient_funds" || fe.Message != "Your card has insufficient funds." {
		t.Fatalf("err = %#v", err)
	}
}

func TestChargeInvalidRequestIsPlainError(t *testing.T) {
	p, _ := fakeStripe(t, answer(400, `{"error":{"type":"invalid_request_error","code":"resource_missing",
		"message":"No such PaymentMethod: 'pm_nope'","param":"payment_method"}}`))
	_, err := p.Charge(t.Context(), fulfill.ChargeRequest{CustomerID: "c1", InvoiceID: "i1", Amount: 100, Currency: "usd",
		PaymentMethod: "pm_nope", IdempotencyKey: "k1"})
	var fe *fulfill.Error
	var se *stripe.Error
	if err == nil || errors.As(err, &fe) || !errors.As(err, &se) || se.Code != "resource_missing" {
		t.Fatalf("err = %#v, want a plain error wrapping the *stripe.Error", err)
	}
}

// stripe-go retries network errors and 5xx answers that are not Stripe's
// JSON (a proxy's 503, say); every attempt must carry our key, or the retry
// could charge twice. A Stripe api_error is not retried by stripe-go (Stripe
// would replay it under the same key anyway): it is a plain error.
func TestChargeRetry(t *testing.T) {
	req := fulfill.ChargeRequest{CustomerID: "c1", InvoiceID: "i1", Amount: 100, Currency: "usd",
		PaymentMethod: "pm_card_visa", IdempotencyKey: "fulfill-i1"}
	p, rec := fakeStripe(t,
		answer(503, `<html>upstream unavailable</html>`),
		answer(200, `{"id":"pi_ok","object":"payment_intent","status":"succeeded"}`))
	res, err := p.Charge(t.Context(), req)
	if err != nil || res.Ref != "pi_ok" {
		t.Fatalf("Charge = %+v, %v", res, err)
	}
	pis := rec.requests("/v1/payment_intents")
	if len(pis) != 2 {
		t.Fatalf("%d attempts, want 2", len(pis))
	}
	for i, q := range pis {
		if k := q.Header.Get("Idempotency-Key"); k != "fulfill-i1" {
			t.Errorf("attempt %d: Idempotency-Key %q", i, k)
		}
	}

	p, rec = fakeStripe(t, answer(500, `{"error":{"type":"api_error","message":"boom"}}`))
	_, err = p.Charge(t.Context(), req)
	if fulfill.ErrorCode(err) != fulfill.EInternal {
		t.Errorf("api_error: err = %v, want a plain error", err)
	}
	if n := len(rec.requests("/v1/payment_intents")); n != 1 {
		t.Errorf("api_error: %d attempts, want 1", n)
	}
}

func TestMapError(t *testing.T) {
	for _, tc := range []struct {
		in       *stripe.Error
		code     string // "" = plain error
		message  string
		declined bool
	}{
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "card_declined", DeclineCode: "generic_decline", Msg: "Your card was declined."}, "card_declined", "Your card was declined.", true},
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "card_declined", DeclineCode: "insufficient_funds"}, "insufficient_funds", "Your card has insufficient funds.", true},
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "card_declined", DeclineCode: "lost_card"}, "lost_card", "Your card was declined.", true},
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "card_declined", DeclineCode: "stolen_card"}, "stolen_card", "Your card was declined.", true},
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "expired_card", DeclineCode: "expired_card"}, "expired_card", "Your card has expired.", true},
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "incorrect_cvc"}, "incorrect_cvc", "Your card's security code is incorrect.", true},
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "processing_error"}, "processing_error", declineCodes["processing_error"], true},
		// Decline codes the API has no status for still answer 402.
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "card_declined", DeclineCode: "do_not_honor"}, "card_declined", "Your card was declined.", true},
		{&stripe.Error{Type: stripe.ErrorTypeCard, Code: "authentication_required", DeclineCode: "authentication_required"}, "card_declined", "Your card was declined.", true},
		{&stripe.Error{Type: stripe.ErrorTypeAPI, HTTPStatusCode: 500}, "", "", false},
		{&stripe.Error{Type: stripe.ErrorTypeIdempotency, HTTPStatusCode: 400}, "", "", false},
		{&stripe.Error{Type: stripe.ErrorTypeInvalidRequest, Code: "rate_limit", HTTPStatusCode: 429}, "", "", false},
	} {
		err := mapError(tc.in)
		var fe *fulfill.Error
		if got := errors.As(err, &fe); got != tc.declined {
			t.Errorf("%+v: *fulfill.Error = %v, want %v (%v)", tc.in, got, tc.declined, err)
			continue
		}
		if !tc.declined {
			var se *stripe.Error
			if !errors.As(err, &se) {
				t.Errorf("%+v: plain error does not wrap *stripe.Error", tc.in)
			}
			continue
		}
		if fe.Code != tc.code || fe.Message != tc.message || fe.Field != "payment_method" {
			t.Errorf("%+v: got %+v, want %s %q", tc.in, fe, tc.code, tc.message)
		}
		if _, ok := declineCodes[fe.Code]; !ok {
			t.Errorf("code %q would not answer 402", fe.Code)
		}
	}
	if err := mapError(errors.New("dial tcp: refused")); fulfill.ErrorCode(err) != fulfill.EInternal {
		t.Errorf("network error: %v", err)
	}
}
