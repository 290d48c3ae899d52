package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// The acceptance 1, 2 and 5: purchase, mid-term seats, seat reports,
// auto-renewal with true-up, on the simulated clock.
func TestPurchaseSeatsAndAutoRenewal(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")

		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium",
			"seats": 100, "payment_method": "pm_card_visa"}, &p)
		if p.Invoice.Status != "paid" || p.Invoice.Total != 3480000 || p.Invoice.Subtotal != 3480000 || p.Invoice.Tax != 0 {
			t.Fatalf("invoice = %+v, want paid 3480000", p.Invoice)
		}
		if p.Subscription.StartsOn != "2026-01-01" || p.Subscription.EndsOn != "2027-01-01" || p.Subscription.State != "active" {
			t.Fatalf("subscription = %+v", p.Subscription)
		}
		if p.ActivationCode == nil || len(*p.ActivationCode) != 24 {
			t.Fatalf("activation code = %v, want 24 characters", p.ActivationCode)
		}
		if p.Invoice.Number != "INV-000001" {
			t.Errorf("first invoice number = %s", p.Invoice.Number)
		}
		sub := p.Subscription.ID

		e.advance("2026-07-02")
		var pv struct {
			AmountDue int64  `json:"amount_due"`
			Lines     []line `json:"lines"`
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/seats/preview", map[string]any{"seats": 120}, &pv)
		if pv.AmountDue != 348953 {
			t.Fatalf("preview amount_due = %d, want 348953 (20 × 34800 × 183/365)", pv.AmountDue)
		}
		var again struct{ Seats int64 }
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &again)
		if again.Seats != 100 {
			t.Fatalf("preview changed seats to %d", again.Seats)
		}
		var ch struct {
			Subscription subscription `json:"subscription"`
			Invoice      invoice      `json:"invoice"`
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/seats", map[string]any{"seats": 120}, &ch)
		if ch.Invoice.Total != 348953 || ch.Invoice.Status != "paid" || ch.Subscription.Seats != 120 {
			t.Fatalf("seat change = %+v / %+v", ch.Subscription, ch.Invoice)
		}
		if l := linesOf(ch.Invoice, "seats"); len(l) != 1 || l[0].Quantity != 20 || l[0].UnitAmount != 34800 || !l[0].Proration ||
			l[0].PeriodStart != "2026-07-02" || l[0].PeriodEnd != "2027-01-01" {
			t.Fatalf("seat line = %+v", l)
		}
		var invs struct{ Data []invoice }
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub, nil, &invs)
		if len(invs.Data) != 2 {
			t.Fatalf("%d invoices, want 2", len(invs.Data))
		}

		// Seat reports reach 130 max users; the latest says 125 billable.
		e.advance("2026-12-31")
		for _, r := range []struct {
			date          string
			max, billable int
		}{{"2026-09-01", 118, 118}, {"2026-10-15", 130, 126}, {"2026-12-30", 127, 125}} {
			e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "date": r.date,
				"max_users": r.max, "billable_users": r.billable}, nil)
		}
		e.advance("2027-01-01")

		var renewed subscription
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &renewed)
		if renewed.Seats != 125 || renewed.StartsOn != "2027-01-01" || renewed.EndsOn != "2028-01-01" || renewed.State != "active" {
			t.Fatalf("renewed = %+v, want 125 seats 2027-01-01..2028-01-01", renewed)
		}
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub+"&limit=1", nil, &invs)
		inv := invs.Data[0]
		ren, tu := linesOf(inv, "renewal"), linesOf(inv, "trueup")
		if len(ren) != 1 || ren[0].Quantity != 125 || ren[0].UnitAmount != 34800 || ren[0].Amount != 125*34800 {
			t.Fatalf("renewal line = %+v", ren)
		}
		if len(tu) != 1 || tu[0].Quantity != 10 || tu[0].Amount != 10*34800 || tu[0].PeriodStart != "2026-01-01" || tu[0].PeriodEnd != "2027-01-01" {
			t.Fatalf("true-up line = %+v", tu)
		}
		if inv.Total != 135*34800 || inv.Status != "paid" || inv.Number != "INV-000003" {
			t.Fatalf("renewal invoice = %+v", inv)
		}
		// Advancing again the same day renews nothing twice.
		e.advance("2027-01-02")
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub, nil, &invs)
		if len(invs.Data) != 3 {
			t.Fatalf("%d invoices after renewal, want 3", len(invs.Data))
		}
	})
}

// Acceptance 3: a declined card leaves nothing behind.
func TestDeclinedCard(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		before, err := e.db.TableCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var ae apiError
		code := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 100,
			"payment_method": "pm_card_chargeDeclined"}, &ae)
		if code != http.StatusPaymentRequired || ae.Error.Code != "card_declined" {
			t.Fatalf("got %d %+v, want 402 card_declined", code, ae)
		}
		after, _ := e.db.TableCounts(context.Background())
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("tables changed:\n before %v\n after  %v", before, after)
		}
		if after["subscriptions"] != 0 || after["activation_codes"] != 0 {
			t.Fatalf("a declined purchase left %v", after)
		}
		// The next invoice still gets the next number: no gap.
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "invoice"}, &p)
		if p.Invoice.Number != "INV-000001" || p.Invoice.Status != "open" || p.Invoice.DueOn != "2026-01-31" {
			t.Fatalf("invoice after decline = %+v", p.Invoice)
		}
	})
}

// Acceptance 4: 20 concurrent purchases with one Idempotency-Key.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		body := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10, "payment_method": "pm_card_visa"}
		var wg sync.WaitGroup
		codes := make([]int, 20)
		ids := make([]string, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var p purchase
				codes[i] = e.do("POST", "/api/v1/subscriptions", body, &p, "Idempotency-Key", "order-42")
				ids[i] = p.Subscription.ID
			}()
		}
		wg.Wait()
		created := 0
		for i, c := range codes {
			switch c {
			case 201:
				created++
				if ids[i] == "" {
					t.Errorf("201 without a subscription")
				}
			case 409:
			default:
				t.Errorf("request %d: status %d", i, c)
			}
		}
		counts, _ := e.db.TableCounts(context.Background())
		if counts["subscriptions"] != 1 || counts["invoices"] != 1 || counts["payments"] != 1 || e.pay.Charges() != 1 {
			t.Fatalf("counts %v, charges %d: want one subscription, invoice and charge", counts, e.pay.Charges())
		}
		// A retry after the first finished replays its answer.
		var p purchase
		if c := e.do("POST", "/api/v1/subscriptions", body, &p, "Idempotency-Key", "order-42"); c != 201 || p.Subscription.ID == "" {
			t.Fatalf("replay: %d %+v", c, p)
		}
		for i := range ids {
			if codes[i] == 201 && ids[i] != p.Subscription.ID {
				t.Fatalf("replay answered another subscription")
			}
		}
		// Same key, other body.
		body["seats"] = 11
		var ae apiError
		if c := e.do("POST", "/api/v1/subscriptions", body, &ae, "Idempotency-Key", "order-42"); c != 422 || ae.Error.Code != "idempotency_key_reused" {
			t.Fatalf("other body: %d %+v", c, ae)
		}
		counts, _ = e.db.TableCounts(context.Background())
		if counts["subscriptions"] != 1 || e.pay.Charges() != 1 {
			t.Fatalf("after replays: %v", counts)
		}
	})
}
