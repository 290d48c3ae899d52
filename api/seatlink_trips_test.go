package api_test

import (
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// Issue 18: on PostgreSQL every query is a round trip, and a daily seat
// link of a known instance made five: the subscription, its add-ons, the
// instance's owner, the instance, then its writes. The subscription now
// comes with its add-ons and the instance in one query, and an instance
// known under the subscription needs no owner check: two. (On SQLite each
// statement is a call: the two writes are made at once, so three.) The
// fewest of a few links is counted, so that a background job writing
// meanwhile is not counted.
func TestSeatLinkOfAKnownInstanceMakesTwoRoundTrips(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		l := e.buy("trips@example.com")
		e.activate(l, "inst-trips")
		e.settle()
		want := int64(2)
		if e.db.Dialect != store.Postgres {
			want = 3
		}
		fewest := int64(1 << 30)
		for range 3 {
			before := e.db.WriteRoundTrips()
			e.must(200, "POST", "/api/v1/seat_links", seatLink(l.license, "inst-trips"), nil)
			fewest = min(fewest, e.db.WriteRoundTrips()-before)
		}
		if fewest != want {
			t.Errorf("a seat link of a known instance made %d calls to the database, want %d", fewest, want)
		}
		// A new instance of the same customer still passes its owner
		// check, and one of another customer's is still refused.
		e.must(200, "POST", "/api/v1/seat_links", seatLink(l.license, "inst-new"), nil)
		other := e.buy("other@example.com")
		e.activate(other, "inst-theirs")
		var ae apiError
		if got := e.do("POST", "/api/v1/seat_links", seatLink(l.license, "inst-theirs"), &ae); got < 400 || ae.Error.Code != "instance_unknown" {
			t.Errorf("a seat link for another customer's instance: %d %+v, want instance_unknown", got, ae.Error)
		}
	})
}
