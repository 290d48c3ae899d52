package main

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// Issue 18, start-up: a restart answers as soon as the database, the keys,
// the catalog and the admin token are ready; the jobs' start (River writes
// a row per queue) comes after and does not hold the first answer back.
// Here another process holds the lock those writes need (SQLite's write
// lock; on PostgreSQL the river_queue table) while a copy restarts: it
// answers /healthz and an authenticated API read all the same. Once the
// lock is released the jobs start and a purchase's jobs are worked. Before,
// the copy served nothing until it got the lock.
func TestRestartAnswersBeforeTheJobsHaveStarted(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		args := serveArgs(t, dbURL)
		first := spawnCopy(t, args, nil)
		first.serving(t)
		first.terminate(t)

		db, err := store.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tx, err := db.Write.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE, the write lock
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if db.Dialect == store.Postgres {
			if _, err := tx.ExecContext(ctx, `LOCK TABLE river_queue IN EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
		}

		second := spawnCopy(t, args, nil)
		s := &server{t: t, addr: second.serving(t)}
		if st, _, body := get(t, s.addr+"/healthz"); st != 200 {
			t.Fatalf("healthz while the jobs wait for the lock: %d %s", st, body)
		}
		if st, _, body := get(t, s.addr+"/api/v1/plans"); st != 200 {
			t.Fatalf("GET /api/v1/plans while the jobs wait for the lock: %d %.300s", st, body)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}

		done := completedJobs(t, db.Read)
		buy(t, s, "after-the-lock@example.com")
		waitFor(t, "the purchase's jobs to be worked", time.Minute, func() bool { return completedJobs(t, db.Read) > done })
		second.terminate(t)
	})
}

func completedJobs(t *testing.T, q *sql.DB) int {
	t.Helper()
	var n int
	if err := q.QueryRow(`SELECT COUNT(*) FROM river_job WHERE state = 'completed'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
