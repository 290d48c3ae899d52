package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// holdWrites runs a write transaction that inserts customer id and waits
// inside until release is closed; it returns once the transaction holds
// the write lock (on SQLite: the committer), and the channel its InTx
// answers on.
func holdWrites(t *testing.T, db *DB, id string, release <-chan struct{}) <-chan error {
	t.Helper()
	held := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(context.Background(), func(tx *Tx) error {
			if err := tx.InsertCustomer(testCustomer(id)); err != nil {
				return err
			}
			once.Do(func() { close(held) })
			<-release
			return nil
		})
	}()
	<-held
	return done
}

// waitQueued waits until n transactions wait for the next group (SQLite);
// on PostgreSQL, which has no group, it returns at once.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	if db.Dialect == Postgres {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(db.committer().queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions queued, want %d", len(db.committer().queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// wideGroups lets a group of db's grow for a minute: a test that needs
// several transactions in one group must not depend on how fast the
// machine runs each (a loaded one took more than groupMaxOpen for one).
func wideGroups(t *testing.T, db *DB) {
	t.Helper()
	if db.Dialect == Postgres {
		return
	}
	db.group.maxOpen = time.Minute
	if c := db.committer(); c.maxOpen != time.Minute {
		t.Fatal("the committer started before the test could widen its groups")
	}
}

// customerExists reports whether customer id was committed.
func customerExists(t *testing.T, db *DB, id string) bool {
	t.Helper()
	_, err := db.Customer(context.Background(), id)
	if fulfill.ErrorCode(err) == fulfill.ENotFound {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// TestGroupedWritesCommitTogetherAndFailAlone: on SQLite, write
// transactions waiting for the lock commit in one group, and one that
// fails or panics in it rolls back alone: the others commit, the failure
// reaches its own caller only, and nothing of it remains. On PostgreSQL,
// which groups flushes itself, the same calls keep the same outcomes.
func TestGroupedWritesCommitTogetherAndFailAlone(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		wideGroups(t, db)
		release := make(chan struct{})
		held := holdWrites(t, db, "cus_hold", release)
		var commits int64
		if db.Dialect != Postgres {
			commits = db.committer().commits.Load()
		}

		failure := fulfill.Errorf(fulfill.EInvalid, "No.")
		type outcome struct {
			id    string
			err   error
			panic any
		}
		outcomes := make(chan outcome, 5)
		run := func(id string, end func() error) {
			go func() {
				o := outcome{id: id}
				defer func() {
					o.panic = recover()
					outcomes <- o
				}()
				o.err = db.InTx(ctx, func(tx *Tx) error {
					if err := tx.InsertCustomer(testCustomer(id)); err != nil {
						return err
					}
					return end()
				})
			}()
		}
		ok := func() error { return nil }
		for i, c := range []struct {
			id  string
			end func() error
		}{
			{"cus_ok1", ok},
			{"cus_fails", func() error { return failure }},
			{"cus_ok2", ok},
			{"cus_panics", func() error { panic("boom") }},
			{"cus_ok3", ok},
		} {
			run(c.id, c.end)
			waitQueued(t, db, i+1) // in this order
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		got := map[string]outcome{}
		for range 5 {
			o := <-outcomes
			got[o.id] = o
		}
		for _, id := range []string{"cus_ok1", "cus_ok2", "cus_ok3"} {
			if o := got[id]; o.err != nil || o.panic != nil {
				t.Errorf("%s: err %v, panic %v; want it committed", id, o.err, o.panic)
			}
			if !customerExists(t, db, id) {
				t.Errorf("%s is not stored", id)
			}
		}
		if o := got["cus_fails"]; !errors.Is(o.err, failure) || o.panic != nil {
			t.Errorf("the failing transaction: err %v, panic %v; want its own error", o.err, o.panic)
		}
		if o := got["cus_panics"]; o.panic != "boom" || o.err != nil {
			t.Errorf("the panicking transaction: err %v, panic %v; want its panic", o.err, o.panic)
		}
		for _, id := range []string{"cus_fails", "cus_panics"} {
			if customerExists(t, db, id) {
				t.Errorf("%s is stored, though its transaction failed", id)
			}
		}
		if db.Dialect != Postgres {
			// All six in one group (its age closes none here), or the
			// one holding and then the five; one commit each would be
			// four or more.
			if n := db.committer().commits.Load() - commits; n > 2 {
				t.Errorf("%d commits, want at most 2: the held transaction's and one for the five queued behind it", n)
			}
		}
	})
}

// TestGroupThatBreaksRunsEachTransactionAlone: when the group's
// transaction itself is lost (SQLite rolls a transaction back on some I/O
// errors; here a member ends it), each use case in the group runs again in
// a transaction of its own, and those that can commit do.
func TestGroupThatBreaksRunsEachTransactionAlone(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		// The three must share a group however slowly a loaded machine
		// runs them: no group closes for its age.
		wideGroups(t, db)
		release := make(chan struct{})
		held := holdWrites(t, db, "cus_hold", release)
		var mu sync.Mutex
		runs := map[string]int{}
		errs := make(chan error, 3)
		for i, id := range []string{"cus_before", "cus_breaks", "cus_after"} {
			go func() {
				errs <- db.InTx(ctx, func(tx *Tx) error {
					mu.Lock()
					runs[id]++
					mu.Unlock()
					if err := tx.InsertCustomer(testCustomer(id)); err != nil {
						return err
					}
					if id == "cus_breaks" {
						return tx.exec(`ROLLBACK`) // the whole transaction, not a savepoint
					}
					return nil
				})
			}()
			waitQueued(t, db, i+1)
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		failed := 0
		for range 3 {
			if err := <-errs; err != nil {
				failed++
			}
		}
		for _, id := range []string{"cus_before", "cus_after"} {
			if !customerExists(t, db, id) {
				t.Errorf("%s is not stored", id)
			}
		}
		if customerExists(t, db, "cus_breaks") {
			t.Error("cus_breaks is stored, though it rolled back")
		}
		if db.Dialect != Postgres {
			if failed != 1 {
				t.Errorf("%d transactions failed, want 1 (the one that broke its transaction)", failed)
			}
			if runs["cus_before"] != 2 {
				t.Errorf("cus_before ran %d times, want 2: in the group, then alone", runs["cus_before"])
			}
		}
	})
}

// TestGroupedWriteGivenUpBeforeItRunsNeverRuns: a caller whose context
// ends while its transaction waits for the lock gets the context's error
// at once, and its function never runs. SQLite only: PostgreSQL's
// transactions do not queue for one lock, and the group is SQLite's.
func TestGroupedWriteGivenUpBeforeItRunsNeverRuns(t *testing.T) {
	t.Parallel()
	db := openMigrated(t, dbtest.SQLiteURL(t))
	ctx := context.Background()
	{
		release := make(chan struct{})
		held := holdWrites(t, db, "cus_hold", release)
		cctx, cancel := context.WithCancel(ctx)
		ran := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- db.InTx(cctx, func(tx *Tx) error { ran <- struct{}{}; return nil })
		}()
		waitQueued(t, db, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("InTx = %v, want context.Canceled", err)
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		// The next write runs after the abandoned one would have.
		insertCustomer(t, db, "cus_next")
		select {
		case <-ran:
			t.Error("the abandoned transaction ran")
		default:
		}
	}
}

// TestGroupedWritesAfterCloseFail: a write asked of a closed DB fails
// instead of waiting for ever.
func TestGroupedWritesAfterCloseFail(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_1")
		db.Close()
		done := make(chan error, 1)
		go func() { done <- db.InTx(ctx, func(tx *Tx) error { return tx.InsertCustomer(testCustomer("cus_2")) }) }()
		select {
		case err := <-done:
			if err == nil {
				t.Error("a write on a closed DB succeeded")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a write on a closed DB still waits after 30 s")
		}
	})
}

// TestFirstMemberOfAGroupFailsAloneAndTheRestCommitTogether: the first
// use case of a group runs without a savepoint; when it fails (here while
// the others wait behind it), the transaction rolls back with nothing of it
// left, it gets its own error, and those queued behind it commit in one
// group of their own.
func TestFirstMemberOfAGroupFailsAloneAndTheRestCommitTogether(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		release := make(chan struct{})
		held := make(chan struct{})
		failure := fulfill.Errorf(fulfill.EInvalid, "No.")
		first := make(chan error, 1)
		go func() {
			first <- db.InTx(ctx, func(tx *Tx) error {
				if err := tx.InsertCustomer(testCustomer("cus_first")); err != nil {
					return err
				}
				select {
				case <-held:
				default:
					close(held)
				}
				<-release
				return failure
			})
		}()
		<-held
		var commits int64
		if db.Dialect != Postgres {
			commits = db.committer().commits.Load()
		}
		rest := make(chan error, 2)
		for i, id := range []string{"cus_behind1", "cus_behind2"} {
			go func() {
				rest <- db.InTx(ctx, func(tx *Tx) error { return tx.InsertCustomer(testCustomer(id)) })
			}()
			waitQueued(t, db, i+1)
		}
		close(release)
		if err := <-first; !errors.Is(err, failure) {
			t.Fatalf("the first transaction: %v, want its own error", err)
		}
		for range 2 {
			if err := <-rest; err != nil {
				t.Errorf("a transaction behind the failed one: %v", err)
			}
		}
		if customerExists(t, db, "cus_first") {
			t.Error("the failed first transaction left its customer")
		}
		for _, id := range []string{"cus_behind1", "cus_behind2"} {
			if !customerExists(t, db, id) {
				t.Errorf("%s is not stored", id)
			}
		}
		if db.Dialect != Postgres {
			if n := db.committer().commits.Load() - commits; n > 2 {
				t.Errorf("%d commits, want one for the two behind the failed one (two if the first took longer than groupMaxOpen)", n)
			}
		}
	})
}

// TestFirstMemberThatEndsItsTransactionRunsAgainAlone: a first use case
// that ends the group's transaction itself (SQLite does on some errors;
// here it rolls back) loses the group, as a later member's does: it runs
// again alone, and those behind it commit, each once.
func TestFirstMemberThatEndsItsTransactionRunsAgainAlone(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		if db.Dialect == Postgres {
			return // no group
		}
		release := make(chan struct{})
		held := make(chan struct{})
		var mu sync.Mutex
		runs := map[string]int{}
		first := make(chan error, 1)
		go func() {
			first <- db.InTx(ctx, func(tx *Tx) error {
				mu.Lock()
				runs["cus_ends"]++
				mu.Unlock()
				if err := tx.InsertCustomer(testCustomer("cus_ends")); err != nil {
					return err
				}
				select {
				case <-held:
				default:
					close(held)
				}
				<-release
				return tx.exec(`ROLLBACK`) // the whole transaction
			})
		}()
		<-held
		rest := make(chan error, 2)
		for i, id := range []string{"cus_next1", "cus_next2"} {
			go func() {
				rest <- db.InTx(ctx, func(tx *Tx) error {
					mu.Lock()
					runs[id]++
					mu.Unlock()
					return tx.InsertCustomer(testCustomer(id))
				})
			}()
			waitQueued(t, db, i+1)
		}
		close(release)
		if err := <-first; err == nil {
			t.Error("the transaction that ended itself reported success")
		}
		for range 2 {
			if err := <-rest; err != nil {
				t.Errorf("a transaction behind it: %v", err)
			}
		}
		if customerExists(t, db, "cus_ends") {
			t.Error("cus_ends is stored, though it rolled back")
		}
		for _, id := range []string{"cus_next1", "cus_next2"} {
			if !customerExists(t, db, id) || runs[id] != 1 {
				t.Errorf("%s: stored %v, ran %d times; want stored, once", id, customerExists(t, db, id), runs[id])
			}
		}
		if runs["cus_ends"] != 2 {
			t.Errorf("cus_ends ran %d times, want 2: first in the group, then alone", runs["cus_ends"])
		}
	})
}
