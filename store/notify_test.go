package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// announceArgs is a job only this test enqueues (nothing works it).
type announceArgs struct{}

func (announceArgs) Kind() string { return "store_test_announce" }

// On PostgreSQL a transaction that enqueues a job announces it (NOTIFY)
// once jobNotifyCooldown has passed since the previous announcement, so
// that the workers, who LISTEN, start it at once instead of at their next
// poll. Each enqueue waits for the previous one's announcement and for the
// cooldown.
func TestEnqueueAnnouncesEveryTransactionsJobs(t *testing.T) {
	t.Parallel()
	url := dbtest.PostgresURL(t)
	db := openMigrated(t, url)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var channel string
	if err := conn.QueryRow(ctx, `SELECT current_schema() || '.river_insert'`).Scan(&channel); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		if err := db.InTx(ctx, func(tx *Tx) error { return tx.Enqueue(announceArgs{}, nil) }); err != nil {
			t.Fatal(err)
		}
		// River stamps its announcement when the job is inserted, before
		// this commit: the cooldown counts from no later than now.
		committed := time.Now()
		// Generous: the announcement comes at the commit, or never.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("enqueue %d of 3 was not announced: %v", i+1, err)
		}
		t.Logf("enqueue %d announced on %s after %s", i+1, n.Channel, time.Since(start))
		for time.Since(committed) <= jobNotifyCooldown {
			time.Sleep(jobNotifyCooldown / 4) // River's rate limit per queue, not a machine's speed
		}
	}
}
