package api_test

import (
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/store"
)

// Issue 17: account credit that a card purchase uses is reserved in phase 1
// and given back when the card is declined; a paid purchase takes the rest
// from the card, and the ledger holds both payments.
func TestCardPurchaseReservesCreditAndDeclineGivesItBack(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var open purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": 1, "payment_method": "invoice"}, &open)
		e.must(201, "POST", "/api/v1/invoices/"+open.Invoice.ID+"/payments", map[string]any{"amount": open.Invoice.Total + 5000, "reference": "WIRE-1"}, nil)
		credit := func() int64 {
			var c struct {
				Credit int64 `json:"credit_balance"`
			}
			e.must(200, "GET", "/api/v1/customers/"+cus, nil, &c)
			return c.Credit
		}
		if got := credit(); got != 5000 {
			t.Fatalf("credit after the overpayment: %d", got)
		}
		var ae apiError
		if code := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 2,
			"payment_method": "pm_card_chargeDeclined"}, &ae, "Idempotency-Key", "declined-1"); code != 402 || ae.Error.Code != "card_declined" {
			t.Fatalf("declined card: %d %+v", code, ae)
		}
		if got := credit(); got != 5000 {
			t.Fatalf("credit after a declined card: %d, want the 5000 back", got)
		}
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 2, "payment_method": "pm_card_visa"}, &p)
		var pays struct {
			Data []struct {
				Provider string
				Amount   int64
			}
		}
		e.must(200, "GET", "/api/v1/invoices/"+p.Invoice.ID+"/payments", nil, &pays)
		byProvider := map[string]int64{}
		for _, py := range pays.Data {
			byProvider[py.Provider] += py.Amount
		}
		if p.Invoice.Status != "paid" || credit() != 0 || byProvider["account_credit"] != 5000 || byProvider["test"] != p.Invoice.Total-5000 {
			t.Fatalf("purchase %s, credit %d, payments %v (total %d)", p.Invoice.Status, credit(), byProvider, p.Invoice.Total)
		}
		counts, err := e.db.PaymentAttemptCounts(t.Context())
		if err != nil || counts["declined"] != 1 || counts["succeeded"] != 1 || counts["pending"] != 0 {
			t.Fatalf("payment attempts %v %v", counts, err)
		}
	})
}

// Issue 17: while a seat change's charge awaits the provider, another change
// of the same subscription is refused (409) instead of being priced on a
// subscription the first one is about to change; the first one succeeds.
func TestOneChargeAtATimePerSubscription(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 4, "payment_method": "pm_card_visa"}, &p)
		// The window in which the second change must arrive: wide enough
		// for a loaded machine.
		e.pay.Latency = 3 * time.Second
		done := make(chan int, 1)
		go func() {
			done <- e.do("POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/seats", map[string]any{"seats": 6}, nil)
		}()
		// Wait until the first change has recorded its intent.
		deadline := time.Now().Add(10 * time.Second)
		for {
			counts, err := e.db.PaymentAttemptCounts(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if counts["pending"] == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no pending attempt: %v", counts)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var ae apiError
		if code := e.do("POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/seats", map[string]any{"seats": 8}, &ae); code != 409 {
			t.Fatalf("second change during the first one's charge: %d %+v", code, ae)
		}
		if code := <-done; code != 200 {
			t.Fatalf("first change: %d", code)
		}
		var sub subscription
		e.must(200, "GET", "/api/v1/subscriptions/"+p.Subscription.ID, nil, &sub)
		if sub.Seats != 6 {
			t.Fatalf("seats %d, want 6", sub.Seats)
		}
	})
}

// A purchase with a new Idempotency-Key records the key in its own first
// transaction, with its change (the intent, or the one transaction of a
// purchase by invoice), not in a transaction of its own before: one commit
// fewer. A refusal before any change still keeps its answer, and a retry
// replays each.
func TestPurchaseRecordsItsKeyWithItsFirstChange(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		var mu sync.Mutex
		var atStart []int
		var db *store.DB
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) {
			db = c.Service.DB
			c.Service.Failpoint = func(name string) {
				if name != "purchase-begins" {
					return
				}
				var n int
				if err := db.Read.QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&n); err != nil {
					t.Error(err)
				}
				mu.Lock()
				atStart = append(atStart, n)
				mu.Unlock()
			}
		})
		cus := e.customer("US", "")
		for i, pm := range []string{"pm_card_visa", "invoice"} {
			var p, again purchase
			body := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 2, "payment_method": pm}
			key := "order-" + pm
			if c := e.do("POST", "/api/v1/subscriptions", body, &p, "Idempotency-Key", key); c != 201 {
				t.Fatalf("%s: %d", pm, c)
			}
			if c := e.do("POST", "/api/v1/subscriptions", body, &again, "Idempotency-Key", key); c != 201 {
				t.Fatalf("%s retry: %d", pm, c)
			}
			if again.Subscription.ID != p.Subscription.ID {
				t.Errorf("%s: the retry answered %s, want %s", pm, again.Subscription.ID, p.Subscription.ID)
			}
			mu.Lock()
			if len(atStart) != i+1 || atStart[i] != i {
				t.Errorf("%s: keys recorded when the purchase began: %v, want %d (none for this one)", pm, atStart, i)
			}
			mu.Unlock()
		}
		var ae, again apiError
		body := map[string]any{"customer_id": "cus_nope", "plan": "sm-premium", "seats": 2, "payment_method": "invoice"}
		if c := e.do("POST", "/api/v1/subscriptions", body, &ae, "Idempotency-Key", "order-nobody"); c != 404 {
			t.Fatalf("unknown customer: %d %+v", c, ae)
		}
		if c := e.do("POST", "/api/v1/subscriptions", body, &again, "Idempotency-Key", "order-nobody"); c != 404 || again.Error.Code != ae.Error.Code {
			t.Fatalf("retry of the refusal: %d %+v", c, again)
		}
		var n int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM idempotency_keys WHERE status_code = 404`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("refusal records: %d %v, want 1", n, err)
		}
	})
}
