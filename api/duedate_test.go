package api_test

import (
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// TestCardPaidInvoicesAreDueOnTheirIssueDate: a purchase and an automatic
// renewal charged to a card are paid when issued, so each invoice is due
// on its issue date (the renewal used to say 14 days later).
func TestCardPaidInvoicesAreDueOnTheirIssueDate(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		if p.Invoice.DueOn != "2026-01-01" || p.Invoice.Status != "paid" {
			t.Fatalf("purchase invoice: %+v", p.Invoice)
		}
		e.advance("2027-01-01")
		var invs struct{ Data []invoice }
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+p.Subscription.ID+"&limit=1", nil, &invs)
		if r := invs.Data[0]; r.ID == p.Invoice.ID || r.Status != "paid" || r.DueOn != "2027-01-01" {
			t.Fatalf("renewal invoice: %+v", r)
		}
	})
}
