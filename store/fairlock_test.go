package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Issue 18: a `fulfill billing run` beside a busy server, or a bench beside
// it, failed with SQLITE_BUSY after 100,000 imported renewals: the server's
// committer ran its groups back to back, taking SQLite's write lock again
// microseconds after each commit, and another process waiting for the lock
// (SQLite's busy handler sleeps, then tries) found it taken at every try
// for the whole busy timeout. Here a second handle on the same file (as
// another process) must get the lock while the first writes without a
// pause.
func TestAnotherProcessGetsTheWriteLockFromABusyCommitter(t *testing.T) {
	t.Parallel()
	url := dbtest.SQLiteURL(t)
	busy := openMigrated(t, url)
	other, err := Open(context.Background(), url+"?busy_timeout=3000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				busy.InTx(ctx, func(tx *Tx) error {
					_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO sequences (name, value) VALUES ($1, 0)`, fmt.Sprintf("busy-%d-%d", w, i))
					time.Sleep(200 * time.Microsecond) // a use case's work, inside the lock
					return err
				})
				writes.Add(1)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	for writes.Load() < 100 {
		time.Sleep(time.Millisecond)
	}
	for i := range 5 {
		if _, err := other.Write.ExecContext(context.Background(), `INSERT INTO sequences (name, value) VALUES ($1, 0)`, fmt.Sprintf("other-%d", i)); err != nil {
			t.Fatalf("write %d of the other process while the committer is busy: %v", i, err)
		}
	}
}
