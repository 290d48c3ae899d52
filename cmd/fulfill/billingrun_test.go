package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// Issue 18, acceptance 3: a `fulfill billing run` process that dies in the
// middle of a batch (FULFILL_FAILPOINT=billing-batch-3: two batches
// committed, the third done but not committed) is run again, and every
// subscription is renewed exactly once: one renewal invoice each, one term
// added. A renewal that fails (here, a subscription in a currency its plan
// has no price in) is left out of its batch, listed, and the rest of the
// batch is renewed.
func TestKilledBillingRunResumedRenewsEachSubscriptionOnce(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		s := startServer(t, url)
		const n = 23
		subs := dueOnNewYear(t, s, "run", n)
		// One batch at a time: the kill leaves exactly two committed.
		args := billingRunArgs(s, url, 1)
		dir := t.TempDir()
		killed := runChild(t, dir, map[string]string{"FULFILL_FAILPOINT": "billing-batch-3"}, args...)
		if killed.code != 3 {
			t.Fatalf("the run was to die in its third batch: exit %d\n%s\n%s", killed.code, killed.stdout, killed.stderr)
		}
		renewed := func() int {
			k := 0
			for _, id := range subs {
				var sub struct {
					StartsOn string `json:"starts_on"`
				}
				s.call("GET", "/api/v1/subscriptions/"+id, nil, &sub)
				if sub.StartsOn == "2027-01-01" {
					k++
				}
			}
			return k
		}
		if k := renewed(); k != 10 {
			t.Fatalf("after dying in batch 3 of 5, %d subscriptions are renewed, want the 10 of the two committed batches", k)
		}
		// One subscription (in the batch after the kill) can not be renewed.
		broken := subs[17]
		db, err := store.Open(context.Background(), dbFile(s, url))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Write.Exec(`UPDATE subscriptions SET currency = 'JPY' WHERE id = $1`, broken); err != nil {
			t.Fatal(err)
		}
		again := runChild(t, dir, nil, args...)
		if again.code != 1 || !strings.Contains(again.stderr, broken) || !strings.Contains(again.stderr, "1 of 13 renewals failed") {
			t.Fatalf("second run: exit %d, want 1 naming %s\n%s\n%s", again.code, broken, again.stdout, again.stderr)
		}
		if !strings.Contains(again.stderr, "/s, took") {
			t.Errorf("no rate in the progress bar:\n%s", again.stderr)
		}
		if k := renewed(); k != n-1 {
			t.Fatalf("after the second run %d subscriptions are renewed, want %d", k, n-1)
		}
		third := runChild(t, dir, nil, args...)
		if third.code != 1 || !strings.Contains(third.stderr, "1 of 1 renewals failed") {
			t.Fatalf("third run: exit %d, want only the broken one tried\n%s\n%s", third.code, third.stdout, third.stderr)
		}
		for i, id := range subs {
			var invs struct {
				Data []struct {
					PeriodStart string `json:"period_start"`
				}
			}
			s.call("GET", "/api/v1/invoices?subscription_id="+id+"&limit=100", nil, &invs)
			var sub struct {
				EndsOn string `json:"ends_on"`
			}
			s.call("GET", "/api/v1/subscriptions/"+id, nil, &sub)
			want, wantEnd := 2, "2028-01-01"
			if id == broken {
				want, wantEnd = 1, "2027-01-01"
			}
			if len(invs.Data) != want || sub.EndsOn != wantEnd {
				t.Errorf("subscription %d (%s): %d invoices, term ends %s; want %d, %s", i, id, len(invs.Data), sub.EndsOn, want, wantEnd)
			}
		}
	})
}

// dbFile is the database of a server started by startServer.
func dbFile(s *server, url string) string {
	if strings.HasPrefix(url, "postgres") {
		return url
	}
	return s.dataDir + "/fulfill.db"
}

// dueOnNewYear buys n subscriptions, one customer each (emails
// PREFIX<i>@example.com), paid by invoice and falling due on 2027-01-01.
func dueOnNewYear(t *testing.T, s *server, prefix string, n int) []string {
	t.Helper()
	subs := make([]string, n)
	for i := range n {
		var cus struct{ ID string }
		s.call("POST", "/api/v1/customers", map[string]any{"email": fmt.Sprintf("%s%d@example.com", prefix, i), "name": "Rae Run", "country": "US"}, &cus)
		var p struct{ Subscription struct{ ID string } }
		if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 3,
			"payment_method": "invoice"}, &p); c != 201 {
			t.Fatalf("purchase %d: %d", i, c)
		}
		subs[i] = p.Subscription.ID
	}
	return subs
}

// billingRunArgs is `fulfill billing run` on s's database for
// 2027-01-01, in batches of 5, parallel at once.
func billingRunArgs(s *server, url string, parallel int) []string {
	args := []string{"billing", "run", "--date", "2027-01-01", "--batch", "5", "--parallel", fmt.Sprint(parallel), "--data-dir", s.dataDir}
	if strings.HasPrefix(url, "postgres") {
		args = append(args, "--database-url", url)
	}
	return args
}
