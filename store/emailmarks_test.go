package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
)

// TestEmailMarksCommitTogether: mail outcomes that arrive while one is
// being written are committed together, in one transaction, and each Mark
// returns only once its own outcome is stored. A mark that cannot be
// written (its mail is gone) fails alone.
func TestEmailMarksCommitTogether(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		cus := "cus_1"
		insertCustomer(t, db, cus)
		const n = 20
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("eml_%02d", i)
			e := &fulfill.Email{ID: ids[i], Kind: "license", To: "ann@example.com", Subject: "Your license",
				Body: "Attached.", CustomerID: &cus, Status: "pending", CreatedAt: t0}
			inTx(t, db, func(tx *Tx) error { return tx.InsertEmail(e) })
		}
		sent := t0.Add(time.Hour)

		// With a mark of a missing mail among them: the group of twenty
		// fails and is written again one by one.
		before := db.WriteTransactions()
		groups, errs := heldRound(t, db, append(ids[:n:n], "eml_gone"), sent)
		failed := 0
		for _, err := range errs {
			if err != nil {
				failed++
				wantCode(t, "the mark of a missing mail", err, fulfill.ENotFound)
			}
		}
		if failed != 1 {
			t.Errorf("%d marks failed, want only the missing mail's", failed)
		}
		for _, id := range ids {
			if got, _ := db.Email(ctx, id); got.Status != "sent" || got.SentAt == nil || !got.SentAt.Equal(sent) {
				t.Errorf("%s after its mark returned: %+v", id, got)
			}
		}
		if len(groups) != 2 || groups[0] != 1 || groups[1] != n {
			t.Errorf("groups written: %v, want [1 %d]", groups, n)
		}
		if got := db.WriteTransactions() - before; got != 2+n {
			t.Errorf("%d write transactions, want %d", got, 2+n)
		}

		// Without: the nineteen that waited go in one transaction.
		for _, id := range ids {
			inTx(t, db, func(tx *Tx) error {
				return tx.exec(`UPDATE emails SET status = 'pending', sent_at = NULL WHERE id = $1`, id)
			})
		}
		before = db.WriteTransactions()
		if _, errs := heldRound(t, db, ids, sent); errs[0] != nil || errs[n-1] != nil {
			t.Errorf("marks: %v", errs)
		}
		if got := db.WriteTransactions() - before; got != 2 {
			t.Errorf("%d write transactions for %d marks, want 2 (the held one, then the rest together)", got, n)
		}
	})
}

// heldRound marks ids sent with a fresh EmailMarks whose first group (the
// first id alone) is held until every other mark waits, then released. It
// returns the sizes of the groups written and each mark's error.
func heldRound(t *testing.T, db *DB, ids []string, sent time.Time) ([]int, []error) {
	t.Helper()
	marks := NewEmailMarks(db)
	release := make(chan struct{})
	var mu sync.Mutex
	var groups []int
	marks.beforeFlush = func(k int) {
		mu.Lock()
		groups = append(groups, k)
		first := len(groups) == 1
		mu.Unlock()
		if first {
			<-release
		}
	}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	mark := func(i int) {
		defer wg.Done()
		errs[i] = marks.Mark(context.Background(), EmailMark{ID: ids[i], Status: "sent", SentAt: &sent})
	}
	wg.Add(1)
	go mark(0)
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(groups) == 1 })
	for i := 1; i < len(ids); i++ {
		wg.Add(1)
		go mark(i)
	}
	waitUntil(t, func() bool { marks.mu.Lock(); defer marks.mu.Unlock(); return len(marks.pending) == len(ids)-1 })
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return groups, errs
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
}
