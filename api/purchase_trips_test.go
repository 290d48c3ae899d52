package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/store"
)

// newQuietEnv is an API server with no job runner, so that nothing but the
// requests the test sends writes to the database (store.DB's round-trip
// count is the requests' own).
func newQuietEnv(t *testing.T, url string) *env {
	t.Helper()
	d, err := fulfill.ParseDate("2026-01-01")
	if err != nil {
		t.Fatal(err)
	}
	te := testenv.New(t, url, d.Time(), "DE")
	if err := te.DB.PutToken(context.Background(), "test", commerce.HashSecret(testToken), "admin", te.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	a := &api.Server{Svc: te.Svc, DB: te.DB, Keys: te.Keys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, db: te.DB, srv: srv, pay: te.Pay, clock: te.Clock, keys: te.Keys, svc: te.Svc}
}

// A card purchase with a new Idempotency-Key on PostgreSQL waits on few
// round trips in its write transactions (every statement is one, and a
// batch of kept writes is one; River's job insert goes with the COMMIT):
// 33 before the writes that follow the invoice number were kept and sent
// with the COMMIT, a statement run at once was sent with the kept ones, a
// plan was read with its prices and the first license of a new
// subscription numbered without a query; 15 after; 14 since the add-ons of
// a subscription the purchase inserted are known to be none, not read; 13
// since phase 3 reads its attempt and customer in one statement. On
// SQLite, where a call is a statement, 36 then 35, then 34.
func TestCardPurchaseRoundTripsOnPostgres(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newQuietEnv(t, url)
		cus := e.customer("US", "")
		body := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10, "payment_method": "pm_card_visa"}
		// The first purchase of the customer saves its card; the second is
		// the steady state the bench measures.
		if c := e.do("POST", "/api/v1/subscriptions", body, nil, "Idempotency-Key", "first"); c != 201 {
			t.Fatalf("first purchase: %d", c)
		}
		before := e.db.WriteRoundTrips()
		var p purchase
		if c := e.do("POST", "/api/v1/subscriptions", body, &p, "Idempotency-Key", "second"); c != 201 {
			t.Fatalf("second purchase: %d", c)
		}
		trips := e.db.WriteRoundTrips() - before
		t.Logf("%d round trips in the write transactions of one purchase", trips)
		if p.Invoice.Number != "INV-000002" || p.Invoice.Status != "paid" {
			t.Fatalf("invoice %s %s, want INV-000002 paid", p.Invoice.Number, p.Invoice.Status)
		}
		if e.db.Dialect == store.Postgres && trips > 13 {
			t.Errorf("%d round trips in a purchase's write transactions, want at most 13", trips)
		}
		if e.db.Dialect == store.SQLite && trips > 34 {
			t.Errorf("%d statements in a purchase's write transactions, want at most 34", trips)
		}
	})
}

// Invoice numbers stay gapless and in order under concurrent purchases now
// that the counter is taken in the batch of kept writes: N purchases at
// once get INV-000001 … INV-00000N, each once.
func TestConcurrentPurchasesGetGaplessInvoiceNumbers(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newQuietEnv(t, url)
		const buyers, each = 8, 3
		custs := make([]string, buyers)
		for i := range custs {
			custs[i] = e.customer("US", "")
		}
		var mu sync.Mutex
		var numbers []string
		var wg sync.WaitGroup
		for i, cus := range custs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range each {
					pm := "pm_card_visa"
					if j == 1 {
						pm = "invoice"
					}
					var p purchase
					body := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1 + j, "payment_method": pm}
					if c := e.do("POST", "/api/v1/subscriptions", body, &p, "Idempotency-Key", fmt.Sprintf("k%d-%d", i, j)); c != 201 {
						t.Errorf("purchase %d-%d: %d", i, j, c)
						return
					}
					mu.Lock()
					numbers = append(numbers, p.Invoice.Number)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		sort.Strings(numbers)
		if len(numbers) != buyers*each {
			t.Fatalf("%d invoices, want %d", len(numbers), buyers*each)
		}
		for i, n := range numbers {
			if want := fmt.Sprintf("INV-%06d", i+1); n != want {
				t.Fatalf("invoice numbers %v: at %d %s, want %s", numbers, i, n, want)
			}
		}
		var stored int
		if err := e.db.Read.QueryRow(`SELECT COUNT(DISTINCT number) FROM invoices`).Scan(&stored); err != nil || stored != buyers*each {
			t.Fatalf("%d distinct stored numbers (%v), want %d", stored, err, buyers*each)
		}
	})
}

// A purchase's invoice is numbered with its commit on PostgreSQL: every
// row that names the number (the invoice, its ledger memos, events, mails,
// audit entry, jobs) and the answer, sent and replayed, carries the real
// number, and no placeholder is stored anywhere.
func TestPurchaseNumberedAtCommitNamesTheRealNumberEverywhere(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newQuietEnv(t, url)
		cus := e.customer("US", "")
		for i, pm := range []string{"pm_card_visa", "invoice"} {
			body := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 3, "payment_method": pm}
			key := "numbered-" + pm
			var p, again purchase
			if c := e.do("POST", "/api/v1/subscriptions", body, &p, "Idempotency-Key", key); c != 201 {
				t.Fatalf("%s: %d", pm, c)
			}
			if c := e.do("POST", "/api/v1/subscriptions", body, &again, "Idempotency-Key", key); c != 201 {
				t.Fatalf("%s retry: %d", pm, c)
			}
			want := fmt.Sprintf("INV-%06d", i+1)
			if p.Invoice.Number != want || again.Invoice.Number != want {
				t.Errorf("%s: answered %q, replayed %q; want %s", pm, p.Invoice.Number, again.Invoice.Number, want)
			}
			var stored, subject string
			if err := e.db.Read.QueryRow(`SELECT number FROM invoices WHERE id = $1`, p.Invoice.ID).Scan(&stored); err != nil || stored != want {
				t.Errorf("%s: stored number %q (%v), want %s", pm, stored, err, want)
			}
			if err := e.db.Read.QueryRow(`SELECT subject FROM emails WHERE subject LIKE $1`, "%"+want).Scan(&subject); err != nil {
				t.Errorf("%s: no mail names %s: %v", pm, want, err)
			}
		}
		for _, q := range []string{
			`SELECT COUNT(*) FROM invoices WHERE number LIKE '%UNNUMBERED%'`,
			`SELECT COUNT(*) FROM ledger_transactions WHERE memo LIKE '%UNNUMBERED%'`,
			`SELECT COUNT(*) FROM events WHERE payload LIKE '%UNNUMBERED%'`,
			`SELECT COUNT(*) FROM emails WHERE subject LIKE '%UNNUMBERED%' OR body LIKE '%UNNUMBERED%' OR attachment_name LIKE '%UNNUMBERED%' OR attachment_source LIKE '%UNNUMBERED%'`,
			`SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%UNNUMBERED%'`,
			`SELECT COUNT(*) FROM river_job WHERE CAST(args AS TEXT) LIKE '%UNNUMBERED%'`,
		} {
			var n int
			if err := e.db.Read.QueryRow(q).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s: %d, %v; want 0", q, n, err)
			}
		}
		var memos int
		if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM ledger_transactions WHERE memo LIKE '%INV-000001%'`).Scan(&memos); err != nil || memos == 0 {
			t.Errorf("ledger memos naming INV-000001: %d, %v", memos, err)
		}
	})
}
