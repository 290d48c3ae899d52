// Package dbtest gives tests fresh, empty databases.
//
// PostgreSQL: if FULFILL_TEST_DATABASE_URL is set, databases are created on
// that server. Otherwise one throwaway cluster is started per test binary
// (initdb + pg_ctl from PATH or /usr/lib/postgresql/*/bin) in a temp dir,
// listening on 127.0.0.1 and on a unix socket in that dir. Packages that use
// PostgreSQL should stop it on exit:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// If the binary dies without running Main (panic, -timeout, SIGKILL), a
// watchdog process notices and stops the cluster and removes its directory.
//
// When PostgreSQL is unavailable, tests using it are skipped, except when
// CI=true, where they fail.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDatabaseURL names the environment variable that points tests at an
// existing PostgreSQL server instead of a throwaway cluster, as a
// postgres:// URL (its database part is ignored). Databases are created on
// (and dropped from) that server via its "postgres" database; the role needs
// CREATEDB.
const EnvDatabaseURL = "FULFILL_TEST_DATABASE_URL"

// Engine is one database engine a test can run against.
type Engine struct {
	Name string // "sqlite" or "postgres"
	URL  string // "file:<path>" for sqlite, "postgres://..." for postgres
}

// Main runs the tests, stops the throwaway PostgreSQL cluster (if one was
// started) and exits with the tests' code. Call it from TestMain.
//
// Unless -test.parallel is given, Main lets 4 parallel tests run per CPU
// instead of 1: these tests mostly wait on PostgreSQL, job polling, child
// processes and browsers, not on the CPU.
func Main(m *testing.M) { MainParallel(m, 4) }

// MainParallel is Main letting perCPU parallel tests run per CPU. A
// package whose long tests mostly wait (on browsers, child processes)
// takes more, so that its longest test is not queued behind them. The
// after funcs run once the tests are done, before the cluster stops (to
// stop what the package's tests share, such as a browser).
func MainParallel(m *testing.M, perCPU int, after ...func()) {
	raiseParallel(perCPU * runtime.GOMAXPROCS(0))
	code := m.Run()
	for _, f := range after {
		f()
	}
	removeTemplates()
	stopCluster()
	os.Exit(code)
}

// raiseParallel sets -test.parallel to n unless the command line set it.
func raiseParallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}

// SQLitePath returns the path of a new (not yet existing) SQLite database
// file in a directory of its own, removed when the test ends: on /dev/shm
// when that is a roomy tmpfs (Fulfill commits with synchronous=FULL, and
// an fsync there costs nothing, where the temp dir's disk takes a
// millisecond or more per commit), else in t.TempDir().
func SQLitePath(t testing.TB) string {
	t.Helper()
	base := sqliteBaseDir()
	if base == os.TempDir() {
		return filepath.Join(t.TempDir(), "test.db")
	}
	dir, err := os.MkdirTemp(base, "sqlite-")
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "test.db")
}

// SQLiteURL returns "file:" + SQLitePath(t).
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "file:" + SQLitePath(t)
}

// ForEach runs fn as subtests "sqlite" and "postgres", each with its own
// fresh, empty database. The postgres database is created inside its subtest,
// so an unavailable PostgreSQL skips (or, with CI=true, fails) only that
// subtest.
func ForEach(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresURL(t)) })
}

// ForEachParallel is ForEach with subtests that run in parallel with each
// other and with the other parallel tests (t.Parallel): they start once the
// calling test function returns, so fn must not share state with what
// follows the call. Use it when fn only touches its own database, servers
// and temp dirs.
func ForEachParallel(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, PostgresURL(t)) })
}

// Engines returns a fresh database per engine: sqlite always, postgres when
// it is available. When PostgreSQL is unavailable the postgres engine is left
// out (and logged) so the sqlite case still runs; with CI=true the test fails
// instead. Prefer ForEach, which reports the skip in a "postgres" subtest.
func Engines(t testing.TB) []Engine {
	t.Helper()
	engines := []Engine{{Name: "sqlite", URL: SQLiteURL(t)}}
	if u, err := postgresURL(t); err != nil {
		var ue unavailableError
		if !errors.As(err, &ue) || isCI() {
			t.Fatalf("dbtest: %v", err)
		}
		t.Logf("dbtest: postgres engine left out: %v", err)
	} else {
		engines = append(engines, Engine{Name: "postgres", URL: u})
	}
	return engines
}

// PostgresURL returns the URL of a fresh, empty PostgreSQL database that is
// dropped when the test ends. Safe for parallel tests.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u, err := postgresURL(t)
	if err != nil {
		var ue unavailableError
		if errors.As(err, &ue) && !isCI() {
			t.Skipf("PostgreSQL not available (%v); set %s or install postgresql", ue.err, EnvDatabaseURL)
		}
		t.Fatalf("dbtest: %v", err)
	}
	return u
}

// unavailableError means no PostgreSQL could be found or started; tests skip
// on it outside CI.
type unavailableError struct{ err error }

func (e unavailableError) Error() string {
	return fmt.Sprintf("PostgreSQL not available: %v", e.err)
}
func (e unavailableError) Unwrap() error { return e.err }

func isCI() bool { return os.Getenv("CI") == "true" }

var dbSeq atomic.Int64

func postgresURL(t testing.TB) (string, error) {
	t.Helper()
	server, external, err := serverURL()
	if err != nil {
		return "", err
	}
	where := "throwaway cluster"
	if external {
		where = EnvDatabaseURL + " server"
	}

	adminURL, err := withDatabase(server, "postgres")
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvDatabaseURL, err)
	}
	name := databaseName(t.Name())
	dbURL, err := withDatabase(server, name)
	if err != nil {
		return "", err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("%s: connect to maintenance database: %w", where, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("%s: create database %s: %w", where, name, err)
	}

	t.Cleanup(func() {
		if err := dropDatabase(adminURL, name); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	return dbURL, nil
}

// serverURL is the URL of the PostgreSQL server tests create databases
// on: FULFILL_TEST_DATABASE_URL's (external) or the throwaway cluster's,
// started on first use.
func serverURL() (url string, external bool, err error) {
	if server := os.Getenv(EnvDatabaseURL); server != "" {
		return server, true, nil
	}
	c, err := getCluster()
	if err != nil {
		return "", false, unavailableError{err}
	}
	return c.url, false, nil
}

func dropDatabase(adminURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42601" { // syntax error: server older than 13
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident)
	}
	return err
}

// databaseName returns a unique database name (unique across processes
// sharing a server too) that hints at the test that owns it.
func databaseName(testName string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	suffix := fmt.Sprintf("_%d_%s", dbSeq.Add(1), hex.EncodeToString(b[:]))
	var hint strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			hint.WriteRune(r)
		default:
			if s := hint.String(); s != "" && !strings.HasSuffix(s, "_") {
				hint.WriteByte('_')
			}
		}
	}
	const prefix = "t_"
	h := strings.Trim(hint.String(), "_")
	if limit := 63 - len(prefix) - len(suffix); len(h) > limit {
		h = strings.TrimRight(h[:limit], "_")
	}
	return prefix + h + suffix
}

// withDatabase returns the postgres:// URL server with the database
// replaced by db.
func withDatabase(server, db string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("want a postgres:// URL, got %q", u.Redacted())
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String(), nil
}
