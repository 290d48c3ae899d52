package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func openMigrated(t *testing.T, url string) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func testCustomer(id string) *fulfill.Customer {
	return &fulfill.Customer{ID: id, Email: id + "@example.com", Name: "Ann", Country: "US", Currency: "USD",
		ContactName: "Ann", ContactEmail: id + "@example.com", BillingName: "Ann", BillingEmail: id + "@example.com",
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func insertCustomer(t *testing.T, db *DB, id string) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *Tx) error { return tx.InsertCustomer(testCustomer(id)) }); err != nil {
		t.Fatal(err)
	}
}

// The store alone decides "not found" and "conflict"; every other failure
// stays an internal error, on both databases.
func TestStoreMapsNoRowsAndUniqueViolationOnly(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		insertCustomer(t, db, "cus_1")

		_, err := db.Customer(ctx, "cus_missing")
		if got := fulfill.ErrorCode(err); got != fulfill.ENotFound {
			t.Errorf("no rows (pool read): code %q (%v), want %q", got, err, fulfill.ENotFound)
		}
		err = db.InTx(ctx, func(tx *Tx) error { _, err := tx.Customer("cus_missing"); return err })
		if got := fulfill.ErrorCode(err); got != fulfill.ENotFound {
			t.Errorf("no rows (in a transaction): code %q (%v), want %q", got, err, fulfill.ENotFound)
		}
		err = db.InTx(ctx, func(tx *Tx) error { return tx.InsertCustomer(testCustomer("cus_1")) })
		if got := fulfill.ErrorCode(err); got != fulfill.EConflict {
			t.Errorf("unique violation: code %q (%v), want %q", got, err, fulfill.EConflict)
		}
		err = db.InTx(ctx, func(tx *Tx) error { return mapErr(tx.exec(`SELEC 1`), "Thing") })
		if got := fulfill.ErrorCode(err); got != fulfill.EInternal || err == nil {
			t.Errorf("syntax error: code %q (%v), want %q", got, err, fulfill.EInternal)
		}
	})
}

// A lock that can not be had in time is an internal error, never "not
// found": PostgreSQL's lock_timeout, SQLite's busy timeout.
func TestStoreLockTimeoutStaysInternal(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := dbtest.PostgresURL(t)
		db := openMigrated(t, url)
		ctx := context.Background()
		insertCustomer(t, db, "cus_1")
		holder, err := db.Write.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		if _, err := holder.ExecContext(ctx, `SELECT id FROM customers WHERE id = 'cus_1' FOR UPDATE`); err != nil {
			t.Fatal(err)
		}
		err = db.InTx(ctx, func(tx *Tx) error {
			if err := tx.exec(`SET LOCAL lock_timeout = '100ms'`); err != nil {
				return err
			}
			_, err := tx.Customer("cus_1")
			return err
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
			t.Fatalf("err = %v, want lock_not_available (55P03)", err)
		}
		if got := fulfill.ErrorCode(err); got != fulfill.EInternal {
			t.Errorf("lock timeout: code %q, want %q", got, fulfill.EInternal)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := dbtest.SQLitePath(t)
		db := openMigrated(t, "file:"+path+"?busy_timeout=50")
		ctx := context.Background()
		insertCustomer(t, db, "cus_1")
		// Another connection (as another process would) holds the write lock.
		other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(50)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		holder, err := other.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		err = db.InTx(ctx, func(tx *Tx) error { _, err := tx.Customer("cus_1"); return err })
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("err = %v, want SQLITE_BUSY", err)
		}
		if got := fulfill.ErrorCode(err); got != fulfill.EInternal {
			t.Errorf("busy: code %q, want %q", got, fulfill.EInternal)
		}
		if got := fulfill.ErrorCode(mapErr(err, "Customer")); got != fulfill.EInternal {
			t.Errorf("mapErr(busy): code %q, want %q", got, fulfill.EInternal)
		}
	})
}

// Two REPEATABLE READ transactions update the same row: PostgreSQL aborts
// the later one with a serialization failure (40001), and the transaction
// helper runs it again, which then succeeds.
func TestTxRetriesSerializationFailure(t *testing.T) {
	t.Parallel()
	db := openMigrated(t, dbtest.PostgresURL(t))
	ctx := context.Background()
	insertCustomer(t, db, "cus_1")
	var attempts atomic.Int32
	var errs []error
	err := db.InTx(ctx, func(tx *Tx) error {
		n := attempts.Add(1)
		if err := tx.exec(`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`); err != nil {
			return err
		}
		var credit int64 // reading takes the snapshot (without locking the row)
		if err := tx.tx.QueryRowContext(ctx, `SELECT credit FROM customers WHERE id = 'cus_1'`).Scan(&credit); err != nil {
			return err
		}
		if n == 1 {
			// Another transaction changes the row and commits meanwhile.
			if _, err := db.Write.ExecContext(ctx, `UPDATE customers SET credit = credit + 1 WHERE id = 'cus_1'`); err != nil {
				return err
			}
		}
		err := tx.exec(`UPDATE customers SET credit = credit + 10 WHERE id = 'cus_1'`)
		if err != nil {
			errs = append(errs, err)
		}
		return err
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if got := attempts.Load(); got != 2 {
		t.Errorf("attempts = %d, want 2", got)
	}
	var pgErr *pgconn.PgError
	if len(errs) != 1 || !errors.As(errs[0], &pgErr) || pgErr.Code != "40001" {
		t.Errorf("first attempt failed with %v, want one serialization failure (40001)", errs)
	}
	c, err := db.Customer(ctx, "cus_1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Credit != 11 {
		t.Errorf("credit = %d, want 11 (both updates applied once)", c.Credit)
	}
}

// Two transactions lock two rows in opposite orders: PostgreSQL breaks the
// deadlock by aborting one (40P01), which the helper runs again; both
// changes end up applied exactly once.
func TestTxRetriesDeadlock(t *testing.T) {
	t.Parallel()
	db := openMigrated(t, dbtest.PostgresURL(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	insertCustomer(t, db, "cus_a")
	insertCustomer(t, db, "cus_b")
	var attempts atomic.Int32
	var deadlocks atomic.Int32
	locked := map[string]chan struct{}{"cus_a": make(chan struct{}), "cus_b": make(chan struct{})}
	move := func(first, second string) error {
		tries := 0
		return db.InTx(ctx, func(tx *Tx) error {
			attempts.Add(1)
			tries++
			if err := tx.exec(`UPDATE customers SET credit = credit + 1 WHERE id = $1`, first); err != nil {
				return err
			}
			if tries == 1 {
				close(locked[first])
				<-locked[second] // the other transaction holds second now
			}
			err := tx.exec(`UPDATE customers SET credit = credit + 1 WHERE id = $1`, second)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "40P01" {
				deadlocks.Add(1)
			}
			return err
		})
	}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, p := range [][2]string{{"cus_a", "cus_b"}, {"cus_b", "cus_a"}} {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- move(p[0], p[1]) }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
	}
	// Usually one deadlock and three attempts; on a loaded machine the
	// victim's rerun may win the row back and deadlock once more.
	if d, a := deadlocks.Load(), attempts.Load(); d < 1 || a != 2+d {
		t.Errorf("deadlocks = %d, attempts = %d; want at least 1 deadlock, each one rerun", d, a)
	}
	for _, id := range []string{"cus_a", "cus_b"} {
		c, err := db.Customer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Credit != 2 {
			t.Errorf("%s credit = %d, want 2", id, c.Credit)
		}
	}
}

// The helper gives up after MaxTxAttempts, and never retries an error that
// is not a serialization failure or deadlock.
func TestTxRetriesAreBounded(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		for _, c := range []struct {
			name string
			err  error
			want int
		}{
			{"serialization failure", &pgconn.PgError{Code: "40001"}, MaxTxAttempts},
			{"deadlock", &pgconn.PgError{Code: "40P01"}, MaxTxAttempts},
			{"lock timeout", &pgconn.PgError{Code: "55P03"}, 1},
			{"not found", fulfill.Errorf(fulfill.ENotFound, "No."), 1},
		} {
			n := 0
			err := db.InTx(ctx, func(tx *Tx) error { n++; return c.err })
			if n != c.want || !errors.Is(err, c.err) {
				t.Errorf("%s: ran %d times, returned %v; want %d times and the error", c.name, n, err, c.want)
			}
		}
	})
}

// Only a missing schema_migrations table means "nothing applied": a failed
// read is an error, not a reason to apply every migration again.
func TestAppliedVersionsReportsReadErrors(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		applied, latest, err := db.SchemaStatus(ctx)
		if err != nil || applied != 0 || latest == 0 {
			t.Fatalf("new database: applied %d, latest %d, err %v; want 0, >0, nil", applied, latest, err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if applied, latest, err = db.SchemaStatus(ctx); err != nil || applied != latest {
			t.Fatalf("migrated: applied %d, latest %d, err %v", applied, latest, err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if applied, _, err := db.SchemaStatus(canceled); err == nil {
			t.Errorf("failed read: applied %d, err nil; want an error", applied)
		}
		if err := db.CheckSchema(canceled); err == nil {
			t.Error("CheckSchema with a failed read: nil error")
		}
	})
}

// pool_max_conns sizes the PostgreSQL pool and is not sent to the server.
func TestOpenPoolSize(t *testing.T) {
	t.Parallel()
	url := dbtest.PostgresURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := Open(context.Background(), url+sep+"pool_max_conns=5")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Write.Stats().MaxOpenConnections; got != 5 {
		t.Errorf("max open connections = %d, want 5", got)
	}
	if _, err := Open(context.Background(), url+sep+"pool_max_conns=0"); err == nil {
		t.Error("pool_max_conns=0 accepted")
	}
	def, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	if got := def.Write.Stats().MaxOpenConnections; got != DefaultMaxConns {
		t.Errorf("default max open connections = %d, want %d", got, DefaultMaxConns)
	}
}
