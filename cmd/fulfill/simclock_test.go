package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// clockState is GET /api/v1/test_clock.
type clockState struct {
	Today       string `json:"today"`
	AdvancingTo string `json:"advancing_to"`
}

// buySubscriptions buys n one-year subscriptions, one customer each,
// through the servers in turn.
func buySubscriptions(t *testing.T, n int, servers ...*server) []string {
	t.Helper()
	var ids []string
	for i := range n {
		s := servers[i%len(servers)]
		var cus struct{ ID string }
		if c := s.call("POST", "/api/v1/customers", map[string]any{"email": fmt.Sprintf("c%d@example.com", i), "name": "Clock Customer",
			"country": "US"}, &cus); c != 201 {
			t.Fatalf("customer %d: %d", i, c)
		}
		var p struct{ Subscription struct{ ID string } }
		if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 5,
			"payment_method": "pm_card_visa"}, &p); c != 201 {
			t.Fatalf("purchase %d: %d", i, c)
		}
		ids = append(ids, p.Subscription.ID)
	}
	return ids
}

// postAdvance asks addr to advance the clock to `to`; a server that dies
// meanwhile gives an error.
func postAdvance(addr, to string) (int, string, error) {
	req, _ := http.NewRequest("POST", addr+"/api/v1/test_clock/advance", strings.NewReader(`{"to":"`+to+`"}`))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// renewalCount counts the invoices of subscriptions beyond their first.
func renewalCount(t *testing.T, db *store.DB) int {
	t.Helper()
	var invoices, subs int
	if err := db.Read.QueryRowContext(context.Background(), `SELECT (SELECT COUNT(*) FROM invoices WHERE subscription_id IS NOT NULL),
		(SELECT COUNT(*) FROM subscriptions)`).Scan(&invoices, &subs); err != nil {
		t.Fatal(err)
	}
	return invoices - subs
}

// checkRenewedOnce checks that every subscription has exactly `invoices`
// invoices (its purchase and one per renewal) and ends on endsOn.
func checkRenewedOnce(t *testing.T, db *store.DB, ids []string, invoices int, endsOn string) {
	t.Helper()
	ctx := context.Background()
	bad := 0
	for _, id := range ids {
		var n int
		var ends fulfill.Date
		if err := db.Read.QueryRowContext(ctx, `SELECT ends_on, (SELECT COUNT(*) FROM invoices WHERE subscription_id = $1)
			FROM subscriptions WHERE id = $1`, id).Scan(&ends, &n); err != nil {
			t.Fatal(err)
		}
		if n != invoices || ends.String() != endsOn {
			bad++
			t.Errorf("subscription %s: %d invoices, ends on %s; want %d invoices, ends on %s", id, n, ends, invoices, endsOn)
		}
	}
	t.Logf("%d of %d subscriptions renewed exactly once a year", len(ids)-bad, len(ids))
}

// purchase buys a one-year subscription for a new customer through addr.
func purchase(addr, email string) (string, error) {
	call := func(path string, body map[string]any, out any) error {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", addr+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 {
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
		}
		return json.Unmarshal(raw, out)
	}
	var cus struct{ ID string }
	if err := call("/api/v1/customers", map[string]any{"email": email, "name": "Load Customer", "country": "US"}, &cus); err != nil {
		return "", err
	}
	var p struct{ Subscription struct{ ID string } }
	err := call("/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 1, "payment_method": "pm_card_visa"}, &p)
	return p.Subscription.ID, err
}

// checkBoughtDuring checks one-year subscriptions bought between from and
// until, with the clock now at now: each was renewed every year that fell
// due by now, once: it ends after now but at most a year after, and its
// invoices (purchase and renewals) count the years back to a start between
// from and until.
func checkBoughtDuring(t *testing.T, db *store.DB, ids []string, from, until, now string) {
	t.Helper()
	bad := 0
	for _, id := range ids {
		var n int
		var ends fulfill.Date
		if err := db.Read.QueryRowContext(context.Background(), `SELECT ends_on, (SELECT COUNT(*) FROM invoices WHERE subscription_id = $1)
			FROM subscriptions WHERE id = $1`, id).Scan(&ends, &n); err != nil {
			t.Fatal(err)
		}
		start := ends.Time().AddDate(-n, 0, 0).Format(time.DateOnly)
		last := ends.Time().AddDate(-1, 0, 0).Format(time.DateOnly)
		if ends.String() <= now || last > now || start < from || start > until {
			bad++
			t.Errorf("subscription %s bought during the advance: %d invoices, ends on %s (so bought on %s)", id, n, ends, start)
		}
	}
	t.Logf("%d of %d subscriptions bought during the advance renewed exactly once a year", len(ids)-bad, len(ids))
}

func openTestDB(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Issue 11, acceptance 4: a real `fulfill serve` is killed with SIGKILL in
// the middle of a three-year test_clock/advance, after some of the first
// year's renewals. Restarted with its original --simulated-clock date it
// keeps the stored date, says which advance was interrupted, and the next
// advance completes: every subscription renewed exactly once a year. Before,
// the restart began again at the start date and the jobs the dead process
// left running made the next advance wait 60 seconds and answer 500.
func TestClockAdvanceResumesAfterSIGKILL(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "data")
		args := []string{"serve", "--data-dir", dir, "--database-url", dbURL, "--addr", "127.0.0.1:0", "--simulated-clock", "2026-01-01"}
		vars := map[string]string{"FULFILL_TEST_ADVANCE_LEASE": "2s"}
		first := startChild(t, args, vars)
		s := &server{t: t, addr: first.addr}
		const n = 40
		ids := buySubscriptions(t, n, s)
		db := openTestDB(t, dbURL)

		type answer struct {
			code int
			body string
			err  error
		}
		answered := make(chan answer, 1)
		go func() {
			code, body, err := postAdvance(first.addr, "2028-12-15")
			answered <- answer{code, body, err}
		}()
		deadline := time.Now().Add(2 * time.Minute)
		for renewalCount(t, db) < n/2 {
			select {
			case a := <-answered:
				t.Fatalf("the advance answered %d %s before the kill", a.code, a.body)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("no renewals within two minutes")
			}
			time.Sleep(time.Millisecond)
		}
		if err := first.cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		<-first.done
		if a := <-answered; a.err == nil {
			t.Fatalf("the advance answered %d %s; the process should have died first", a.code, a.body)
		}
		var running int
		if err := db.Read.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM river_job WHERE state = 'running'`).Scan(&running); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed after %d of %d renewals, leaving %d jobs running", renewalCount(t, db), 2*n, running)

		second := startChild(t, args, vars)
		s.addr = second.addr
		var clk clockState
		if c := s.call("GET", "/api/v1/test_clock", nil, &clk); c != 200 || clk.Today < "2027-01-01" || clk.AdvancingTo != "2028-12-15" {
			t.Fatalf("after the restart the clock is %d %+v, want where the advance stopped (2027-01-01 or later), advancing to 2028-12-15", c, clk)
		}
		t.Logf("restarted at %s", clk.Today)
		start := time.Now()
		for {
			code, body, err := postAdvance(second.addr, "2028-12-15")
			if err != nil {
				t.Fatal(err)
			}
			if code == 200 {
				break
			}
			// The dead advance holds the clock until its lease runs out.
			if code != 409 || time.Since(start) > time.Minute {
				t.Fatalf("advance after the restart: %d %s", code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("the next advance completed %s after the restart", time.Since(start).Round(time.Millisecond))
		clk = clockState{}
		if c := s.call("GET", "/api/v1/test_clock", nil, &clk); c != 200 || clk.Today != "2028-12-15" || clk.AdvancingTo != "" {
			t.Fatalf("after the advance the clock is %d %+v", c, clk)
		}
		checkRenewedOnce(t, db, ids, 3, "2029-01-01")
	})
}

// Issue 11: two copies of the server on one database share the simulated
// clock. One advances a year: the other copy's clock shows the new date
// and no renewal was skipped or doubled. Then both advance at once (one does
// the work, the other is told an advance is under way or finds nothing
// left), with the same result, and a purchase through the copy that did not
// advance starts on the new date. Before, each copy had its own clock: the
// second stayed at the start date, and its workers, doing renewal jobs by
// that date, skipped them.
func TestClockSharedByTwoCopies(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		a := startServer(t, dbURL, "--database-url", dbURL)
		b := startServer(t, dbURL, "--database-url", dbURL)
		const n = 30
		ids := buySubscriptions(t, n, a, b)
		db := openTestDB(t, dbURL)

		// One copy advances; meanwhile customers buy through the other, whose
		// workers run beside it.
		stop, loaded := make(chan struct{}), make(chan []string)
		go func() {
			var bought []string
			defer func() { loaded <- bought }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				id, err := purchase(b.addr, fmt.Sprintf("load%d@example.com", i))
				if err != nil {
					t.Errorf("purchase under the advance: %v", err)
					return
				}
				bought = append(bought, id)
			}
		}()
		start := time.Now()
		code, body, err := postAdvance(a.addr, "2027-01-15")
		close(stop)
		bought := <-loaded
		if err != nil || code != 200 {
			t.Fatalf("advance: %d %s %v", code, body, err)
		}
		t.Logf("advanced a year in %s while %d purchases went through the other copy", time.Since(start).Round(time.Millisecond), len(bought))
		for i, s := range []*server{a, b} {
			var clk clockState
			if c := s.call("GET", "/api/v1/test_clock", nil, &clk); c != 200 || clk.Today != "2027-01-15" {
				t.Fatalf("copy %d: clock %d %+v, want 2027-01-15", i, c, clk)
			}
		}
		checkRenewedOnce(t, db, ids, 2, "2028-01-01")

		// Both advance at once: one does it, the other is told an advance
		// is under way or finds nothing left to do.
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, s := range []*server{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, err := postAdvance(s.addr, "2028-01-15")
				if err != nil || (code != 200 && code != 409) {
					t.Errorf("advance through copy %d: %d %s %v", i, code, body, err)
				}
				codes[i] = code
			}()
		}
		wg.Wait()
		t.Logf("concurrent advances answered %v", codes)
		if codes[0] != 200 && codes[1] != 200 {
			t.Fatalf("no concurrent advance succeeded: %v", codes)
		}
		for i, s := range []*server{a, b} {
			var clk clockState
			if c := s.call("GET", "/api/v1/test_clock", nil, &clk); c != 200 || clk.Today != "2028-01-15" {
				t.Fatalf("copy %d: clock %d %+v, want 2028-01-15", i, c, clk)
			}
		}
		checkRenewedOnce(t, db, ids, 3, "2029-01-01")
		checkBoughtDuring(t, db, bought, "2026-01-01", "2027-01-15", "2028-01-15")

		// Date-dependent work on the copy that did not advance uses the new date.
		later := buySubscriptions(t, 1, b)
		var sub struct {
			StartsOn string `json:"starts_on"`
		}
		if c := b.call("GET", "/api/v1/subscriptions/"+later[0], nil, &sub); c != 200 || sub.StartsOn != "2028-01-15" {
			t.Fatalf("a purchase through the other copy starts on %q (%d), want 2028-01-15", sub.StartsOn, c)
		}
	})
}

// A real-clock server refuses a database that runs on a simulated clock,
// with a one-line reason; its dates may lie years ahead.
func TestRealClockRefusesSimulatedDatabase(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		sim := startServer(t, dbURL, "--database-url", dbURL)
		if code, body, err := postAdvance(sim.addr, "2026-03-01"); err != nil || code != 200 {
			t.Fatalf("advance: %d %s %v", code, body, err)
		}
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := Main(ctx, []string{"serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--database-url", dbURL,
			"--addr", "127.0.0.1:0"}, &out, io.Discard, env(map[string]string{"FULFILL_ADMIN_TOKEN": e2eToken, "FULFILL_ACCEPT_DATA_LOSS": "1"}))
		if err == nil || !strings.Contains(err.Error(), "simulated clock (at 2026-03-01)") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("real-clock serve on a simulated database: %v\n%s", err, out.String())
		}
		// The same flag again keeps the stored date.
		again := startServer(t, dbURL, "--database-url", dbURL)
		var clk clockState
		if c := again.call("GET", "/api/v1/test_clock", nil, &clk); c != 200 || clk.Today != "2026-03-01" {
			t.Fatalf("restart with --simulated-clock 2026-01-01: clock %d %+v, want the stored 2026-03-01", c, clk)
		}
	})
}
