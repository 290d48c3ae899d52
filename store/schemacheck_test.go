package store

import (
	"context"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Issue 18, start-up: on a schema that is current (every start but the
// first after an upgrade) Migrate finds it so with one query and takes no
// lock: it returns while another process holds the migration lock (the
// advisory lock on PostgreSQL, SQLite's write lock), where before it
// waited for the lock.
func TestMigrateOnACurrentSchemaTakesNoLock(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openMigrated(t, url)
		other := openMigrated(t, url)
		release := holdMigrationLock(t, other)
		// Only a failure waits this long: with the lock taken, Migrate
		// would wait for it until the deadline.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := db.Migrate(wctx); err != nil {
			t.Fatalf("Migrate on a current schema while another holds the migration lock: %v", err)
		}
		release()
		// A schema missing a migration is not current: Migrate takes the
		// lock and applies it.
		if _, err := db.Write.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = 1`); err != nil {
			t.Fatal(err)
		}
		if db.schemaCurrent(ctx, mustMigrations(t, db)) {
			t.Error("a schema missing a migration is reported current")
		}
	})
}

func mustMigrations(t *testing.T, db *DB) []migration {
	t.Helper()
	ms, err := db.migrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// holdMigrationLock takes the lock Migrate takes, through db, until the
// returned function releases it.
func holdMigrationLock(t *testing.T, db *DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	if db.Dialect == Postgres {
		conn, err := db.Write.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
			t.Fatal(err)
		}
		return func() {
			conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
			conn.Close()
		}
	}
	tx, err := db.Write.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}
