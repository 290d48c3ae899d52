package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// purgeFixture fills the four purged tables with rows on both sides of
// their cutoffs, relative to now.
type purgeFixture struct {
	db  *store.DB
	now time.Time
}

func (f purgeFixture) ids(t *testing.T, query string) map[string]bool {
	t.Helper()
	rows, err := f.db.Read.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out[s] = true
	}
	return out
}

func newPurgeFixture(t *testing.T, env *testenv.Env, expiredSessions int) purgeFixture {
	t.Helper()
	ctx := context.Background()
	now := env.Clock.Now()
	db := env.DB
	c, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "ann@example.com", Name: "Ann", Company: "Acme", Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "usr_purge", Email: "ann@example.com", Name: "Ann", Role: "customer", CreatedAt: now.Add(-90 * 24 * time.Hour)}
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertUser(u); err != nil {
			return err
		}
		for _, tok := range []struct {
			hash, purpose string
			expires       time.Duration
		}{
			{"tok-expired-signin", "signin", -time.Minute},
			{"tok-expired-reset", "reset", -48 * time.Hour},
			{"tok-expired-confirm", "confirm", -time.Second},
			{"tok-live-signin", "signin", 15 * time.Minute},
			{"tok-live-confirm", "confirm", 72 * time.Hour},
		} {
			if err := tx.InsertToken(tok.hash, u.ID, tok.purpose, now.Add(tok.expires-time.Hour), now.Add(tok.expires)); err != nil {
				return err
			}
		}
		for _, in := range []struct {
			id      string
			expires time.Duration
		}{
			{"inv-expired-long-ago", -jobs.InvitationRetention - time.Hour},
			{"inv-expired-recently", -time.Hour}, // still listed as expired
			{"inv-live", 24 * time.Hour},
		} {
			if err := tx.InsertInvitation(&store.Invitation{ID: in.id, CustomerID: c.ID, Email: "bob@example.com", TokenHash: "hash-" + in.id,
				InvitedBy: u.ID, CreatedAt: now.Add(in.expires - 7*24*time.Hour), ExpiresAt: now.Add(in.expires)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range expiredSessions {
		s := &store.Session{IDHash: fmt.Sprintf("sess-expired-%04d", i), UserID: u.ID, CreatedAt: now.Add(-15 * 24 * time.Hour),
			ExpiresAt: now.Add(-time.Duration(i+1) * time.Second)}
		if err := db.InsertSession(ctx, s, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*store.Session{
		{IDHash: "sess-live", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{IDHash: "sess-live-soon", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Second)},
	} {
		if err := db.InsertSession(ctx, s, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []struct {
		key string
		age time.Duration
	}{
		{"idem-old", jobs.IdempotencyRetention + time.Minute},
		{"idem-older", 30 * 24 * time.Hour},
		{"idem-recent", jobs.IdempotencyRetention - time.Minute},
		{"idem-new", 0},
	} {
		if _, err := db.ClaimIdempotencyKey(ctx, "tok_test", k.key, "h", now.Add(-k.age), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []struct {
		key string
		age time.Duration
	}{{"throttle-old", jobs.ThrottleRetention + time.Hour}, {"throttle-recent", time.Hour}} {
		if _, err := db.Hit(ctx, k.key, time.Hour, now.Add(-k.age)); err != nil {
			t.Fatal(err)
		}
	}
	return purgeFixture{db: db, now: now}
}

// check asserts that exactly the rows past their cutoffs are gone.
func (f purgeFixture) check(t *testing.T) {
	t.Helper()
	want := map[string]map[string]bool{
		`SELECT id_hash FROM web_sessions`:   {"sess-live": true, "sess-live-soon": true},
		`SELECT hash FROM web_tokens`:        {"tok-live-signin": true, "tok-live-confirm": true},
		`SELECT id FROM account_invitations`: {"inv-expired-recently": true, "inv-live": true},
		`SELECT key FROM idempotency_keys`:   {sha256hex("idem-recent"): true, sha256hex("idem-new"): true}, // stored hashed
		`SELECT key FROM throttles`:          {"throttle-recent": true},
	}
	for q, w := range want {
		got := f.ids(t, q)
		if len(got) != len(w) {
			t.Errorf("%s: %v, want %v", q, got, w)
			continue
		}
		for id := range w {
			if !got[id] {
				t.Errorf("%s: %v, want %v", q, got, w)
			}
		}
	}
}

// Purge deletes expired sessions, tokens, invitations (after 30 days) and
// idempotency records older than 72 hours, in batches, and keeps the rest.
func TestPurgeDeletesExpiredRecords(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		expired := 2*store.PurgeBatch + 7 // three batches
		f := newPurgeFixture(t, env, expired)
		res, err := jobs.Purge(context.Background(), env.DB, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if want := (jobs.PurgeResult{Sessions: int64(expired), Tokens: 3, Invitations: 1, IdempotencyKeys: 2, Throttles: 1}); res != want {
			t.Fatalf("purged %+v, want %+v", res, want)
		}
		f.check(t)
		if res, err := jobs.Purge(context.Background(), env.DB, f.now); err != nil || res != (jobs.PurgeResult{}) {
			t.Fatalf("a second purge: %+v, %v", res, err)
		}
	})
}

// Under the real clock the runner purges on its own, as a periodic job.
func TestPurgeRunsPeriodically(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		f := newPurgeFixture(t, env, 3)
		startRunner(t, env) // the periodic jobs run, starting at once
		deadline := time.Now().Add(30 * time.Second)
		// Wait for a purge job to have completed: it deletes table after
		// table, so watching only some of them can check the rest too early.
		completed := func() bool {
			var n int
			if err := env.DB.Read.QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'maintenance.purge' AND state = 'completed'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n > 0
		}
		for !completed() {
			if time.Now().After(deadline) {
				rows, _ := env.DB.Read.Query(`SELECT kind, state, attempt, COALESCE(CAST(errors AS TEXT), '') FROM river_job`)
				for rows.Next() {
					var k, s, e string
					var a int
					rows.Scan(&k, &s, &a, &e)
					t.Logf("job %s %s %d %s", k, s, a, e)
				}
				rows.Close()
				t.Fatal("the periodic purge did not run within 30 seconds")
			}
			time.Sleep(50 * time.Millisecond)
		}
		f.check(t)
	})
}

// sha256hex is how the store keeps an Idempotency-Key: hashed, never as sent.
func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// startRunner starts a job runner on env with its clock as the real one
// (not Simulated: the periodic jobs run, starting at once), stopped when
// the test ends.
func startRunner(t *testing.T, env *testenv.Env) *jobs.Runner {
	t.Helper()
	runner := newRunner(t, env)
	start(t, runner)
	return runner
}

// newRunner builds a runner of env's service; start starts it until the
// test ends.
func newRunner(t *testing.T, env *testenv.Env) *jobs.Runner {
	t.Helper()
	runner, err := jobs.New(jobs.Config{Service: env.Svc, Clock: fulfill.Clock(env.Clock), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return runner
}

func start(t *testing.T, runner *jobs.Runner) {
	t.Helper()
	ctx := context.Background()
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		runner.Stop(sctx)
	})
}
