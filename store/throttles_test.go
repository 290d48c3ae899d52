package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// TestThrottles: hits count per key in fixed windows, concurrent hits are
// all counted, a new window starts from zero, clearing and purging forget.
func TestThrottles(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		db := openMigrated(t, url)
		base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		w := time.Hour

		h, err := db.HitsOf(ctx, "k", w, base)
		if err != nil || h.Count != 0 || !h.WindowEnd.Equal(base.Add(w)) {
			t.Fatalf("fresh key: %+v, %v", h, err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := db.Hit(ctx, "k", w, base.Add(time.Duration(i)*time.Second)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if h, err := db.HitsOf(ctx, "k", w, base.Add(30*time.Minute)); err != nil || h.Count != 20 || h.Last.IsZero() {
			t.Fatalf("after 20 concurrent hits: %+v, %v", h, err)
		}
		if h, err := db.Hit(ctx, "k", w, base.Add(40*time.Minute)); err != nil || h.Count != 21 {
			t.Fatalf("21st hit: %+v, %v", h, err)
		}
		// The next window starts again.
		if h, err := db.HitsOf(ctx, "k", w, base.Add(61*time.Minute)); err != nil || h.Count != 0 {
			t.Fatalf("next window, read: %+v, %v", h, err)
		}
		if h, err := db.Hit(ctx, "k", w, base.Add(61*time.Minute)); err != nil || h.Count != 1 || !h.WindowEnd.Equal(base.Add(2*w)) {
			t.Fatalf("next window, hit: %+v, %v", h, err)
		}
		// Other keys are separate; clearing forgets.
		for i := range 3 {
			if _, err := db.Hit(ctx, fmt.Sprintf("other%d", i), w, base); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.ClearHits(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if h, _ := db.HitsOf(ctx, "k", w, base.Add(61*time.Minute)); h.Count != 0 {
			t.Fatalf("cleared key still counts %d", h.Count)
		}
		if n, err := db.PurgeThrottles(ctx, base.Add(time.Minute)); err != nil || n != 3 {
			t.Fatalf("purge: %d, %v", n, err)
		}
	})
}
