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
		for i := range n {
			e := &fulfill.Email{ID: fmt.Sprintf("eml_%02d", i), Kind: "license", To: "ann@example.com", Subject: "Your license",
				Body: "Attached.", CustomerID: &cus, Status: "pending", CreatedAt: t0}
			inTx(t, db, func(tx *Tx) error { return tx.InsertEmail(e) })
		}
		marks := NewEmailMarks(db)
		release := make(chan struct{})
		var groups []int
		var mu sync.Mutex
		marks.beforeFlush = func(k int) {
			mu.Lock()
			groups = append(groups, k)
			first := len(groups) == 1
			mu.Unlock()
			if first {
				<-release // the first group is held until every other mark waits
			}
		}
		before := db.WriteTransactions()
		sent := t0.Add(time.Hour)
		errs := make(chan error, n+1)
		var wg sync.WaitGroup
		mark := func(id string) {
			defer wg.Done()
			errs <- marks.Mark(ctx, EmailMark{ID: id, Status: "sent", SentAt: &sent})
		}
		wg.Add(1)
		go mark("eml_00")
		waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(groups) == 1 })
		for i := 1; i < n; i++ {
			wg.Add(1)
			go mark(fmt.Sprintf("eml_%02d", i))
		}
		wg.Add(1)
		go mark("eml_gone") // fails, and only itself
		waitUntil(t, func() bool { marks.mu.Lock(); defer marks.mu.Unlock(); return len(marks.pending) == n })
		close(release)
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
				wantCode(t, "the mark of a missing mail", err, fulfill.ENotFound)
			}
		}
		if failed != 1 {
			t.Errorf("%d marks failed, want only the missing mail's", failed)
		}
		for i := range n {
			if got, _ := db.Email(ctx, fmt.Sprintf("eml_%02d", i)); got.Status != "sent" || got.SentAt == nil || !got.SentAt.Equal(sent) {
				t.Errorf("eml_%02d after its mark returned: %+v", i, got)
			}
		}
		// One transaction for the held group, one for the twenty waiting,
		// which failed on the missing mail and was written again one by one.
		if len(groups) != 2 || groups[0] != 1 || groups[1] != n {
			t.Errorf("groups written: %v, want [1 %d]", groups, n)
		}
		if got := db.WriteTransactions() - before; got != 2+n {
			t.Errorf("%d write transactions, want %d", got, 2+n)
		}

		// Without a bad mark, the twenty go in one transaction.
		groups = nil
		release = make(chan struct{})
		for i := range n {
			inTx(t, db, func(tx *Tx) error {
				return tx.exec(`UPDATE emails SET status = 'pending', sent_at = NULL WHERE id = $1`, fmt.Sprintf("eml_%02d", i))
			})
		}
		before = db.WriteTransactions()
		errs = make(chan error, n+1)
		wg.Add(1)
		go mark("eml_00")
		waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(groups) == 1 })
		for i := 1; i < n; i++ {
			wg.Add(1)
			go mark(fmt.Sprintf("eml_%02d", i))
		}
		waitUntil(t, func() bool { marks.mu.Lock(); defer marks.mu.Unlock(); return len(marks.pending) == n-1 })
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := db.WriteTransactions() - before; got != 2 {
			t.Errorf("%d write transactions for %d marks, want 2 (the held one, then the rest together)", got, n)
		}
	})
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
