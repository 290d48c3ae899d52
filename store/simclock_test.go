package store

import (
	"context"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
)

import "github.com/fulfillhq/fulfill/internal/dbtest"

// TestSimulatedClockLease: the stored clock starts at the first date given
// and keeps a later stored one; an advance records its target and holds a
// lease another advance cannot take until it runs out; a step by an owner
// that lost the lease fails; ending clears the target, and every SimClock
// on the database reads the stored date.
func TestSimulatedClockLease(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		db := openMigrated(t, url)
		d := func(s string) fulfill.Date { x, _ := fulfill.ParseDate(s); return x }
		if st, err := db.ClockState(ctx); err != nil || st != nil {
			t.Fatalf("fresh database: %+v %v", st, err)
		}
		if st, err := db.InitClock(ctx, d("2026-01-01")); err != nil || st.Today != d("2026-01-01") || st.AdvanceTo != nil {
			t.Fatalf("init: %+v %v", st, err)
		}
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		if _, err := db.BeginAdvance(ctx, "a", d("2026-02-01"), now, now.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.BeginAdvance(ctx, "b", d("2026-03-01"), now.Add(5*time.Second), now.Add(15*time.Second)); fulfill.ErrorCode(err) != fulfill.EConflict {
			t.Fatalf("second advance while leased: %v", err)
		}
		if err := db.StepClock(ctx, "a", d("2026-01-10"), now.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		other := db.SimClock()
		if got := fulfill.Today(other); got != d("2026-01-10") {
			t.Fatalf("another clock reads %s", got)
		}
		if st, err := db.InitClock(ctx, d("2026-01-01")); err != nil || st.Today != d("2026-01-10") || st.AdvanceTo == nil || *st.AdvanceTo != d("2026-02-01") {
			t.Fatalf("init again: %+v %v", st, err)
		}
		// a dies; after its lease b takes over from the stored day.
		prev, err := db.BeginAdvance(ctx, "b", d("2026-03-01"), now.Add(11*time.Second), now.Add(20*time.Second))
		if err != nil || prev.Today != d("2026-01-10") || *prev.AdvanceTo != d("2026-02-01") {
			t.Fatalf("take over: %+v %v", prev, err)
		}
		if err := db.StepClock(ctx, "a", d("2026-01-11"), now.Add(30*time.Second)); fulfill.ErrorCode(err) != fulfill.EConflict {
			t.Fatalf("step by the old owner: %v", err)
		}
		if _, err := db.BeginAdvance(ctx, "c", d("2026-01-05"), now.Add(30*time.Second), now.Add(40*time.Second)); fulfill.ErrorCode(err) != fulfill.EOutOfRange {
			t.Fatalf("advance backwards: %v", err)
		}
		if err := db.EndAdvance(ctx, "b", true); err != nil {
			t.Fatal(err)
		}
		if st, err := db.ClockState(ctx); err != nil || st.AdvanceTo != nil || st.LeaseOwner != "" {
			t.Fatalf("after the end: %+v %v", st, err)
		}
	})
}
