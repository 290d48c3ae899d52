package dbtest

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func countTables(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var n int
	err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPostgresURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url1, url2 := PostgresURL(t), PostgresURL(t)
	if url1 == url2 {
		t.Fatalf("two calls returned the same URL %s", url1)
	}
	c1, c2 := connect(t, url1), connect(t, url2)

	var db1, db2 string
	if err := c1.QueryRow(ctx, "SELECT current_database()").Scan(&db1); err != nil {
		t.Fatal(err)
	}
	if err := c2.QueryRow(ctx, "SELECT current_database()").Scan(&db2); err != nil {
		t.Fatal(err)
	}
	if db1 == db2 {
		t.Fatalf("both URLs point at database %q", db1)
	}
	if n := countTables(t, c1); n != 0 {
		t.Fatalf("fresh database has %d tables", n)
	}

	if _, err := c1.Exec(ctx, "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Exec(ctx, "INSERT INTO items VALUES (1, 'a')"); err != nil {
		t.Fatal(err)
	}
	if n := countTables(t, c1); n != 1 {
		t.Fatalf("after CREATE TABLE: %d tables, want 1", n)
	}
	if n := countTables(t, c2); n != 0 {
		t.Fatalf("second database sees %d tables, want 0", n)
	}
}

func TestDatabaseDroppedOnCleanup(t *testing.T) {
	t.Parallel()
	outer := t
	var url string
	t.Run("inner", func(t *testing.T) {
		url = PostgresURL(t)
		// A connection still open at drop time must not block the drop.
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		outer.Cleanup(func() { conn.Close(context.Background()) })
	})
	if t.Skipped() || url == "" {
		t.Skip("inner test skipped")
	}
	admin, err := withDatabase(url, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.Database
	var exists bool
	err = connect(t, admin).QueryRow(context.Background(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestParallelDatabases(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			url := PostgresURL(t)
			mu.Lock()
			dup := seen[url]
			seen[url] = true
			mu.Unlock()
			if dup {
				t.Fatalf("duplicate URL %s", url)
			}
			if _, err := connect(t, url).Exec(context.Background(), "CREATE TABLE t (x int)"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestForEach(t *testing.T) {
	t.Parallel()
	var ran []string
	ForEach(t, func(t *testing.T, url string) {
		ran = append(ran, t.Name())
		driver := "pgx"
		if strings.HasPrefix(url, "file:") {
			driver = "sqlite"
		}
		db, err := sql.Open(driver, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("CREATE TABLE items (id integer PRIMARY KEY, name text)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO items (id, name) VALUES (1, 'a')"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM items").Scan(&n); err != nil || n != 1 {
			t.Fatalf("count = %d, %v", n, err)
		}
	})
	if len(ran) == 0 || !strings.HasSuffix(ran[0], "/sqlite") {
		t.Fatalf("subtests ran: %v", ran)
	}
}

func TestEngines(t *testing.T) {
	t.Parallel()
	engines := Engines(t)
	if len(engines) == 0 || engines[0].Name != "sqlite" || !strings.HasPrefix(engines[0].URL, "file:") {
		t.Fatalf("engines = %+v", engines)
	}
	if len(engines) == 2 && (engines[1].Name != "postgres" || !strings.HasPrefix(engines[1].URL, "postgres://")) {
		t.Fatalf("engines = %+v", engines)
	}
}

func TestSQLitePath(t *testing.T) {
	t.Parallel()
	p1, p2 := SQLitePath(t), SQLitePath(t)
	if p1 == p2 {
		t.Fatalf("same path twice: %s", p1)
	}
	if _, err := os.Stat(p1); !os.IsNotExist(err) {
		t.Fatalf("%s should not exist yet: %v", p1, err)
	}
}

func TestDatabaseName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("TestSomething/With Spaces-and.dots/", 5)
	names := map[string]bool{}
	for range 3 {
		n := databaseName(long)
		if len(n) > 63 || names[n] {
			t.Fatalf("bad or duplicate name %q (len %d)", n, len(n))
		}
		for _, r := range n {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				t.Fatalf("name %q has %q", n, r)
			}
		}
		names[n] = true
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"postgres://u:p@h:5/x?sslmode=disable", "postgres://u:p@h:5/db1?sslmode=disable"},
		{"postgresql://h", "postgresql://h/db1"},
		{"postgres://u@h/?sslmode=disable&x=%2F", "postgres://u@h/db1?sslmode=disable&x=%2F"},
	} {
		got, err := withDatabase(c.in, "db1")
		if err != nil || got != c.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := withDatabase("host=h user=u", "db1"); err == nil {
		t.Error("withDatabase accepted a key=value DSN")
	}
}

// TestUnavailable runs this test binary with no PostgreSQL to be found and
// checks that PostgresURL skips, or fails when CI=true.
func TestUnavailable(t *testing.T) {
	if os.Getenv("DBTEST_UNAVAILABLE_CHILD") == "1" {
		pgLibGlob = "/nonexistent/*/bin"
		os.Setenv("PATH", "")
		os.Unsetenv(EnvDatabaseURL)
		PostgresURL(t)
		t.Fatal("PostgresURL returned")
	}
	t.Parallel()
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnavailable$", "-test.v")
		cmd.Env = append(os.Environ(), "DBTEST_UNAVAILABLE_CHILD=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		s := string(out)
		if ci == "true" {
			if err == nil || !strings.Contains(s, "--- FAIL") || !strings.Contains(s, "PostgreSQL not available") {
				t.Errorf("CI=true: want failure, got err=%v\n%s", err, s)
			}
		} else {
			if err != nil || !strings.Contains(s, "--- SKIP") || !strings.Contains(s, "PostgreSQL not available") {
				t.Errorf("CI unset: want skip, got err=%v\n%s", err, s)
			}
		}
	}
}

// The two subtests of ForEachParallel run at the same time: each waits
// until the other has started.
func TestForEachParallelRunsBothEnginesAtOnce(t *testing.T) {
	t.Parallel()
	PostgresURL(t) // skips (outside CI) when there is no second engine to wait for
	var started sync.WaitGroup
	started.Add(2)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	ForEachParallel(t, func(t *testing.T, url string) {
		started.Done()
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			t.Fatal("the other engine's subtest did not start while this one ran")
		}
	})
}

// Main raises -test.parallel unless it was given: this binary runs
// without the flag under go test.
func TestMainRaisesParallel(t *testing.T) {
	t.Parallel()
	if got, want := flag.Lookup("test.parallel").Value.String(), strconv.Itoa(4*runtime.GOMAXPROCS(0)); got != want {
		t.Fatalf("test.parallel = %s, want %s", got, want)
	}
}

// A cluster is made from a copy of an earlier initdb's data directory,
// kept beside the clusters, and works as one made anew.
func TestClusterStartsFromAKeptInitdb(t *testing.T) {
	t.Parallel()
	NewCluster(t) // makes the copy if no binary did yet
	c := NewCluster(t)
	if !c.c.fromCache {
		t.Fatal("the second cluster ran initdb again")
	}
	c.Exec("CREATE TABLE kept (x int)")
	c.Exec("INSERT INTO kept VALUES (1)")
}
