package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// A `fulfill billing run --parallel 4` (batches renewed at once) that dies
// in its third batch, with other batches committed or still open beside
// it, is run again: every subscription is renewed exactly once (two
// invoices, one term added), and the invoices are numbered without a gap
// or a number twice.
func TestKilledParallelBillingRunResumedRenewsEachSubscriptionOnce(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		s := startServer(t, url)
		const n = 23
		subs := dueOnNewYear(t, s, "par", n)
		args := billingRunArgs(s, url, 4)
		dir := t.TempDir()
		killed := runChild(t, dir, map[string]string{"FULFILL_FAILPOINT": "billing-batch-3"}, args...)
		if killed.code != 3 {
			t.Fatalf("the run was to die in its third batch: exit %d\n%s\n%s", killed.code, killed.stdout, killed.stderr)
		}
		// invoices is each subscription's invoices and the end of its term.
		invoices := func() ([]int, []string) {
			counts, ends := make([]int, n), make([]string, n)
			for i, id := range subs {
				var invs struct{ Data []struct{} }
				s.call("GET", "/api/v1/invoices?subscription_id="+id+"&limit=100", nil, &invs)
				var sub struct {
					EndsOn string `json:"ends_on"`
				}
				s.call("GET", "/api/v1/subscriptions/"+id, nil, &sub)
				counts[i], ends[i] = len(invs.Data), sub.EndsOn
			}
			return counts, ends
		}
		counts, ends := invoices()
		renewed := 0
		for i := range subs {
			switch {
			case counts[i] == 2 && ends[i] == "2028-01-01":
				renewed++
			case counts[i] != 1 || ends[i] != "2027-01-01":
				t.Errorf("after the kill, subscription %d: %d invoices, term ends %s; want renewed once or not at all", i, counts[i], ends[i])
			}
		}
		if renewed%5 != 0 || renewed > n-5 {
			t.Errorf("after the kill %d subscriptions are renewed; want whole batches of 5, the third not among them", renewed)
		}
		again := runChild(t, dir, nil, args...)
		if again.code != 0 || !strings.Contains(again.stdout, fmt.Sprintf("%d subscriptions renewed", n-renewed)) {
			t.Fatalf("second run: exit %d, want the %d left renewed\n%s\n%s", again.code, n-renewed, again.stdout, again.stderr)
		}
		if !strings.Contains(again.stderr, "/s, took") {
			t.Errorf("no rate in the progress bar:\n%s", again.stderr)
		}
		counts, ends = invoices()
		for i := range subs {
			if counts[i] != 2 || ends[i] != "2028-01-01" {
				t.Errorf("subscription %d: %d invoices, term ends %s; want 2, 2028-01-01", i, counts[i], ends[i])
			}
		}
		var all struct{ Data []struct{ Number string } }
		s.call("GET", "/api/v1/invoices?limit=100", nil, &all)
		var got, want []string
		for i, inv := range all.Data {
			got = append(got, inv.Number)
			want = append(want, fmt.Sprintf("INV-%06d", i+1))
		}
		slices.Sort(got)
		if len(got) != 2*n || !slices.Equal(got, want) {
			t.Errorf("invoice numbers %v; want INV-000001 to INV-%06d, each once", got, 2*n)
		}
	})
}
