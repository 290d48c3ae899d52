// Package store keeps Fulfill's data in SQLite (the embedded default) or
// PostgreSQL (production), behind the same methods and the same SQL where the
// two agree. Migrations are embedded, numbered and applied in a transaction.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
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
}

// Open opens the database named by url: "postgres://…" or "postgresql://…"
// for PostgreSQL, anything else is an SQLite file path (an optional
// "sqlite://" or "file:" prefix is dropped).
func Open(ctx context.Context, url string) (*DB, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		db, err := sql.Open("pgx", url)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		return newDB(Postgres, db, db)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
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
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(ON)&_pragma=synchronous(FULL)&_time_format=sqlite"
	// BEGIN IMMEDIATE on the writer: a transaction takes the write lock when
	// it starts (waiting per busy_timeout) instead of failing with "database
	// is locked" when it first writes after reading, as another process (a
	// CLI next to the server) may have written in between.
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(ON)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	return newDB(SQLite, w, r)
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

func newDB(dialect string, w, r *sql.DB) (*DB, error) {
	db := &DB{Dialect: dialect, Write: w, Read: r}
	jobs, err := river.NewClient(db.RiverDriver(), &river.Config{})
	if err != nil {
		db.Close()
		return nil, err
	}
	db.jobs = jobs
	return db, nil
}

// RiverDriver is the River driver for this database.
func (db *DB) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if db.Dialect == Postgres {
		return riverdatabasesql.New(db.Write)
	}
	return riversqlite.New(db.Write)
}

// Close closes the database.
func (db *DB) Close() error {
	err := db.Write.Close()
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
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

// appliedVersions lists the migrations recorded as applied.
func (db *DB) appliedVersions(ctx context.Context) (map[int]bool, error) {
	rows, err := db.Write.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return map[int]bool{}, nil // no table yet: nothing applied
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
	done, err := db.appliedVersions(ctx)
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

// Migrate applies every migration not yet applied, each in its own
// transaction, then River's own migrations.
func (db *DB) Migrate(ctx context.Context) error {
	if err := db.migrateUpTo(ctx, math.MaxInt); err != nil {
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

// migrateUpTo applies Fulfill's migrations up to version upTo (tests of a
// migration start from the schema before it).
func (db *DB) migrateUpTo(ctx context.Context, upTo int) error {
	if _, err := db.Write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	ms, err := db.migrations()
	if err != nil {
		return err
	}
	done, err := db.appliedVersions(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if done[m.Version] || m.Version > upTo {
			continue
		}
		err := db.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
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

// tx runs fn in a transaction, committing if it returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// mapErr turns driver errors into domain errors on both databases, so a
// duplicate is a conflict and a missing row is not found, never a 500.
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
	if errors.As(err, &sqErr) && (sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return fulfill.Errorf(fulfill.EConflict, "%s already exists.", what)
	}
	return err
}

// IsUniqueViolation reports whether err is a unique-key violation.
func IsUniqueViolation(err error) bool {
	return fulfill.ErrorCode(mapErr(err, "")) == fulfill.EConflict
}

// PendingJobs counts jobs that are ready to run or running now.
func (db *DB) PendingJobs(ctx context.Context) (int, error) {
	var n int
	err := db.Write.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'running')`).Scan(&n)
	return n, err
}

// FailedJobs counts jobs that wait for a retry or were discarded.
func (db *DB) FailedJobs(ctx context.Context) (int, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state IN ('retryable', 'discarded')`).Scan(&n)
	return n, err
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
