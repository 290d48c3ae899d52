package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
)

// Issue 18: the scheduler enqueues the day's renewals as batch jobs (one
// transaction per DefaultRunBatch subscriptions, not one job each), and a
// second enqueue on the same day adds nothing and renews nothing twice.
func TestScheduledRenewalsRunAsBatchJobs(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		ctx := context.Background()
		const n = 7
		subs := make([]string, n)
		for i := range n {
			c, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: fmt.Sprintf("batch%d@example.com", i), Name: "B", Country: "US"})
			if err != nil {
				t.Fatal(err)
			}
			p, err := env.Svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 3, PaymentMethod: "invoice"})
			if err != nil {
				t.Fatal(err)
			}
			subs[i] = p.Subscription.ID
		}
		env.Clock.Set(time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC))
		day := fulfill.Today(env.Clock)
		for range 2 {
			if k, err := env.Svc.EnqueueDue(ctx, day); err != nil || k == 0 {
				t.Fatalf("enqueue due: %d, %v", k, err)
			}
		}
		count := func(kind string) int {
			var k int
			if err := env.DB.Read.QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = $1`, kind).Scan(&k); err != nil {
				t.Fatal(err)
			}
			return k
		}
		if b, one := count("subscription.process_due_batch"), count("subscription.process_due"); b != 1 || one != 0 {
			t.Fatalf("%d batch jobs and %d single ones for %d subscriptions enqueued twice; want 1 and 0", b, one, n)
		}
		runner := startRunner(t, env)
		if err := runner.Drain(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		for i, id := range subs {
			sub, err := env.DB.Subscription(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			invs, err := env.DB.Invoices(ctx, "", id, fulfill.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if sub.StartsOn != day || len(invs) != 2 {
				t.Errorf("subscription %d: term starts %s with %d invoices; want renewed once on %s", i, sub.StartsOn, len(invs), day)
			}
		}
	})
}
