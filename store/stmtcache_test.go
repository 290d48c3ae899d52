package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// cachedStatements is how many compiled statements the SQLite writer's
// connection keeps, or -1 when it keeps none (no statement cache).
func cachedStatements(t *testing.T, db *DB) int {
	t.Helper()
	conn, err := db.Write.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	if err := conn.Raw(func(dc any) error {
		if c, ok := dc.(*cachingConn); ok {
			n = c.lru.Len()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSQLiteCompilesARepeatedStatementOnce: the same statement run many
// times with new arguments is compiled once and kept by the connection,
// and its answers are the right ones each time.
func TestSQLiteCompilesARepeatedStatementOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openMigrated(t, dbtest.SQLiteURL(t))
	before := cachedStatements(t, db)
	if before < 0 {
		t.Fatal("the SQLite writer keeps no compiled statements")
	}
	const q = `SELECT $1 + 1`
	for i := range 50 {
		var got int
		if err := db.Write.QueryRowContext(ctx, q, i).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != i+1 {
			t.Fatalf("run %d: got %d, want %d", i, got, i+1)
		}
	}
	if after := cachedStatements(t, db); after != before+1 {
		t.Fatalf("after 50 runs of one statement the connection keeps %d statements, had %d: want one more", after, before)
	}
}

// TestSQLiteCompilesStatementsWithoutArgumentsOnce: a query or a
// statement without arguments (a savepoint of a grouped commit, the list
// of live webhook endpoints) is kept as well, while a script of several
// statements still runs whole.
func TestSQLiteCompilesStatementsWithoutArgumentsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openMigrated(t, dbtest.SQLiteURL(t))
	before := cachedStatements(t, db)
	for range 20 {
		var got int
		if err := db.Write.QueryRowContext(ctx, `SELECT 41 + 1`).Scan(&got); err != nil || got != 42 {
			t.Fatalf("SELECT 41 + 1 = %d, %v", got, err)
		}
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS kept (n INTEGER)`); err != nil {
			t.Fatal(err)
		}
	}
	if after := cachedStatements(t, db); after != before+2 {
		t.Fatalf("after 20 runs of two statements without arguments the connection keeps %d statements, had %d: want two more", after, before)
	}
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO kept (n) VALUES (1); INSERT INTO kept (n) VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Write.QueryRowContext(ctx, `SELECT COUNT(*) FROM kept`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("a script of two inserts stored %d rows (%v), want 2", n, err)
	}
}

// TestSQLiteNestedRunsOfOneStatement: a statement run again while the
// rows of its first run are still being read gets a statement of its own;
// neither run disturbs the other, and a failed run leaves the statement
// usable.
func TestSQLiteNestedRunsOfOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openMigrated(t, dbtest.SQLiteURL(t))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for i := range 3 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO sequences (name, value) VALUES ($1, $2)`, "nest"+string(rune('a'+i)), i); err != nil {
				return err
			}
		}
		const q = `SELECT name, value FROM sequences WHERE name LIKE $1 ORDER BY name`
		outer, err := tx.QueryContext(ctx, q, "nest%")
		if err != nil {
			return err
		}
		defer outer.Close()
		n := 0
		for outer.Next() {
			var name string
			var v int
			if err := outer.Scan(&name, &v); err != nil {
				return err
			}
			inner, err := tx.QueryContext(ctx, q, name)
			if err != nil {
				return err
			}
			m := 0
			for inner.Next() {
				var iname string
				var iv int
				if err := inner.Scan(&iname, &iv); err != nil {
					return err
				}
				if iname != name || iv != v {
					t.Errorf("inner run for %s read %s=%d", name, iname, iv)
				}
				m++
			}
			inner.Close()
			if m != 1 {
				t.Errorf("inner run for %s: %d rows, want 1", name, m)
			}
			n++
		}
		if n != 3 {
			t.Errorf("outer run: %d rows, want 3", n)
		}
		return outer.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	// A constraint failure, then the same statement succeeds.
	const ins = `INSERT INTO sequences (name, value) VALUES ($1, $2)`
	if _, err := db.Write.ExecContext(ctx, ins, "nesta", 9); err == nil {
		t.Fatal("duplicate name inserted")
	}
	if _, err := db.Write.ExecContext(ctx, ins, "nestz", 9); err != nil {
		t.Fatalf("after a failed run: %v", err)
	}
}

type batchArgs struct{ N int }

func (batchArgs) Kind() string { return "test.batch" }

// TestEnqueuedJobsInsertedTogetherAtCommit: the jobs a transaction enqueues
// are inserted together when the use case is done (one statement, not one
// each), all of them if it commits and none if it fails; a unique job
// enqueued twice is inserted once.
func TestEnqueuedJobsInsertedTogetherAtCommit(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		ctx := context.Background()
		db := openMigrated(t, url)
		count := func(q querier) int {
			var n int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'test.batch'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		err := db.InTx(ctx, func(tx *Tx) error {
			for i := range 3 {
				if err := tx.Enqueue(batchArgs{N: i}, nil); err != nil {
					return err
				}
			}
			if n := count(tx.tx); n != 0 {
				t.Errorf("%d jobs inserted one by one while the use case runs: want them inserted together at its end", n)
			}
			unique := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
			for range 2 {
				if err := tx.Enqueue(batchArgs{N: 99}, unique); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(db.Write); n != 4 {
			t.Fatalf("after commit: %d jobs, want 3 and the unique one once", n)
		}
		err = db.InTx(ctx, func(tx *Tx) error {
			if err := tx.Enqueue(batchArgs{N: 5}, nil); err != nil {
				return err
			}
			return context.Canceled // the use case fails
		})
		if err == nil {
			t.Fatal("failed use case committed")
		}
		if n := count(db.Write); n != 4 {
			t.Fatalf("after a failed use case: %d jobs, want still 4", n)
		}
	})
}

// TestPoolsKeepTheirConnectionsUnderLoad: concurrent reads beyond
// database/sql's default of 2 idle connections do not close and reopen
// connections (each reopening parses the schema again on SQLite and loses
// its compiled statements; on PostgreSQL it is a new backend).
func TestPoolsKeepTheirConnectionsUnderLoad(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					var got int
					if err := db.Read.QueryRowContext(ctx, `SELECT $1 + 1`, i).Scan(&got); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for name, p := range map[string]*sql.DB{"read": db.Read, "write": db.Write} {
			if st := p.Stats(); st.MaxIdleClosed != 0 {
				t.Errorf("%s pool closed %d connections for want of idle room (open %d, max %d)", name, st.MaxIdleClosed,
					st.OpenConnections, st.MaxOpenConnections)
			}
		}
	})
}

// TestEventsOfATransactionDispatchedByOneJob: the events one transaction
// emits are dispatched by a single job that names them in order (a
// purchase emits three: one job, not three to insert, fetch and complete);
// a job of the old shape still names its one event.
func TestEventsOfATransactionDispatchedByOneJob(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		var ids []string
		inTx(t, db, func(tx *Tx) error {
			ids = nil
			for _, typ := range []string{"a.one", "a.two", "a.three"} {
				e, err := tx.EmitEvent(typ, "sub_1", nil, map[string]int{"n": 1}, t0)
				if err != nil {
					return err
				}
				ids = append(ids, e.ID)
			}
			return nil
		})
		args := "args::text"
		if db.Dialect == SQLite {
			args = "json(args)" // River keeps JSONB there
		}
		rows, err := db.Read.QueryContext(ctx, `SELECT `+args+` FROM river_job WHERE kind = 'event.dispatch'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var jobs []EventArgs
		for rows.Next() {
			var raw []byte
			var a EventArgs
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, a)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 || !slices.Equal(jobs[0].IDs(), ids) {
			t.Fatalf("dispatch jobs = %+v, want one naming %v", jobs, ids)
		}
		if got := (EventArgs{EventID: "evt_old"}).IDs(); !slices.Equal(got, []string{"evt_old"}) {
			t.Errorf("old-shape job names %v", got)
		}
	})
}

// TestCopiesStoreTheSameTokenAtOnce: copies of the server started together
// with the same admin token each store it; none fails with a duplicate.
func TestCopiesStoreTheSameTokenAtOnce(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		for round := range 20 {
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			hash := fmt.Sprintf("hash-%d", round)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- db.PutToken(ctx, fmt.Sprintf("admin-%d", round), hash, "admin", t0)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		}
	})
}

// A statement whose LIMIT is a parameter is kept once per value bound
// there: SQLite compiles such a statement again (sqlite3Reprepare) when a
// run binds another value than the one it was compiled with, and River's
// job fetch binds the number of free workers, different on nearly every
// fetch (about ten times the CPU of a run: BenchmarkSQLiteVaryingLimit).
func TestSQLiteKeepsAStatementPerBoundLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openMigrated(t, dbtest.SQLiteURL(t))
	for i := range 5 {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO sequences (name, value) VALUES ($1, $2)`, fmt.Sprintf("lim%d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	before := cachedStatements(t, db)
	for i := range 20 {
		limit := 1 + i%3
		var n int
		if err := db.Write.QueryRowContext(ctx, varyingLimitQuery, "lim", limit).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != limit {
			t.Fatalf("LIMIT %d gave %d rows", limit, n)
		}
	}
	if after := cachedStatements(t, db); after != before+3 {
		t.Fatalf("after runs with three LIMIT values the connection keeps %d statements, had %d: want three more", after, before)
	}
	// Many values: at most maxLimitVariants of them, then the text's own.
	for limit := range 3 * maxLimitVariants {
		var n int
		if err := db.Write.QueryRowContext(ctx, varyingLimitQuery, "lim", limit).Scan(&n); err != nil || n != min(limit, 5) {
			t.Fatalf("LIMIT %d gave %d rows, %v", limit, n, err)
		}
	}
	if after := cachedStatements(t, db); after != before+maxLimitVariants+1 {
		t.Fatalf("after runs with %d LIMIT values the connection keeps %d statements, had %d: want %d more",
			3*maxLimitVariants, after, before, maxLimitVariants+1)
	}
}

// varyingLimitQuery has the shape of River's job fetch: rows chosen by a
// subquery whose LIMIT is bound.
const varyingLimitQuery = `SELECT COUNT(*) FROM sequences WHERE name IN (
	SELECT name FROM sequences WHERE name >= $1 ORDER BY name LIMIT $2)`

func BenchmarkSQLiteVaryingLimit(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, dbtest.SQLiteURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for _, vary := range []bool{false, true} {
		b.Run(map[bool]string{false: "same", true: "varies"}[vary], func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				limit := 2
				if vary {
					limit = 1 + i%2
				}
				var n int
				if err := db.Write.QueryRowContext(ctx, varyingLimitQuery, "a", limit).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
