package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// withParam adds a query parameter to a database URL.
func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// keyRecords counts the idempotency records kept for a key.
func (e *env) keyRecords(key string) int {
	e.t.Helper()
	var n int
	sum := sha256.Sum256([]byte(key)) // keys are stored hashed
	if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM idempotency_keys WHERE key = $1`, hex.EncodeToString(sum[:])).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// post sends a JSON POST with a deadline and returns the status and body;
// unlike do, it may run on any goroutine.
func (e *env) post(ctx context.Context, path string, body any, headers ...string) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// purchaseFailsThenSucceeds checks a purchase made while the customer can
// not be read: a 5xx that is not "No customer", no idempotency record, no
// subscription; and, once release has run, the same request with the same
// key is a 201.
func purchaseFailsThenSucceeds(t *testing.T, e *env, cus, key string, release func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5, "payment_method": "pm_card_visa"}
	status, raw, err := e.post(ctx, "/api/v1/subscriptions", body, "Idempotency-Key", key)
	if err != nil {
		t.Fatal(err)
	}
	if status < 500 || strings.Contains(string(raw), "No customer") {
		t.Fatalf("purchase while the customer is locked: %d %s, want a 5xx", status, raw)
	}
	if n := e.keyRecords(key); n != 0 {
		t.Errorf("%d idempotency records kept for a failed purchase, want 0", n)
	}
	counts, err := e.db.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["subscriptions"] != 0 || counts["invoices"] != 0 || e.pay.Charges() != 0 {
		t.Errorf("after the failed purchase: %v, %d charges; want nothing", counts, e.pay.Charges())
	}
	release()
	status, raw, err = e.post(ctx, "/api/v1/subscriptions", body, "Idempotency-Key", key)
	if err != nil {
		t.Fatal(err)
	}
	if status != 201 {
		t.Fatalf("retry after the lock is gone: %d %s, want 201", status, raw)
	}
	if counts, _ := e.db.TableCounts(ctx); counts["subscriptions"] != 1 || e.pay.Charges() != 1 {
		t.Errorf("after the retry: %v, %d charges; want one subscription and one charge", counts, e.pay.Charges())
	}
}

// A lock timeout during a purchase is our failure, not a missing customer:
// 5xx, the Idempotency-Key is released, and the retry succeeds.
func TestPurchaseDuringLockTimeoutIs5xxAndKeepsNoKey(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := dbtest.PostgresURL(t)
		e := newEnv(t, withParam(url, "lock_timeout=300ms"), "2026-01-01")
		cus := e.customer("US", "")
		other, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		holder, err := other.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		if _, err := holder.Exec(`SELECT id FROM customers WHERE id = $1 FOR UPDATE`, cus); err != nil {
			t.Fatal(err)
		}
		purchaseFailsThenSucceeds(t, e, cus, "buy-locked", func() { holder.Rollback() })

		// The same for a seat report and a seat link while their
		// subscription's row is locked: never "unknown subscription".
		var subs struct{ Data []subscription }
		e.must(200, "GET", "/api/v1/subscriptions", nil, &subs)
		sub := subs.Data[0].ID
		_, lic := e.text("/api/v1/subscriptions/" + sub + "/license")
		holder, err = other.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		if _, err := holder.Exec(`SELECT id FROM subscriptions WHERE id = $1 FOR UPDATE`, sub); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, c := range []struct {
			path string
			body map[string]any
		}{
			{"/api/v1/seat_reports", map[string]any{"subscription_id": sub, "max_users": 3, "billable_users": 3}},
			{"/api/v1/seat_links", map[string]any{"license_key": lic, "timestamp": "2026-01-01T10:00:00Z",
				"max_historical_user_count": 3, "billable_users_count": 3, "instance_id": "i-1", "hostname": "h", "version": "1"}},
		} {
			status, raw, err := e.post(ctx, c.path, c.body, "Idempotency-Key", "locked-"+c.path)
			if err != nil {
				t.Fatal(err)
			}
			if status < 500 {
				t.Errorf("POST %s while the subscription is locked: %d %s, want a 5xx", c.path, status, raw)
			}
		}
		holder.Rollback()
		if n := e.keyRecords("locked-/api/v1/seat_reports"); n != 0 {
			t.Errorf("%d idempotency records kept for a failed seat report, want 0", n)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := dbtest.SQLitePath(t)
		e := newEnv(t, "file:"+path+"?busy_timeout=200", "2026-01-01")
		cus := e.customer("US", "")
		// Another process holds the write lock for longer than the busy timeout.
		other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		holder, err := other.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		purchaseFailsThenSucceeds(t, e, cus, "buy-busy", func() { holder.Rollback() })
	})
}

// A purchase whose database connection dies under it (the backend killed
// while it waits for a row lock) answers 5xx, keeps no key, and the retry
// succeeds.
func TestPurchaseOnDroppedConnectionIs5xxAndKeepsNoKey(t *testing.T) {
	t.Parallel()
	url := dbtest.PostgresURL(t)
	e := newEnv(t, url, "2026-01-01")
	cus := e.customer("US", "")
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec(`SELECT id FROM customers WHERE id = $1 FOR UPDATE`, cus); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Kill the purchase's backend once it waits for the lock.
	killed := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			var pid int
			err := other.QueryRowContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
				AND wait_event_type = 'Lock' AND query LIKE '%customers%' LIMIT 1`).Scan(&pid)
			if err == nil {
				_, err = other.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid)
				killed <- err
				return
			}
			if err != sql.ErrNoRows {
				killed <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		killed <- ctx.Err()
	}()
	released := false
	purchaseFailsThenSucceeds(t, e, cus, "buy-dropped", func() {
		if err := <-killed; err != nil {
			t.Fatalf("terminate the purchase's backend: %v", err)
		}
		holder.Rollback()
		released = true
	})
	if !released {
		t.Fatal("the lock was never released")
	}
}

// A 409 is an answer of the moment: the key is not kept, so the same key
// may run again once the state allows it.
func TestConflictAnswerIsNotKeptForIdempotencyKey(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 2,
			"payment_method": "pm_card_visa"}, &p)
		renew := "/api/v1/subscriptions/" + p.Subscription.ID + "/renew"
		if c := e.do("POST", renew, map[string]any{}, nil, "Idempotency-Key", "renew-1"); c != 200 {
			t.Fatalf("renew: %d", c)
		}
		if n := e.keyRecords("renew-1"); n != 1 {
			t.Errorf("a 200 kept %d records, want 1", n)
		}
		var ae apiError
		if c := e.do("POST", renew, map[string]any{}, &ae, "Idempotency-Key", "renew-2"); c != 409 || ae.Error.Code != "conflict" {
			t.Fatalf("second renewal: %d %+v, want 409 conflict", c, ae)
		}
		if n := e.keyRecords("renew-2"); n != 0 {
			t.Errorf("a 409 kept %d records, want 0", n)
		}
	})
}

func TestFinalAnswer(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]bool{200: true, 201: true, 204: true, 400: true, 402: true, 404: true, 422: true,
		408: false, 409: false, 429: false, 0: false, 500: false, 502: false, 503: false} {
		if got := api.FinalAnswer(status); got != want {
			t.Errorf("FinalAnswer(%d) = %v, want %v", status, got, want)
		}
	}
}

// On PostgreSQL with a pool of 5 connections, 100 concurrent activations,
// 100 concurrent seat links with an outdated license and 30 license resends
// all succeed while the catalog keeps answering: no request holds a
// transaction while it waits for another connection.
//
// Not parallel: a load test with a bound on answer times runs alone, before
// the parallel tests of the package start.
func TestManyActivationsAndSeatLinksOnSmallPool(t *testing.T) {
	url := dbtest.PostgresURL(t)
	// Limits far above the load: this test is about the pool, not the throttles.
	e := newEnvAPI(t, withParam(url, "pool_max_conns=5"), "2026-01-01", func(a *api.Server) {
		lots := api.Rate{N: 1 << 20, Per: time.Hour}
		all := api.InstanceLimit{PerIP: lots, PerInstance: lots}
		a.InstanceLimits = api.InstanceLimits{Activations: all, FailedActivationsPerIP: lots, SeatLinks: all, UsageData: all, UsageFiles: all}
	})
	if got := e.db.Write.Stats().MaxOpenConnections; got != 5 {
		t.Fatalf("pool of %d, want 5", got)
	}
	cus := e.customer("US", "")
	var a, b purchase
	e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5,
		"payment_method": "pm_card_visa"}, &a)
	e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5,
		"payment_method": "pm_card_visa"}, &b)
	_, outdated := e.text("/api/v1/subscriptions/" + b.Subscription.ID + "/license")
	e.must(200, "POST", "/api/v1/subscriptions/"+b.Subscription.ID+"/seats", map[string]any{"seats": 6}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const n = 100
	var wg sync.WaitGroup
	const resends = 30
	errs := make(chan error, 2*n+resends)
	start := make(chan struct{})
	for i := range resends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, raw, err := e.post(ctx, "/api/v1/subscriptions/"+a.Subscription.ID+"/license/resend", map[string]any{})
			if err == nil && status != 202 {
				err = fmt.Errorf("resend %d: %d %s", i, status, raw)
			}
			errs <- err
		}()
	}
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			status, raw, err := e.post(ctx, "/api/v1/activations", map[string]any{"activation_code": *a.ActivationCode,
				"instance_id": fmt.Sprintf("inst-a-%d", i), "hostname": "host", "version": "17.0"})
			if err == nil && status != 201 {
				err = fmt.Errorf("activation %d: %d %s", i, status, raw)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			<-start
			status, raw, err := e.post(ctx, "/api/v1/seat_links", map[string]any{"license_key": outdated,
				"timestamp": "2026-01-01T10:00:00Z", "max_historical_user_count": 4, "billable_users_count": 4,
				"instance_id": fmt.Sprintf("inst-b-%d", i), "hostname": "host", "version": "17.0"})
			var res struct{ License *string }
			if err == nil && (status != 200 || json.Unmarshal(raw, &res) != nil || res.License == nil) {
				err = fmt.Errorf("seat link %d: %d %s, want 200 with the new license", i, status, raw)
			}
			errs <- err
		}()
	}
	// The catalog answers all along, also while the load runs. On
	// PostgreSQL it reads on the same pool, so each answer waits its turn
	// (about 0.3 s here, and as many times longer as the machine is
	// slower); a pool starved by transactions waiting for connections would
	// answer it once the load is over, or never.
	var plansOK, plansDuring, plansFailed atomic.Int32
	done := make(chan struct{})
	pollerDone := make(chan struct{})
	go func() {
		defer close(pollerDone)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/plans", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode == 200 {
				plansOK.Add(1)
				select {
				case <-done:
				default:
					plansDuring.Add(1)
				}
			} else {
				plansFailed.Add(1)
			}
		}
	}()
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	close(done)
	<-pollerDone
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d requests failed", failed, 2*n+resends)
	}
	if plansFailed.Load() > 0 || plansDuring.Load() < 1 {
		t.Errorf("GET /api/v1/plans: %d answered while the load ran (want some), %d failed", plansDuring.Load(), plansFailed.Load())
	}
	t.Logf("%d activations and %d seat links on a pool of 5 in %v; the catalog answered %d times", n, n, took.Round(time.Millisecond), plansOK.Load())
}

// A preview reads in a read-only transaction: it answers while another
// transaction holds the writer (SQLite) or locks the subscription and the
// customer (PostgreSQL), and gives the price the change then invoices.
func TestPreviewsDoNotWaitForTheWriter(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 100,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		e.advance("2026-07-02")

		held, release, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			finished <- e.db.InTx(context.Background(), func(tx *store.Tx) error {
				if _, err := tx.Subscription(sub); err != nil { // FOR UPDATE on PostgreSQL
					return err
				}
				if _, err := tx.Customer(cus); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var seats, plan struct {
			AmountDue int64 `json:"amount_due"`
			Lines     []line
		}
		status, raw, err := e.post(ctx, "/api/v1/subscriptions/"+sub+"/seats/preview", map[string]any{"seats": 120})
		if err != nil || status != 200 || json.Unmarshal(raw, &seats) != nil {
			t.Fatalf("seat preview while the writer is held: %d %s %v", status, raw, err)
		}
		status, raw, err = e.post(ctx, "/api/v1/subscriptions/"+sub+"/plan/preview", map[string]any{"plan": "sm-ultimate"})
		if err != nil || status != 200 || json.Unmarshal(raw, &plan) != nil {
			t.Fatalf("plan preview while the writer is held: %d %s %v", status, raw, err)
		}
		close(release)
		if err := <-finished; err != nil {
			t.Fatal(err)
		}
		if seats.AmountDue != 348953 {
			t.Errorf("seat preview amount_due = %d, want 348953 (20 × 34800 × 183/365)", seats.AmountDue)
		}
		counts, _ := e.db.TableCounts(context.Background())
		if counts["invoices"] != 1 {
			t.Errorf("previews stored invoices: %d, want 1", counts["invoices"])
		}
		var up struct{ Invoice invoice }
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/plan", map[string]any{"plan": "sm-ultimate"}, &up)
		if up.Invoice.Total != plan.AmountDue || len(up.Invoice.Lines) != len(plan.Lines) {
			t.Errorf("upgrade invoiced %d in %d lines, preview said %d in %d", up.Invoice.Total, len(up.Invoice.Lines), plan.AmountDue, len(plan.Lines))
		}
	})
}
