package web_test

import (
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// With Stripe, the checkout takes the card in Stripe's own card form: the
// page loads Stripe.js (and only it, by the CSP), and a submit without a
// PaymentMethod from that form is refused with a clear message.
func TestStripeCardForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t), func(c *web.Config) { c.StripePublishableKey = "pk_test_123" })
	c := e.signUp("stripe@example.com")
	buy := c.get("/buy").must(t, 200)
	if strings.Contains(buy.body, "pm_card_visa") || !strings.Contains(buy.body, "Stripe's secure card form") {
		t.Fatal("the buy page offers test cards in Stripe mode")
	}
	form := []string{"plan", "sm-premium", "seats", "10", "company", "Example GmbH", "country", "DE", "pay", "card", "account", "new"}
	q := ""
	for i := 0; i+1 < len(form); i += 2 {
		q += "&" + form[i] + "=" + form[i+1]
	}
	review := c.get("/buy/review?"+strings.ReplaceAll(q[1:], " ", "+")).must(t, 200)
	for _, want := range []string{`id="stripe-card"`, `data-key="pk_test_123"`, `src="https://js.stripe.com/v3/"`, `src="/static/stripe-card.js"`, `<noscript>`} {
		if !strings.Contains(review.body, want) {
			t.Errorf("review page lacks %s", want)
		}
	}
	csp := review.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self' https://js.stripe.com") || !strings.Contains(csp, "frame-src https://js.stripe.com") {
		t.Errorf("CSP = %q", csp)
	}
	js := c.get("/static/stripe-card.js").must(t, 200)
	if !strings.Contains(js.body, "createPaymentMethod") {
		t.Fatal("no card script")
	}
	r := c.post("/buy", append(form, "card", "", "eula", web.EULAVersion)...)
	if r.status != 422 || !strings.Contains(r.body, "Enter your card in the card form") {
		t.Fatalf("submit without a card: %d", r.status)
	}
	// Without Stripe, no outside script is allowed: only this server's
	// own (the copy button's).
	plain := newEnv(t, dbtest.SQLiteURL(t))
	if csp := plain.client().get("/signin").header.Get("Content-Security-Policy"); strings.Contains(csp, "stripe") || !strings.HasSuffix(csp, "; script-src 'self'") {
		t.Fatalf("CSP without Stripe = %q", csp)
	}
}
