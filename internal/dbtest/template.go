package dbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Templates: a database built once per test binary (typically: migrated)
// and copied into each test's fresh database, instead of building every
// test's database from nothing. On PostgreSQL the copy is CREATE DATABASE
// … TEMPLATE; on SQLite, a copy of the file.

// template is one built template database per engine.
type template struct {
	key   string
	build func(url string) error

	mu       sync.Mutex
	sqlite   string // path of the built SQLite file; "" until built
	postgres string // name of the built PostgreSQL database; "" until built
}

var (
	templatesMu sync.Mutex
	templates   = map[string]*template{}
	// templateDir holds this process's SQLite templates; removed by Main.
	templateDir string
	// pgTemplates are the template databases made on a FULFILL_TEST_DATABASE_URL
	// server, dropped by Main (a throwaway cluster goes with its templates).
	pgTemplates []string
)

func templateFor(key string, build func(url string) error) *template {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	tm := templates[key]
	if tm == nil {
		tm = &template{key: key, build: build}
		templates[key] = tm
	}
	return tm
}

// FromTemplate fills the fresh, empty database at url (as returned by
// SQLiteURL or PostgresURL) with a copy of the template database named key,
// which build makes once per test binary and engine on an empty database
// of its own (build must close every connection it opened before it
// returns). A database that is not empty (a SQLite file that exists, a
// PostgreSQL database with tables) is left as it is, so FromTemplate never
// destroys data: call it before anything else touches the database.
//
// The key names what build does: two calls with the same key must pass
// builds that make the same database.
func FromTemplate(ctx context.Context, url, key string, build func(url string) error) error {
	tm := templateFor(key, build)
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return tm.clonePostgres(ctx, url)
	}
	return tm.cloneSQLite(url)
}

// sqliteFilePath is the file of a "file:" (or "sqlite://") URL, without
// its parameters.
func sqliteFilePath(url string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

func (tm *template) cloneSQLite(url string) error {
	dst := sqliteFilePath(url)
	if fi, err := os.Stat(dst); err == nil && fi.Size() > 0 {
		return nil // not fresh: leave it
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	src, err := tm.sqliteTemplate()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(src+suffix, dst+suffix); err != nil {
			if suffix != "" && errors.Is(err, fs.ErrNotExist) {
				continue // the build checkpointed its WAL on close
			}
			return fmt.Errorf("dbtest: copy SQLite template %s: %w", tm.key, err)
		}
	}
	return nil
}

func (tm *template) sqliteTemplate() (string, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.sqlite != "" {
		return tm.sqlite, nil
	}
	templatesMu.Lock()
	if templateDir == "" {
		d, err := os.MkdirTemp(sqliteBaseDir(), "fulfill-templates-")
		if err != nil {
			templatesMu.Unlock()
			return "", err
		}
		templateDir = d
	}
	dir := templateDir
	templatesMu.Unlock()
	p := filepath.Join(dir, databaseName(tm.key)+".db")
	if err := tm.build("file:" + p); err != nil {
		return "", fmt.Errorf("dbtest: build SQLite template %s: %w", tm.key, err)
	}
	os.Remove(p + "-shm") // rebuilt by the next opener
	tm.sqlite = p
	return p, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (tm *template) clonePostgres(ctx context.Context, url string) error {
	url, err := withoutPoolParams(url)
	if err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	name := cfg.Database
	fresh, err := isEmptyPostgres(ctx, url)
	if err != nil || !fresh {
		return err
	}
	tmpl, err := tm.postgresTemplate(ctx)
	if err != nil {
		return err
	}
	adminURL, err := withDatabase(url, "postgres")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("dbtest: connect to maintenance database: %w", err)
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE "+ident); err != nil {
		return fmt.Errorf("dbtest: drop %s to clone the template: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return fmt.Errorf("dbtest: create %s from template %s: %w", name, tmpl, err)
	}
	return nil
}

// isEmptyPostgres reports whether the database at url has no relations of
// its own.
func isEmptyPostgres(ctx context.Context, url string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false, fmt.Errorf("dbtest: connect to %s: %w", url, err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`).Scan(&n)
	return n == 0, err
}

func (tm *template) postgresTemplate(ctx context.Context) (string, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.postgres != "" {
		return tm.postgres, nil
	}
	server, external, err := serverURL()
	if err != nil {
		return "", err
	}
	adminURL, err := withDatabase(server, "postgres")
	if err != nil {
		return "", err
	}
	name := databaseName("template " + tm.key)
	tmplURL, err := withDatabase(server, name)
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(cctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("dbtest: connect to maintenance database: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("dbtest: create template database: %w", err)
	}
	if external {
		templatesMu.Lock()
		pgTemplates = append(pgTemplates, name)
		templatesMu.Unlock()
	}
	if err := tm.build(tmplURL); err != nil {
		return "", fmt.Errorf("dbtest: build PostgreSQL template %s: %w", tm.key, err)
	}
	// Nobody connects to a template: CREATE DATABASE … TEMPLATE refuses to
	// copy a database others are connected to.
	if _, err := conn.Exec(cctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("dbtest: close template database to connections: %w", err)
	}
	tm.postgres = name
	return name, nil
}

// removeTemplates removes this process's SQLite templates and the template
// databases it made on a FULFILL_TEST_DATABASE_URL server.
func removeTemplates() {
	templatesMu.Lock()
	dir, names := templateDir, pgTemplates
	templatesMu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
	if sqliteBase != "" && sqliteBase != os.TempDir() {
		os.RemoveAll(sqliteBase)
	}
	if len(names) == 0 {
		return
	}
	server, _, err := serverURL()
	if err != nil {
		return
	}
	adminURL, err := withDatabase(server, "postgres")
	if err != nil {
		return
	}
	for _, n := range names {
		dropDatabase(adminURL, n)
	}
}

var (
	sqliteBaseOnce sync.Once
	sqliteBase     string
)

// sqliteBaseDir is where SQLite test databases go: a directory of this
// process's on /dev/shm (removed by Main) when that is a roomy tmpfs, else
// os.TempDir().
func sqliteBaseDir() string {
	sqliteBaseOnce.Do(func() {
		sqliteBase = os.TempDir()
		if b := baseDir(false); b != os.TempDir() {
			if d, err := os.MkdirTemp(b, "fulfill-sqlite-"); err == nil {
				sqliteBase = d
			}
		}
	})
	return sqliteBase
}

// withoutPoolParams drops the pool_… parameters of a postgres:// URL
// (store.Open's and pgxpool's, which a single connection refuses).
func withoutPoolParams(raw string) (string, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
