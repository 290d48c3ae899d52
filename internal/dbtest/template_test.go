package dbtest

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"testing"
)

func openAny(t *testing.T, url string) *sql.DB {
	t.Helper()
	driver := "pgx"
	if strings.HasPrefix(url, "file:") {
		driver = "sqlite"
	}
	db, err := sql.Open(driver, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func countItems(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A template is built once per engine and copied into each fresh database;
// the copies are independent of each other, and a database that already
// has tables is left as it is.
func TestFromTemplateBuildsOnceAndCopies(t *testing.T) {
	t.Parallel()
	var builds atomic.Int32
	build := func(url string) error {
		builds.Add(1)
		db, err := sql.Open(map[bool]string{true: "sqlite", false: "pgx"}[strings.HasPrefix(url, "file:")], url)
		if err != nil {
			return err
		}
		defer db.Close()
		for _, q := range []string{"CREATE TABLE items (id integer PRIMARY KEY, name text)", "INSERT INTO items (id, name) VALUES (1, 'seed')"} {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := context.Background()
	ForEach(t, func(t *testing.T, url string) {
		before := builds.Load()
		other := SQLiteURL(t)
		if !strings.HasPrefix(url, "file:") {
			other = PostgresURL(t)
		}
		for _, u := range []string{url, other} {
			if err := FromTemplate(ctx, u, "items "+t.Name(), build); err != nil {
				t.Fatal(err)
			}
		}
		if got := builds.Load() - before; got != 1 {
			t.Fatalf("%d builds for two copies, want 1", got)
		}
		a, b := openAny(t, url), openAny(t, other)
		if n := countItems(t, a); n != 1 {
			t.Fatalf("copy has %d rows, want the template's 1", n)
		}
		if _, err := a.Exec("INSERT INTO items (id, name) VALUES (2, 'mine')"); err != nil {
			t.Fatal(err)
		}
		if n := countItems(t, b); n != 1 {
			t.Fatalf("the other copy has %d rows after a write to the first, want 1", n)
		}
		a.Close()
		// Not fresh any more: a second call keeps its rows.
		if err := FromTemplate(ctx, url, "items "+t.Name(), build); err != nil {
			t.Fatal(err)
		}
		if n := countItems(t, openAny(t, url)); n != 2 {
			t.Fatalf("FromTemplate on a used database left %d rows, want its 2", n)
		}
	})
}

// A URL with store.Open's pool parameters (which a single connection
// refuses) is copied into all the same.
func TestFromTemplateTakesPoolParameters(t *testing.T) {
	t.Parallel()
	url := PostgresURL(t)
	build := func(url string) error {
		db, err := sql.Open("pgx", url)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Exec("CREATE TABLE items (id integer PRIMARY KEY)")
		return err
	}
	if err := FromTemplate(context.Background(), url+"&pool_max_conns=5", "pool "+t.Name(), build); err != nil {
		t.Fatal(err)
	}
	if n := countItems(t, openAny(t, url)); n != 0 {
		t.Fatalf("%d rows", n)
	}
}
