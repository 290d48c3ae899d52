package commerce_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/store"
)

// A billing run renews several batches at once (stop 14). On PostgreSQL
// the first four batches are held open together, each done and not yet
// committed (the failpoint each batch passes before its commit): none may
// wait on a lock another holds, and the invoice counter must still be
// free, as each batch numbers its invoices with its commit. Customers with
// several subscriptions, purchased apart (so that batches cut in order
// would share them), are renewed in one batch. Afterwards the invoice
// numbers are gapless and unique, no placeholder number is left anywhere
// in the database, and each renewal invoice's number is in its mail, its
// ledger memo, its audit entry and its events. A renewal that fails is
// left out alone, the progress only grows, and the summary counts what
// was done.
func TestParallelBillingBatchesNumberTheirInvoicesAtCommit(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		ctx := context.Background()
		env := testenv.New(t, url, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "US")
		// Customer 0, 1 and 2 buy a second subscription later on; the
		// last purchase (customer 17) will not renew.
		order := []int{0, 1, 2, 3, 4, 5, 6, 7, 0, 8, 9, 10, 11, 1, 12, 13, 14, 15, 2, 16, 17}
		custs := map[int]string{}
		var subs []string
		for _, c := range order {
			if custs[c] == "" {
				cust, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: fmt.Sprintf("par%d@example.com", c), Name: "Pat Par", Country: "US"})
				if err != nil {
					t.Fatal(err)
				}
				custs[c] = cust.ID
			}
			res, err := env.Svc.Purchase(ctx, commerce.System, commerce.PurchaseInput{CustomerID: custs[c], Plan: "sm-premium", Seats: 3,
				PaymentMethod: "invoice"})
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, res.Subscription.ID)
		}
		broken := subs[len(subs)-1]
		if _, err := env.DB.Write.Exec(`UPDATE subscriptions SET currency = 'JPY' WHERE id = $1`, broken); err != nil {
			t.Fatal(err)
		}
		const parallel = 4
		firstWave := 1 // SQLite's one writer runs the batches' transactions in turn
		if env.DB.Dialect == store.Postgres {
			firstWave = parallel
		}
		env.Svc.Failpoint = holdBatches(t, env.DB, firstWave)
		day := fulfill.NewDate(2027, 1, 1)
		env.Clock.Set(day.Time())
		var mu sync.Mutex
		var seen [][2]int
		sum, err := env.Svc.RunDueWith(ctx, day, commerce.RunOptions{Batch: 4, Parallel: parallel, Progress: func(done, total int) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, [2]int{done, total})
		}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("1 of %d renewals failed", len(subs))) {
			t.Errorf("run: %v; want the one renewal that can not be done", err)
		}
		if sum == nil || sum.Subscriptions != len(subs)-1 || len(sum.Failed) != 1 || sum.Failed[0].SubscriptionID != broken {
			t.Fatalf("summary %+v; want %d renewed and %s failed", sum, len(subs)-1, broken)
		}
		for i, p := range seen {
			if i > 0 && (p[0] < seen[i-1][0] || p[1] != seen[0][1]) {
				t.Errorf("progress went from %v to %v", seen[i-1], p)
			}
		}
		if len(seen) == 0 || seen[len(seen)-1][0] != seen[len(seen)-1][1] {
			t.Errorf("progress %v does not end done", seen)
		}
		checkGaplessNumbers(t, env.DB, 2*len(subs)-1)
		checkNoPlaceholderAnywhere(t, env.DB)
		rows, err := env.DB.Read.Query(`SELECT number FROM invoices WHERE period_start = $1`, day)
		if err != nil {
			t.Fatal(err)
		}
		var renewals []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			renewals = append(renewals, n)
		}
		rows.Close()
		if len(renewals) != len(subs)-1 {
			t.Fatalf("%d renewal invoices, want %d", len(renewals), len(subs)-1)
		}
		for _, n := range renewals {
			for _, q := range []string{
				`SELECT COUNT(*) FROM emails WHERE subject LIKE $1`,
				`SELECT COUNT(*) FROM ledger_transactions WHERE memo LIKE $1`,
				`SELECT COUNT(*) FROM audit_log WHERE detail LIKE $1`,
				`SELECT COUNT(*) FROM events WHERE type = 'invoice.finalized' AND payload LIKE $1`,
				`SELECT COUNT(*) FROM events WHERE type = 'subscription.renewed' AND payload LIKE $1`,
			} {
				var k int
				if err := env.DB.Read.QueryRow(q, "%"+n+"%").Scan(&k); err != nil || k == 0 {
					t.Errorf("%s: %d, %v; want the renewal invoice %s named", q, k, err, n)
				}
			}
		}
	})
}

// holdBatches is a failpoint that holds the first n batches of a billing
// run open together, each done and not committed, and fails the test if
// one of them waits on a lock meanwhile (PostgreSQL) or if the invoice
// counter is locked once all n are there.
func holdBatches(t *testing.T, db *store.DB, n int) func(string) {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(all) }) }
	return func(name string) {
		if !strings.HasPrefix(name, "billing-batch-") {
			return
		}
		mu.Lock()
		arrived++
		k := arrived
		mu.Unlock()
		switch {
		case k > n:
			return
		case k == n:
			if db.Dialect == store.Postgres {
				checkCounterFree(t, db)
			}
			release()
			return
		}
		for {
			select {
			case <-all:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var waiting int
			err := db.Read.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).
				Scan(&waiting)
			select {
			case <-all: // released meanwhile: the batches now commit, and wait for the counter in turn
				return
			default:
			}
			if err != nil {
				t.Error(err)
				release()
			} else if waiting > 0 {
				t.Errorf("%d transactions of the billing run wait on a lock while %d of %d batches are done and not committed", waiting, k, n)
				release()
			}
		}
	}
}

// checkCounterFree fails the test if a transaction holds the invoice
// counter's row.
func checkCounterFree(t *testing.T, db *store.DB) {
	t.Helper()
	tx, err := db.Write.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT value FROM sequences WHERE name = 'invoice' FOR UPDATE NOWAIT`); err != nil {
		t.Errorf("the invoice counter is locked while the batches are done and not committed: %v", err)
	}
}

// checkGaplessNumbers fails the test unless the invoices are numbered
// INV-000001 to INV-n, each once.
func checkGaplessNumbers(t *testing.T, db *store.DB, n int) {
	t.Helper()
	rows, err := db.Read.Query(`SELECT number FROM invoices ORDER BY number`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("INV-%06d", i+1)
	}
	if !slices.Equal(got, want) {
		t.Errorf("invoice numbers %v; want INV-000001 to INV-%06d, each once", got, n)
	}
}

// checkNoPlaceholderAnywhere fails the test if any column of any table
// holds a placeholder invoice number.
func checkNoPlaceholderAnywhere(t *testing.T, db *store.DB) {
	t.Helper()
	cols := map[string][]string{}
	var q string
	if db.Dialect == store.Postgres {
		q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`
	} else {
		q = `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'`
	}
	rows, err := db.Read.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		cols[tbl] = append(cols[tbl], col)
	}
	rows.Close()
	if len(cols["invoices"]) == 0 || len(cols["river_job"]) == 0 {
		t.Fatalf("columns found: %v", cols)
	}
	for tbl, cs := range cols {
		var conds []string
		for _, c := range cs {
			conds = append(conds, `CAST("`+c+`" AS TEXT) LIKE '%UNNUMBERED%'`)
		}
		var k int
		err := db.Read.QueryRow(`SELECT COUNT(*) FROM "` + tbl + `" WHERE ` + strings.Join(conds, " OR ")).Scan(&k)
		if err != nil && err != sql.ErrNoRows {
			t.Errorf("%s: %v", tbl, err)
		} else if k > 0 {
			t.Errorf("%d rows of %s hold a placeholder invoice number", k, tbl)
		}
	}
}
