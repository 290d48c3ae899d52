package stripe

import (
	"net/http"
	"testing"

	"github.com/fulfillhq/fulfill"
)

// The provider reads a saved card's brand, last 4 digits and expiry from
// Stripe's PaymentMethod (stripe-mock answers its fixture card: a Visa
// ending 4242 expiring 8/2030), and refuses what is not a PaymentMethod
// id without a request.
func TestDescribeCardAgainstStripeMock(t *testing.T) {
	t.Parallel()
	base := startStripeMock(t)
	rec := &recorder{base: http.DefaultTransport}
	p := newTestProvider(t, base, rec)
	got, err := p.DescribeCard(t.Context(), "pm_card_visa")
	if err != nil {
		t.Fatal(err)
	}
	if want := (fulfill.CardDetails{Brand: "visa", Last4: "4242", ExpMonth: 8, ExpYear: 2030}); got != want {
		t.Errorf("DescribeCard = %+v, want %+v", got, want)
	}
	if n := len(rec.requests("/v1/payment_methods/pm_card_visa")); n != 1 {
		t.Errorf("%d requests for the payment method, want 1", n)
	}
	if _, err := p.DescribeCard(t.Context(), "card_123"); fulfill.ErrorCode(err) != fulfill.EInvalid {
		t.Errorf("not a PaymentMethod id: %v", err)
	}
}
