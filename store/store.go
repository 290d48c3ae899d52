// Package store keeps Fulfill's data in SQLite (the embedded default) or
// PostgreSQL (production), behind the same methods and the same SQL where the
// two agree. Migrations are embedded, numbered and applied in a transaction.
// The store alone decides that a row is not found or a change conflicts
// (fulfill.ENotFound, fulfill.EConflict); its contract is tested on both
// databases, and so is that both migration trees describe one schema.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	neturl "net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fulfillhq/fulfill"
)

//go:embed migrations
var migrations embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is an open database.
type DB struct {
	Dialect string
	// Write is the connection that writes. On SQLite it is one connection, so
	// writers queue instead of failing with SQLITE_BUSY; River shares it.
	Write *sql.DB
	// Read serves reads that need no transaction. On PostgreSQL it is Write.
	Read *sql.DB

	jobs *river.Client[*sql.Tx] // insert-only: workers run elsewhere

	// listen is a small pgx pool (PostgreSQL only) from which River takes
	// the connection it LISTENs on, so that its workers hear of new jobs
	// instead of polling for them.
	listen *pgxpool.Pool

	// The simulated clock reads its row through a pool of its own (see
	// SimClock), opened on first use from these.
	clockDriver, clockDSN string
	clockMu               sync.Mutex
	clockPool             *sql.DB

	group groupState // SQLite: InTx's transactions, committed in groups (group.go)

	writeTxs atomic.Int64 // write transactions begun (see WriteTransactions)
	trips    atomic.Int64 // calls write transactions made to the database (see WriteRoundTrips)
	// ends counts, on PostgreSQL, the COMMITs and ROLLBACKs database/sql
	// sent on their own, not with a batch (keepTx); nil on SQLite.
	ends *atomic.Int64
	// refs are the schema's foreign keys and triggers, read once by the
	// first transaction that numbers its invoices at commit (latenumber.go).
	refs atomic.Pointer[tableRefs]
}

// WriteRoundTrips is how many calls write transactions have made to the
// database: each statement run at once, and each batch of kept statements
// sent together (pipeline.go), counts one; so does River's insert of a
// transaction's jobs where it runs as a statement of its own (SQLite), not
// where it goes with the COMMIT (PostgreSQL, keepconn.go). On PostgreSQL each is a round trip over the network, so tests
// count them to keep bulk work (imports) batched.
func (db *DB) WriteRoundTrips() int64 { return db.trips.Load() }

// WriteTransactions is how many write transactions (InTx and its kin) this
// DB has begun: on SQLite each holds the only write lock, so tests and the
// bench count them.
func (db *DB) WriteTransactions() int64 { return db.writeTxs.Load() }

// DefaultMaxConns is the size of the PostgreSQL connection pool when the
// URL does not say.
const DefaultMaxConns = 20

// DefaultConnectTimeoutSeconds bounds a PostgreSQL connect when the URL
// has no connect_timeout.
const DefaultConnectTimeoutSeconds = 5

// DefaultBusyTimeout is how long an SQLite statement waits for a lock
// another connection (or process) holds before failing with SQLITE_BUSY.
const DefaultBusyTimeout = 10 * time.Second

// CheckURL refuses a database URL with a scheme Open does not know, such
// as mysql://…, which would otherwise name an SQLite file "mysql:/…". A
// plain path (a one-letter Windows drive included) is an SQLite file.
func CheckURL(url string) error {
	for _, p := range []string{"postgres://", "postgresql://", "sqlite://", "file:"} {
		if strings.HasPrefix(url, p) {
			return nil
		}
	}
	i := strings.IndexByte(url, ':')
	if i < 2 {
		return nil
	}
	for j, r := range url[:i] {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return nil // not a scheme: a path with a colon in it
		}
	}
	return fmt.Errorf("%q: unknown scheme %q: want postgres://, postgresql://, sqlite://, file: or a file path", redactURL(url), url[:i])
}

// redactURL hides the user info of a URL, which may hold a password.
func redactURL(url string) string {
	if at := strings.LastIndexByte(url, '@'); at >= 0 {
		if s := strings.Index(url, "://"); s >= 0 && s < at {
			return url[:s+3] + "…" + url[at:]
		}
	}
	return url
}

// Open opens the database named by url: "postgres://…" or "postgresql://…"
// for PostgreSQL, "sqlite://…", "file:…" or a plain path for an SQLite
// file; any other scheme is refused (CheckURL).
//
// PostgreSQL URLs may carry pool_max_conns=N (default 20), the size of the
// connection pool; other parameters go to the server (lock_timeout=2s, …).
// SQLite paths may carry ?busy_timeout=MILLISECONDS (default 10000).
func Open(ctx context.Context, url string) (*DB, error) {
	if err := CheckURL(url); err != nil {
		return nil, err
	}
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		dsn, maxConns, err := poolSize(url)
		if err != nil {
			return nil, err
		}
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL URL: %w", err)
		}
		// keepConnector: River's job insert goes with the COMMIT (keepconn.go).
		ends := new(atomic.Int64)
		db := sql.OpenDB(keepConnector{stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(afterConnect)), ends})
		// Every connection may stay idle: a pool that keeps fewer idle
		// than it opens closes and reopens connections under load (a
		// PostgreSQL backend and its authentication each time).
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		listen, err := listenPool(dsn)
		if err != nil {
			db.Close()
			return nil, err
		}
		out, err := newDB(Postgres, db, db, listen)
		if out != nil {
			out.clockDriver, out.clockDSN = "pgx", dsn
			out.ends = ends
		}
		return out, err
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
	busy := DefaultBusyTimeout
	if i := strings.IndexByte(path, '?'); i >= 0 {
		q, err := neturl.ParseQuery(path[i+1:])
		if err != nil {
			return nil, fmt.Errorf("SQLite URL parameters: %w", err)
		}
		if v := q.Get("busy_timeout"); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms < 0 {
				return nil, fmt.Errorf("SQLite busy_timeout=%q: want milliseconds", v)
			}
			busy = time.Duration(ms) * time.Millisecond
		}
		path = path[:i]
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	if err := restrictFile(path); err != nil {
		return nil, err
	}
	// busy_timeout first so every later pragma waits instead of failing;
	// synchronous=FULL because these rows are money.
	dsn := "file:" + path + fmt.Sprintf("?_pragma=busy_timeout(%d)", busy.Milliseconds()) + "&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(ON)&_pragma=synchronous(FULL)&_time_format=sqlite"
	// BEGIN IMMEDIATE on the writer: a transaction takes the write lock when
	// it starts (waiting per busy_timeout) instead of failing with "database
	// is locked" when it first writes after reading, as another process (a
	// CLI next to the server) may have written in between.
	// temp_store=MEMORY on the writer: the savepoints of grouped commits
	// (group.go) keep each changed page's old content in a sub-journal,
	// which would otherwise be a temporary file written with a system call
	// per page (7% of a purchase's CPU).
	w := openSQLite(dsn + "&_txlock=immediate&_pragma=temp_store(MEMORY)")
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := pingSQLite(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	r := openSQLite(dsn + "&_pragma=query_only(ON)")
	// The readers stay open (database/sql keeps 2 idle by default): a
	// reopened connection parses the schema again and loses the statements
	// it compiled (store/stmtcache.go).
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	r.SetConnMaxIdleTime(0)
	out, err := newDB(SQLite, w, r, nil)
	if out != nil {
		out.clockDriver, out.clockDSN = "sqlite", dsn+"&_pragma=query_only(ON)"
	}
	return out, err
}

// sqliteReaders is the number of SQLite connections that serve reads.
const sqliteReaders = 4

// pingSQLite opens the first connection. Switching a new file to WAL may
// fail at once with SQLITE_BUSY, without waiting, while another process
// does the same; try again then, for a while.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// poolSize takes pool_max_conns out of a PostgreSQL URL (the server would
// refuse it as an unknown setting) and returns the URL left and the size.
func poolSize(raw string) (string, int, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "", 0, fmt.Errorf("PostgreSQL URL: %w", err)
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		// An unreachable host answers 503 in seconds, not after TCP's minutes.
		q.Set("connect_timeout", strconv.Itoa(DefaultConnectTimeoutSeconds))
	}
	n := DefaultMaxConns
	if v := q.Get("pool_max_conns"); v != "" {
		n, err = strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", 0, fmt.Errorf("PostgreSQL URL: pool_max_conns=%q: want a whole number of at least 1", v)
		}
		q.Del("pool_max_conns")
	}
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

// restrictFile makes the SQLite database readable by its owner only: it
// holds customers' data and password hashes. A new file is created 0600
// before SQLite opens it (SQLite gives its -wal and -shm files the database
// file's mode); an existing one, and its -wal and -shm, lose any group and
// other permissions.
func restrictFile(path string) error {
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create SQLite %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue // no -wal or -shm yet
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("restrict SQLite %s to its owner: %w", p, err)
			}
		}
	}
	return nil
}

// listenPool is the pool River's listener connections come from: at most
// one per River client that works jobs, opened when it starts.
func listenPool(dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL URL: %w", err)
	}
	cfg.MinConns, cfg.MaxConns = 0, 2
	p, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL listener pool: %w", err)
	}
	return p, nil
}

// jobNotifyCooldown is how long the inserting River client waits, per
// queue, before it announces another inserted job on PostgreSQL (NOTIFY).
// River's default, 100 ms, on purpose: PostgreSQL serializes the commits of
// transactions that notify (one lock for the notification queue, held
// through the commit's flush), so announcing every purchase's jobs would
// line the purchases' commits up one behind the other (a bench A/B with
// 1 ms was no faster for the side effects and slower for the purchases).
// A job enqueued within the cooldown of the previous one, when the workers
// have already fetched, starts at their next poll, at most a second later
// (jobs.pollInterval).
const jobNotifyCooldown = 100 * time.Millisecond

func newDB(dialect string, w, r *sql.DB, listen *pgxpool.Pool) (*DB, error) {
	db := &DB{Dialect: dialect, Write: w, Read: r, listen: listen}
	jobs, err := river.NewClient(db.RiverDriver(), &river.Config{FetchCooldown: jobNotifyCooldown})
	if err != nil {
		db.Close()
		return nil, err
	}
	db.jobs = jobs
	return db, nil
}

// RiverDriver is the River driver for this database. On PostgreSQL its
// workers LISTEN for new jobs (River's notifications), rather than polling.
func (db *DB) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if db.Dialect == Postgres {
		if db.listen != nil {
			return riverdatabasesql.NewWithPgxListener(db.Write, db.listen)
		}
		return riverdatabasesql.New(db.Write)
	}
	return riversqlite.New(db.Write)
}

// Close closes the database.
func (db *DB) Close() error {
	db.closeCommitter()
	err := db.Write.Close()
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
	}
	if db.listen != nil {
		db.listen.Close()
	}
	db.clockMu.Lock()
	defer db.clockMu.Unlock()
	if db.clockPool != nil {
		err = errors.Join(err, db.clockPool.Close())
	}
	return err
}

// forUpdate locks the selected rows on PostgreSQL; SQLite has a single
// writer, so a transaction already excludes other writers.
func (db *DB) forUpdate() string {
	if db.Dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// migration is one numbered SQL file.
type migration struct {
	Version int
	Name    string
	SQL     string
}

func (db *DB) migrations() ([]migration, error) {
	dir := "migrations/" + db.Dialect
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		n, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := fs.ReadFile(migrations, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// appliedVersions lists the migrations recorded as applied. Only a missing
// schema_migrations table means nothing is applied; any other failure is an
// error, never "apply everything again".
func (db *DB) appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if db.Dialect == Postgres {
		exists = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`
	}
	var n int
	if err := q.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return nil, fmt.Errorf("look for schema_migrations: %w", err)
	}
	if n == 0 {
		return map[int]bool{}, nil // a new database: nothing applied
	}
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		done[v] = true
	}
	return done, rows.Err()
}

// SchemaStatus tells how far the database is behind the program: the
// newest migration applied, and the newest one there is. Any missing
// migration, even an older one, makes applied lower than latest.
func (db *DB) SchemaStatus(ctx context.Context) (applied, latest int, err error) {
	ms, err := db.migrations()
	if err != nil {
		return 0, 0, err
	}
	latest = ms[len(ms)-1].Version
	done, err := db.appliedVersions(ctx, db.Write)
	if err != nil {
		return 0, 0, err
	}
	for _, m := range ms {
		if !done[m.Version] {
			return m.Version - 1, latest, nil
		}
	}
	return latest, latest, nil
}

// migrateLockKey is the PostgreSQL advisory lock that serializes Migrate
// between processes ("fulfill\x00" read as a number).
const migrateLockKey = 0x66756c66696c6c00

// MaxMigrateWait bounds how long Migrate waits on SQLite for another process
// that is migrating the same file.
const MaxMigrateWait = 2 * time.Minute

// Migrate applies every migration not yet applied, then River's own
// migrations, under a lock several processes agree on: on PostgreSQL a
// session advisory lock held on a connection of its own, on SQLite the
// write lock of one transaction (BEGIN IMMEDIATE) that does it all. The applied versions are read inside
// that lock, so of two processes starting at once on an empty database the
// second waits for the first and then finds nothing to do. When everything
// is applied already, one query without the lock finds it (schemaCurrent).
func (db *DB) Migrate(ctx context.Context) error { return db.migrateUpTo(ctx, math.MaxInt) }

// migrateUpTo is Migrate with Fulfill's migrations up to version upTo only
// (tests of a migration start from the schema before it).
func (db *DB) migrateUpTo(ctx context.Context, upTo int) error {
	all, err := db.migrations()
	if err != nil {
		return err
	}
	var ms []migration
	for _, m := range all {
		if m.Version <= upTo {
			ms = append(ms, m)
		}
	}
	if db.schemaCurrent(ctx, ms) {
		return nil
	}
	deadline := time.Now().Add(MaxMigrateWait)
	for {
		err := db.migrateOnce(ctx, ms)
		if err == nil || !isBusy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		// SQLite: another process held the write lock for longer than
		// busy_timeout (it is migrating); wait for it.
		time.Sleep(100 * time.Millisecond)
	}
}

func (db *DB) migrateOnce(ctx context.Context, ms []migration) error {
	if db.Dialect == Postgres {
		return db.migratePostgres(ctx, ms)
	}
	tx, err := db.Write.BeginTx(ctx, nil) // SQLite's writer begins IMMEDIATE: the write lock
	if err != nil {
		return fmt.Errorf("migrations: take the lock: %w", err)
	}
	defer tx.Rollback()
	if err := db.applyMigrations(ctx, tx, func(fn func(*sql.Tx) error) error { return fn(tx) }, ms); err != nil {
		return err
	}
	migrator, err := rivermigrate.New(db.RiverDriver(), nil)
	if err != nil {
		return err
	}
	// On SQLite the whole migration must hold one write lock, so River's
	// migrations run in the same transaction (they batch fine on SQLite;
	// PostgreSQL, where some cannot, takes the advisory lock instead).
	//lint:ignore SA1019 one transaction is the lock on SQLite
	if _, err := migrator.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrations: commit: %w", err)
	}
	return nil
}

// migratePostgres holds a session advisory lock on a connection of its own
// for the whole of Migrate, River's migrations included (some of those
// cannot run in one transaction with others). The migrations run on other
// connections of the pool, each in its own transaction.
func (db *DB) migratePostgres(ctx context.Context, ms []migration) error {
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrations: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrations: take the advisory lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
	if err := db.applyMigrations(ctx, db.Write, func(fn func(*sql.Tx) error) error { return db.tx(ctx, fn) }, ms); err != nil {
		return err
	}
	migrator, err := rivermigrate.New(db.RiverDriver(), nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// applyMigrations creates schema_migrations, reads what is applied (inside
// the caller's lock) and applies the rest, each through inTx.
func (db *DB) applyMigrations(ctx context.Context, q interface {
	querier
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, inTx func(func(*sql.Tx) error) error, ms []migration) error {
	if _, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	done, err := db.appliedVersions(ctx, q)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		err := inTx(func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UTC().Format(time.RFC3339)); err != nil {
				return fmt.Errorf("migration %s: record it: %w", m.Name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var sqErr *sqlite.Error
	return errors.As(err, &sqErr) && (sqErr.Code()&0xff == sqlite3.SQLITE_BUSY || sqErr.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// CheckSchema fails when migrations are pending.
func (db *DB) CheckSchema(ctx context.Context) error {
	applied, latest, err := db.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if applied < latest {
		return fmt.Errorf("database schema is at version %d, this program needs %d: run `fulfill migrate` or start with --migrate", applied, latest)
	}
	return nil
}

// MaxTxAttempts bounds how often a transaction is run when PostgreSQL
// aborts it with a serialization failure (40001) or a deadlock (40P01).
const MaxTxAttempts = 3

// tx runs fn in a transaction, committing if it returns nil. A transaction
// that PostgreSQL aborted as a serialization failure or a deadlock is run
// again, up to MaxTxAttempts times in all, after a short jittered pause: the
// database undid all of it, so fn, being the whole transaction, can run
// anew. fn must therefore have no effect outside the transaction beyond
// setting the variables it returns its results in (no network calls, no
// counters or lists kept across attempts).
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.runTx(ctx, nil, fn)
}

func (db *DB) runTx(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	pool := db.Write
	if opts != nil && opts.ReadOnly {
		pool = db.Read
	} else {
		db.writeTxs.Add(1)
	}
	return db.retry(ctx, func() error { return db.txOnce(ctx, pool, opts, fn) })
}

// retry runs once, a transaction, again while PostgreSQL aborts it as a
// serialization failure or a deadlock, at most MaxTxAttempts times.
func (db *DB) retry(ctx context.Context, once func() error) error {
	for attempt := 1; ; attempt++ {
		err := once()
		if err == nil || attempt == MaxTxAttempts || !Retryable(err) {
			return Classify(err)
		}
		// 5–15 ms, then 10–30 ms: long enough for the winner to commit.
		pause := time.Duration(attempt) * (5*time.Millisecond + rand.N(10*time.Millisecond))
		select {
		case <-ctx.Done():
			return Classify(err)
		case <-time.After(pause):
		}
	}
}

func (db *DB) txOnce(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer rollbackOnPanic(tx)
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rollbackOnPanic, deferred after BeginTx, rolls the transaction back when
// the function running in it panics, and lets the panic go on. Without it
// the transaction kept its connection: SQLite's only writer, or a
// PostgreSQL connection whose Close then waited for ever.
func rollbackOnPanic(tx *sql.Tx) {
	if p := recover(); p != nil {
		tx.Rollback()
		panic(p)
	}
}

// Retryable reports whether err is PostgreSQL aborting a transaction that
// may simply be run again: a serialization failure or a deadlock.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// mapErr turns driver errors into domain errors on both databases: no rows
// is not found and a duplicate is a conflict. It is the one place that
// decides those two; every other error stays internal (500, logged), even
// a lock timeout or a busy SQLite database, which only say that the row
// could not be read now.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fulfill.Errorf(fulfill.ENotFound, "%s not found.", what)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fulfill.Errorf(fulfill.EConflict, "%s already exists.", what)
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch c := sqErr.Code(); {
		case c == sqlite3.SQLITE_CONSTRAINT_UNIQUE, c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fulfill.Errorf(fulfill.EConflict, "%s already exists.", what)
		case c&0xff == sqlite3.SQLITE_BUSY, c&0xff == sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%s: database busy (another connection holds the lock): %w", what, err)
		}
	}
	return Classify(err)
}

// PendingJobs counts jobs that are ready to run or running now, leaving
// out those of exceptQueues.
func (db *DB) PendingJobs(ctx context.Context, exceptQueues ...string) (int, error) {
	q, args := `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'running')`, []any{}
	for i, queue := range exceptQueues {
		q += fmt.Sprintf(" AND queue <> $%d", i+1)
		args = append(args, queue)
	}
	var n int
	err := db.Write.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// PendingJobsBetween counts the jobs with an id in (afterID, lastID] that
// are available or running, outside exceptQueues.
func (db *DB) PendingJobsBetween(ctx context.Context, afterID, lastID int64, exceptQueues ...string) (int, error) {
	q, args := `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'running') AND id > $1 AND id <= $2`, []any{afterID, lastID}
	for i, queue := range exceptQueues {
		q += fmt.Sprintf(" AND queue <> $%d", i+3)
		args = append(args, queue)
	}
	var n int
	if err := db.Write.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending jobs: %w", err)
	}
	return n, nil
}

// LastJobID is the highest job id so far (0 with none).
func (db *DB) LastJobID(ctx context.Context) (int64, error) {
	var id int64
	if err := db.Write.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM river_job`).Scan(&id); err != nil {
		return 0, fmt.Errorf("last job id: %w", err)
	}
	return id, nil
}

// queryStrings runs a query of one text column and collects the values.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryCounts runs a query of (id, number) rows and maps id to number.
func queryCounts(ctx context.Context, q querier, query string, args ...any) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// queryAll runs a query and scans every row with scan. The result is never
// nil, so an empty list is [] in JSON.
func queryAll[T any](ctx context.Context, q querier, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// RiverLeaderID is the River client ID holding the job maintenance
// leadership, if any copy holds it.
func (db *DB) RiverLeaderID(ctx context.Context) (string, bool, error) {
	var id string
	err := db.Write.QueryRowContext(ctx, `SELECT leader_id FROM river_leader`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("river leader: %w", err)
	}
	return id, true, nil
}

// DeleteRiverLeader removes the leadership row of the client id (a copy that
// is known to be dead) and reports whether there was one.
func (db *DB) DeleteRiverLeader(ctx context.Context, id string) (bool, error) {
	res, err := db.Write.ExecContext(ctx, `DELETE FROM river_leader WHERE leader_id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("remove river leader %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remove river leader %s: %w", id, err)
	}
	return n > 0, nil
}
