package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Issue 11, acceptance 2 (in-process half): two Opens with their own pools
// migrate one empty database at the same instant, ten rounds on each
// database; both succeed and the schema is complete once.
func TestMigrateConcurrentStartsSerialize(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{SQLite, Postgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel() // each round on a database of its own
			for round := 0; round < 10; round++ {
				url := dbtest.SQLiteURL(t)
				if dialect == Postgres {
					url = dbtest.PostgresURL(t)
				}
				ctx := context.Background()
				start := make(chan struct{})
				errs := make([]error, 2)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						db, err := Open(ctx, url)
						if err != nil {
							errs[i] = err
							return
						}
						defer db.Close()
						<-start
						errs[i] = db.Migrate(ctx)
					}()
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("round %d: process %d: %v", round, i, err)
					}
				}
				db := openMigrated(t, url)
				if applied, latest, err := db.SchemaStatus(ctx); err != nil || applied != latest {
					t.Fatalf("round %d: schema at %d of %d (%v)", round, applied, latest, err)
				}
			}
		})
	}
}

// Durability on SQLite: a database as Open sets it up is durable; switched
// to synchronous=OFF it is reported. (PostgreSQL: see
// TestStartRefusedWhenCommitsAreNotDurable in cmd/fulfill, on a durable
// cluster of its own; the shared test cluster runs with fsync off.)
func TestDurabilityReportsCommitsThatCanBeLost(t *testing.T) {
	t.Parallel()
	db := openMigrated(t, dbtest.SQLiteURL(t))
	ctx := context.Background()
	if err := db.Durability(ctx); err != nil {
		t.Fatalf("a fresh database: %v", err)
	}
	// The writer is one connection: the setting sticks.
	if _, err := db.Write.ExecContext(ctx, "PRAGMA synchronous = OFF"); err != nil {
		t.Fatal(err)
	}
	if err := db.Durability(ctx); err == nil || !strings.Contains(err.Error(), "synchronous = 0") {
		t.Fatalf("after synchronous = OFF: %v", err)
	}
}

// Classify: failures to reach the database become database_unavailable,
// keeping the cause; other errors keep their meaning.
func TestClassifyTellsOutagesFromOtherErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "SELECT 1")
	got := Classify(fmt.Errorf("list customers: %w", err))
	if fulfill.ErrorCode(got) != fulfill.EUnavailable || !strings.Contains(got.Error(), "connect") {
		t.Fatalf("connection refused classified as %q: %v", fulfill.ErrorCode(got), got)
	}
	for _, other := range []error{errors.New("syntax error"), fulfill.Errorf(fulfill.ENotFound, "x"), context.Canceled,
		&pgconn.PgError{Code: "23505"}} {
		if c := fulfill.ErrorCode(Classify(other)); c == fulfill.EUnavailable {
			t.Errorf("%v classified as unavailable", other)
		}
	}
	if fulfill.ErrorCode(Classify(&pgconn.PgError{Code: "57P01"})) != fulfill.EUnavailable {
		t.Error("admin_shutdown not classified as unavailable")
	}
}
