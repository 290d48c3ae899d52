package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// The test clock does not depend on webhook receivers: with every endpoint
// down (one hangs without answering, one is a closed port), advancing a
// year answers 200, the clock is at the target date, the renewal is done,
// and the deliveries are still pending, to be retried on their own
// schedule. Before, the advance waited for the deliveries and answered 500
// after 60 seconds with the clock part-way.
func TestAdvanceDoesNotWaitForDeadWebhookReceivers(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url, "2026-01-01")
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select { // a receiver that accepts and never answers
			case <-release:
			case <-r.Context().Done():
			}
			http.Error(w, "down", http.StatusInternalServerError)
		}))
		// Registered after newEnv's cleanups, so it runs first: the runner
		// then stops without waiting for hung requests.
		t.Cleanup(func() { close(release); hang.Close() })
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closedURL := "http://" + closed.Addr().String() + "/hooks"
		closed.Close()
		// Enough hung deliveries to keep the four webhook workers busy for
		// well over a minute at 10 seconds per attempt.
		for range 6 {
			e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": hang.URL + "/hooks"}, nil)
		}
		e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": closedURL}, nil)

		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		if p.Subscription.EndsOn != "2027-01-01" || !p.Subscription.AutoRenew {
			t.Fatalf("purchase %+v", p.Subscription)
		}

		start := time.Now()
		var res struct{ From, To string }
		e.must(200, "POST", "/api/v1/test_clock/advance", map[string]any{"to": "2027-01-15"}, &res)
		t.Logf("advance of a year took %s", time.Since(start))
		if res.To != "2027-01-15" {
			t.Fatalf("advance answered %+v", res)
		}
		if got := fulfill.Today(e.clock); got.String() != "2027-01-15" {
			t.Fatalf("the clock is at %s, want 2027-01-15", got)
		}
		var sub subscription
		e.must(200, "GET", "/api/v1/subscriptions/"+p.Subscription.ID, nil, &sub)
		if sub.StartsOn != "2027-01-01" || sub.EndsOn != "2028-01-01" || sub.State != "active" {
			t.Fatalf("after a year the subscription is %+v, want renewed to 2028-01-01", sub)
		}

		// Nothing was delivered and nothing gave up: every delivery waits
		// for its next attempt.
		ctx := context.Background()
		eps, err := e.db.WebhookEndpoints(ctx, fulfill.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, ep := range eps {
			ds, err := e.db.WebhookDeliveries(ctx, ep.ID, fulfill.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Status != store.DeliveryPending {
					t.Errorf("delivery %s of %s is %s, want pending", d.ID, d.EventType, d.Status)
				}
			}
			total += len(ds)
		}
		if total == 0 {
			t.Fatal("no webhook delivery was created")
		}
		var gaveUp int
		if err := e.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'webhook.deliver'
			AND state IN ('cancelled', 'discarded', 'completed')`).Scan(&gaveUp); err != nil {
			t.Fatal(err)
		}
		if gaveUp != 0 {
			t.Fatalf("%d delivery jobs ended; they must stay retryable", gaveUp)
		}
	})
}
