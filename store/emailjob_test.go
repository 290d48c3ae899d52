package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// Issue 18: a transaction's mails go out in one job, but a transaction of
// many mails (a billing batch queues two a renewal, 200 for a batch of
// 100) has a job per 20 of them, in order: one job sending 200 mails one
// after another kept the email queue's other workers idle and could run
// into River's job timeout.
func TestManyMailsOfATransactionAreSplitIntoJobs(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		var queued []string
		inTx(t, db, func(tx *Tx) error {
			for i := range 45 {
				id := fmt.Sprintf("em_%02d", i)
				queued = append(queued, id)
				tx.EnqueueEmail(id)
			}
			return nil
		})
		args := `json(args)`
		if db.Dialect == Postgres {
			args = `args::text`
		}
		rows, err := db.Read.QueryContext(ctx, `SELECT `+args+` FROM river_job WHERE kind = $1 ORDER BY id`, SendEmailArgs{}.Kind())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var sizes []int
		var sent []string
		for rows.Next() {
			var raw string
			var a SendEmailArgs
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(raw), &a); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(a.IDs()))
			sent = append(sent, a.IDs()...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sizes, []int{20, 20, 5}) || !slices.Equal(sent, queued) {
			t.Errorf("45 mails went into jobs of %v (%v), want 20, 20 and 5, in order", sizes, sent)
		}
	})
}
