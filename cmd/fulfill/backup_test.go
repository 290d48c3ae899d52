package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// tableCounts counts the rows of every Fulfill table (River's left out).
func tableCounts(t *testing.T, db *store.DB, tables []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range tables {
		var n int64
		if err := db.Read.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+tb).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tb, err)
		}
		out[tb] = n
	}
	return out
}

// Issue 11, acceptance 6: a simulated year of activity on SQLite (purchases,
// seat changes, renewals by advancing the test clock) is backed up while
// purchases keep coming, restored into a new data directory, and moved to
// PostgreSQL with migrate-data: every table's rows and the invoice totals
// are unchanged, and a server on PostgreSQL passes the probe.
func TestBackupUnderLoadRestoreAndMigrateToPostgres(t *testing.T) {
	t.Parallel()
	pgURL := dbtest.PostgresURL(t)
	s := startServer(t, "")
	var subs []string
	for i := range 8 {
		var cus struct{ ID string }
		if c := s.call("POST", "/api/v1/customers", map[string]any{"email": fmt.Sprintf("c%d@example.com", i), "name": "C", "country": "US"}, &cus); c != 201 {
			t.Fatalf("customer: %d", c)
		}
		var p struct{ Subscription struct{ ID string } }
		if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 10 + i,
			"payment_method": "pm_card_visa"}, &p); c != 201 {
			t.Fatalf("purchase: %d", c)
		}
		subs = append(subs, p.Subscription.ID)
	}
	for i, month := range []string{"2026-03-01", "2026-06-01", "2026-09-01", "2026-12-01", "2027-01-10"} {
		if c := s.call("POST", "/api/v1/subscriptions/"+subs[i]+"/seats", map[string]any{"seats": 30 + i}, nil); c != 200 {
			t.Fatalf("seats: %d", c)
		}
		if c := s.call("POST", "/api/v1/test_clock/advance", map[string]any{"to": month}, nil); c != 200 {
			t.Fatalf("advance to %s: %d", month, c)
		}
	}
	var renewed struct {
		Data []struct {
			EndsOn string `json:"ends_on"`
		}
	}
	s.call("GET", "/api/v1/subscriptions?limit=100", nil, &renewed)
	n := 0
	for _, sub := range renewed.Data {
		if sub.EndsOn > "2027-01-10" {
			n++
		}
	}
	if n < 8 {
		t.Fatalf("%d of 8 subscriptions renewed after a year", n)
	}

	// Purchases go on while the backup runs.
	var stop atomic.Bool
	var bought atomic.Int64
	var wg sync.WaitGroup
	var cus struct{ ID string }
	s.call("POST", "/api/v1/customers", map[string]any{"email": "load@example.com", "name": "L", "country": "US"}, &cus)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 1,
					"payment_method": "pm_card_visa"}, nil) == http.StatusCreated {
					bought.Add(1)
				}
			}
		}()
	}
	for bought.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	out := mustRun(t, "backup", backup, "--data-dir", s.dataDir)
	stop.Store(true)
	wg.Wait()
	t.Logf("%s(%d purchases under load)", out, bought.Load())

	// Restoring over the running server's database is refused.
	if out, err := run(t, "restore", backup, "--data-dir", s.dataDir); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore under a running server: %v\n%s", err, out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	mustRun(t, "restore", backup, "--data-dir", restored)

	out = mustRun(t, "migrate-data", "--from", restored, "--to", pgURL)
	t.Log(out)
	if out, err := run(t, "migrate-data", "--from", restored, "--to", pgURL); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second migrate-data into the same target: %v\n%s", err, out)
	}

	ctx := context.Background()
	src, err := store.Open(ctx, filepath.Join(restored, "fulfill.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := store.Open(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var tables []string
	rows, err := src.Read.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'river_%' AND name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	a, b := tableCounts(t, src, tables), tableCounts(t, dst, tables)
	for _, tb := range tables {
		if a[tb] != b[tb] {
			t.Errorf("%s: %d rows in SQLite, %d in PostgreSQL", tb, a[tb], b[tb])
		}
	}
	if a["invoices"] < 8+8+5 || a["subscriptions"] < 8+3 {
		t.Errorf("too little activity copied: %v", a)
	}
	ta, _ := store.InvoiceTotals(ctx, src)
	tb, _ := store.InvoiceTotals(ctx, dst)
	if strings.Join(ta, ";") != strings.Join(tb, ";") || len(ta) == 0 {
		t.Errorf("invoice totals: SQLite %v, PostgreSQL %v", ta, tb)
	}

	// The server runs on the copy: old data reads, and the probe passes.
	// It signs with the keys that signed the licenses it carries, as every
	// copy of one installation must.
	pg := startServer(t, pgURL, "--simulated-clock", "2027-01-10", "--keys-dir", filepath.Join(s.dataDir, "keys"))
	if c := pg.call("GET", "/api/v1/subscriptions/"+subs[0], nil, nil); c != 200 {
		t.Errorf("a copied subscription on PostgreSQL: %d", c)
	}
	if out, err := runProbe(t, pg); err != nil {
		t.Fatalf("probe on the migrated server: %v\n%s", err, out)
	}
}

// restore checks what it is given: a file that is no database, or an empty
// database, is refused and the data directory is left alone.
func TestRestoreRefusesWhatIsNoFulfillBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("this is not an SQLite database, only some text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	db, err := store.Open(context.Background(), empty)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	target := filepath.Join(dir, "data")
	for _, f := range []string{junk, empty, filepath.Join(dir, "missing.db")} {
		if out, err := run(t, "restore", f, "--data-dir", target); err == nil {
			t.Errorf("restore %s worked: %s", f, out)
		}
	}
	if _, err := os.Stat(filepath.Join(target, "fulfill.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore left a database: %v", err)
	}
}
