package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/clientip"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/web"
)

// This file tests issue 9 items 3, 6, 7, 8 and the sign-in parts of 10:
// account pre-hijacking, throttles on anonymous forms and on mail,
// sign-in throttles that cannot lock an owner out, body limits, password
// rules.

// behindProxy makes the test server trust loopback as a proxy, so a
// request's X-Forwarded-For header names the client.
func behindProxy(c *web.Config) {
	r, err := clientip.Parse("127.0.0.0/8,::1")
	if err != nil {
		panic(err)
	}
	c.ClientIP = r
}

// from is the header that makes a request come from ip behind the proxy.
func from(ip string) []string { return []string{"X-Forwarded-For", ip} }

func (c *client) postFrom(ip, path string, kv ...string) resp {
	c.e.t.Helper()
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return c.do("POST", path, f, from(ip)...)
}

// mailsTo counts the messages queued for addr.
func (e *env) mailsTo(addr string) int {
	e.t.Helper()
	var n int
	if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM emails WHERE to_addr = $1`, addr).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// ---- item 3: account pre-hijacking ----

func TestPreHijackedAccountLosesTheStrangersPasswordWhenTheOwnerSignsInByLink(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url)
		const attackerPassword = "attacker chose this"
		attacker := e.client()
		attacker.post("/signup", "name", "Mallory", "email", "victim@example.com", "password", attackerPassword).must(t, 200)
		// An unconfirmed account's password never signs in.
		attacker.post("/signin", "email", "victim@example.com", "password", attackerPassword).must(t, 403)
		// Should the attacker hold a session of that account by any means,
		// it must end too.
		u, err := e.db.UserByEmail(context.Background(), "victim@example.com")
		if err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		if err := e.db.InsertSession(context.Background(), &store.Session{IDHash: strings.Repeat("a", 64), UserID: u.ID,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, "192.0.2.66"); err != nil {
			t.Fatal(err)
		}

		// The owner asks for a sign-in link and uses it.
		victim := e.client()
		victim.post("/signin/link/request", "email", "victim@example.com").must(t, 200)
		path, tok := e.lastLink("victim@example.com")
		if path != "/signin/link" {
			t.Fatalf("link path %s", path)
		}
		victim.post("/signin/link", "token", tok).must(t, 303)
		if r := victim.get("/subscriptions").must(t, 200); !strings.Contains(r.body, "was not kept") {
			t.Fatalf("the owner is not told that the earlier password is gone: %.3000s", r.body)
		}

		// The stranger's password no longer works, and looks like any
		// wrong password.
		r := e.client().post("/signin", "email", "victim@example.com", "password", attackerPassword).must(t, 401)
		if !strings.Contains(r.body, "do not match an account") {
			t.Fatalf("body: %.2000s", r.body)
		}
		if n := e.count(`SELECT COUNT(*) FROM web_sessions WHERE user_id = $1 AND id_hash = $2`, u.ID, strings.Repeat("a", 64)); n != 0 {
			t.Fatalf("the stranger's session survived the confirmation (%d)", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM web_users WHERE id = $1 AND password_hash = ''`, u.ID); n != 1 {
			t.Fatal("the pre-confirmation password is still stored")
		}
		victim.get("/subscriptions").must(t, 200) // the owner's own session stays
	})
}

func TestPreHijackedAccountLosesTheStrangersPasswordOnReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	attacker := e.client()
	attacker.post("/signup", "name", "Mallory", "email", "victim@example.com", "password", "attacker chose this").must(t, 200)
	victim := e.client()
	victim.post("/password/forgot", "email", "victim@example.com").must(t, 200)
	_, tok := e.lastLink("victim@example.com")
	victim.post("/password/reset", "token", tok, "password", "the owner's own passphrase").must(t, 303)
	e.client().post("/signin", "email", "victim@example.com", "password", "attacker chose this").must(t, 401)
	e.client().post("/signin", "email", "victim@example.com", "password", "the owner's own passphrase").must(t, 303)
}

func TestSecondSignUpOnAnUnconfirmedAddressAttachesNoPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.client().post("/signup", "name", "First", "email", "ann@example.com", "password", "first person's password").must(t, 200)
	_, confirmTok := e.lastLink("ann@example.com")
	second := e.client().post("/signup", "name", "Second", "email", "ann@example.com", "password", "second person's password").must(t, 200)
	first := e.client().post("/signup", "name", "Third", "email", "new@example.com", "password", "third person's password").must(t, 200)
	if strings.ReplaceAll(second.body, "ann@example.com", "new@example.com") != first.body {
		t.Fatal("a sign-up on a taken address answers differently from a new one")
	}
	// The confirmation link of the first sign-up keeps that sign-up's
	// password, and only that one.
	c := e.client()
	c.post("/confirm", "token", confirmTok).must(t, 303)
	e.client().post("/signin", "email", "ann@example.com", "password", "second person's password").must(t, 401)
	e.client().post("/signin", "email", "ann@example.com", "password", "first person's password").must(t, 303)
}

// ---- item 6: throttles on sign-up and on mail ----

func TestSignUpsFromOneAddressAreThrottled(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		e := newEnv(t, dbURL, behindProxy)
		c := e.client()
		ok, throttled := 0, 0
		for i := range 200 {
			r := c.postFrom("203.0.113.50", "/signup", "name", "Bot", "email", "bot"+strconv.Itoa(i)+"@example.com", "password", password)
			switch r.status {
			case 200:
				if throttled > 0 {
					t.Fatalf("sign-up %d accepted after a refusal", i)
				}
				ok++
			case 429:
				throttled++
				if !strings.Contains(r.body, "Too many") || !strings.Contains(r.body, `action="/signup"`) {
					t.Fatalf("429 without the form and a message: %.2000s", r.body)
				}
			default:
				t.Fatalf("sign-up %d: status %d", i, r.status)
			}
		}
		if ok == 0 || ok > 20 {
			t.Fatalf("%d sign-ups accepted from one address, want 1 to 20", ok)
		}
		if n := e.count(`SELECT COUNT(*) FROM web_users`); n != ok {
			t.Fatalf("%d users for %d accepted sign-ups", n, ok)
		}
		// Another address is not affected.
		e.client().postFrom("198.51.100.7", "/signup", "name", "Ann", "email", "ann@example.com", "password", password).must(t, 200)
	})
}

func TestOneAddressGetsAFewMailsAnHourWhateverTheRequester(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		e := newEnv(t, dbURL, behindProxy)
		e.signUp("victim@example.com")
		before := e.mailsTo("victim@example.com")
		// 30 requests in a burst, each from another address, for an
		// account that exists and for one that does not.
		statuses := map[string][]int{}
		for _, addr := range []string{"victim@example.com", "nobody@example.com"} {
			for i := range 30 {
				path := []string{"/signin/link/request", "/password/forgot", "/confirm/resend"}[i%3]
				r := e.client().postFrom("203.0.113."+strconv.Itoa(i+1), path, "email", addr)
				if r.status != 200 && r.status != 429 {
					t.Fatalf("%s: status %d", path, r.status)
				}
				statuses[addr] = append(statuses[addr], r.status)
			}
		}
		if got := e.mailsTo("victim@example.com") - before; got < 1 || got > 5 {
			t.Fatalf("%d mails queued for one address after 30 requests, want 1 to 5", got)
		}
		// The answers do not tell which address has an account.
		if strings.Join(strs(statuses["victim@example.com"]), ",") != strings.Join(strs(statuses["nobody@example.com"]), ",") {
			t.Fatalf("answers differ: %v vs %v", statuses["victim@example.com"], statuses["nobody@example.com"])
		}
	})
}

func strs(ns []int) []string {
	var out []string
	for _, n := range ns {
		out = append(out, strconv.Itoa(n))
	}
	return out
}

func TestLinkRequestsFromOneAddressAreThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	c := e.client()
	var last resp
	for i := range 100 {
		last = c.post("/signin/link/request", "email", "someone"+strconv.Itoa(i)+"@example.com")
		if last.status == 429 {
			break
		}
		last.must(t, 200)
	}
	last.must(t, 429)
	if !strings.Contains(last.body, "Too many") || !strings.Contains(last.body, `action="/signin/link/request"`) {
		t.Fatalf("429 without the form and a message: %.2000s", last.body)
	}
	r := c.post("/password/forgot", "email", "someone@example.com").must(t, 429)
	if !strings.Contains(r.body, `action="/password/forgot"`) {
		t.Fatalf("429 without the form: %.2000s", r.body)
	}
}

// ---- item 7: sign-in throttles that are no lockout weapon ----

func TestAttackerElsewhereCannotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url, behindProxy)
		e.signUp("victim@example.com")
		attacker := e.client()
		failures := 0
		for i := range 50 {
			r := attacker.postFrom("203.0.113.9", "/signin", "email", "victim@example.com", "password", "guess number "+strconv.Itoa(i))
			switch r.status {
			case 401:
				failures++
			case 429:
				if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
					t.Fatalf("429 with Retry-After %q", r.header.Get("Retry-After"))
				}
			default:
				t.Fatalf("attempt %d: status %d", i, r.status)
			}
		}
		if failures < 5 || failures >= 50 {
			t.Fatalf("%d of 50 guesses were tried, want the throttle to stop them after 5", failures)
		}
		// The owner, at another address, signs in at once.
		e.client().postFrom("198.51.100.20", "/signin", "email", "victim@example.com", "password", password).must(t, 303)
		// The attacker's address is still held back, even with the right password.
		attacker.postFrom("203.0.113.9", "/signin", "email", "victim@example.com", "password", password).must(t, 429)
	})
}

func TestSignInThrottleIsSharedByEveryCopyOfTheServer(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url)
		e.signUp("ann@example.com")
		w, err := web.New(web.Config{Service: e.svc, DB: e.db, Clock: e.clock, WallClock: e.wall})
		if err != nil {
			t.Fatal(err)
		}
		srv2 := httptest.NewServer(w.Handler())
		t.Cleanup(srv2.Close)
		e2 := *e
		e2.srv = srv2
		for i := range 5 {
			c := e.client()
			if i%2 == 1 {
				c = e2.client()
			}
			c.post("/signin", "email", "ann@example.com", "password", "wrong "+strconv.Itoa(i)).must(t, 401)
		}
		e.client().post("/signin", "email", "ann@example.com", "password", "wrong again").must(t, 429)
		e2.client().post("/signin", "email", "ann@example.com", "password", "wrong again").must(t, 429)
	})
}

func TestXForwardedForCountsOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	t.Run("no trusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, dbtest.SQLiteURL(t))
		e.signUp("ann@example.com")
		for i := range 5 {
			e.client().do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"wrong " + strconv.Itoa(i)}},
				from("203.0.113."+strconv.Itoa(i+1))...).must(t, 401)
		}
		// A new header value does not make a new client.
		e.client().do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {password}}, from("198.51.100.1")...).must(t, 429)
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, dbtest.SQLiteURL(t), behindProxy)
		e.signUp("ann@example.com")
		for i := range 5 {
			e.client().postFrom("203.0.113.1", "/signin", "email", "ann@example.com", "password", "wrong "+strconv.Itoa(i)).must(t, 401)
		}
		e.client().postFrom("203.0.113.1", "/signin", "email", "ann@example.com", "password", password).must(t, 429)
		e.client().postFrom("198.51.100.1", "/signin", "email", "ann@example.com", "password", password).must(t, 303)
	})
}

func TestSignInCeilingPerAddressAcrossAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t), behindProxy)
	e.signUp("ann@example.com")
	c := e.client()
	for i := range 100 {
		c.postFrom("203.0.113.5", "/signin", "email", "user"+strconv.Itoa(i)+"@example.com", "password", "spray password").must(t, 401)
	}
	r := c.postFrom("203.0.113.5", "/signin", "email", "ann@example.com", "password", password).must(t, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	e.client().postFrom("198.51.100.3", "/signin", "email", "ann@example.com", "password", password).must(t, 303)
}

func TestThrottledSignInAnswersTheSameForUnknownAndKnownEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("known@example.com")
	var bodies []string
	for _, addr := range []string{"known@example.com", "nobody@example.com"} {
		for i := range 5 {
			e.client().post("/signin", "email", addr, "password", "wrong "+strconv.Itoa(i)).must(t, 401)
		}
		r := e.client().post("/signin", "email", addr, "password", "wrong again").must(t, 429)
		bodies = append(bodies, strings.ReplaceAll(r.body, addr, "EMAIL")+r.header.Get("Retry-After"))
	}
	if bodies[0] != bodies[1] {
		t.Fatalf("throttled answers differ:\n%s\n----\n%s", bodies[0], bodies[1])
	}
}

// ---- item 8: body limits ----

func TestFormBodyOver64KiBIsRefusedBeforeParsing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("ann@example.com")
	pad := strings.Repeat("x", 100<<10)
	r := e.client().post("/signin", "email", "ann@example.com", "password", password, "pad", pad).must(t, http.StatusRequestEntityTooLarge)
	if !strings.Contains(r.body, "too large") {
		t.Fatalf("413 without an error page: %.2000s", r.body)
	}
	e.client().post("/signup", "name", "Big", "email", "big@example.com", "password", password, "pad", pad).must(t, 413)
	if n := e.count(`SELECT COUNT(*) FROM web_users WHERE email = 'big@example.com'`); n != 0 {
		t.Fatal("an oversized sign-up created a user")
	}
	// Just under the limit is fine.
	e.client().post("/signin", "email", "ann@example.com", "password", password, "pad", strings.Repeat("x", 60<<10)).must(t, 303)
}

// ---- item 10: next, password rules ----

func TestSignInNextStaysOnThisSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("ann@example.com")
	for next, want := range map[string]string{
		"/\t/evil.example": "/subscriptions", "//evil.example": "/subscriptions", "/\\evil.example": "/subscriptions",
		"/invoices?x=1": "/invoices?x=1",
	} {
		r := e.client().post("/signin", "email", "ann@example.com", "password", password, "next", next).must(t, 303)
		if got := r.header.Get("Location"); got != want {
			t.Errorf("next %q: Location %q, want %q", next, got, want)
		}
	}
}

func TestCommonPasswordsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	for _, pw := range []string{"password123", "qwertyuiop", "QwertyUiop"} {
		r := e.client().post("/signup", "name", "Ann", "email", "ann@example.com", "password", pw).must(t, 422)
		if !strings.Contains(r.body, "common") {
			t.Fatalf("%q: no clear message: %.2000s", pw, r.body)
		}
	}
	other := e.signUp("bob@example.com")
	_ = other
	c := e.client()
	c.post("/password/forgot", "email", "bob@example.com").must(t, 200)
	_, tok := e.lastLink("bob@example.com")
	c.post("/password/reset", "token", tok, "password", "password123").must(t, 422)
}

func TestPasswordLengthCountsCharacters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	// Nine characters, eighteen bytes: too short.
	e.client().post("/signup", "name", "Ann", "email", "ann@example.com", "password", strings.Repeat("é", 9)).must(t, 422)
	// Ten characters of two bytes: long enough.
	e.client().post("/signup", "name", "Ann", "email", "ann@example.com", "password", "ébène-été!").must(t, 200)
	// 64 characters round-trip.
	long := strings.Repeat("abcdefgh", 8)
	c := e.client()
	c.post("/signup", "name", "Bob", "email", "bob@example.com", "password", long).must(t, 200)
	_, tok := e.lastLink("bob@example.com")
	c.post("/confirm", "token", tok).must(t, 303)
	e.client().post("/signin", "email", "bob@example.com", "password", long).must(t, 303)
	// 128 characters are accepted, 129 refused with a clear message.
	e.client().post("/signup", "name", "Cy", "email", "cy@example.com", "password", strings.Repeat("ü", 128)).must(t, 200)
	r := e.client().post("/signup", "name", "Di", "email", "di@example.com", "password", strings.Repeat("a", 129)).must(t, 422)
	if !strings.Contains(r.body, "at most 128") {
		t.Fatalf("no clear message: %.2000s", r.body)
	}
}

var _ = fulfill.Page{}

func TestSignInDelaysGrowPerAccountAndAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("ann@example.com")
	c := e.client()
	for i := range 5 {
		c.post("/signin", "email", "ann@example.com", "password", "wrong "+strconv.Itoa(i)).must(t, 401)
	}
	var waits []string
	for i := range 12 {
		r := c.post("/signin", "email", "ann@example.com", "password", "still wrong").must(t, 429)
		waits = append(waits, r.header.Get("Retry-After"))
		s, _ := strconv.Atoi(r.header.Get("Retry-After"))
		e.wall.Set(e.wall.Now().Add(time.Duration(s) * time.Second))
		c.post("/signin", "email", "ann@example.com", "password", "wrong again "+strconv.Itoa(i)).must(t, 401)
	}
	if got, want := strings.Join(waits, ","), "1,2,4,8,16,32,64,128,256,512,900,900"; got != want {
		t.Fatalf("waits %s, want %s", got, want)
	}
	// After the wait, the right password signs in and the delays start over.
	e.wall.Set(e.wall.Now().Add(15 * time.Minute))
	c.post("/signin", "email", "ann@example.com", "password", password).must(t, 303)
	e.client().post("/signin", "email", "ann@example.com", "password", "one typo").must(t, 401)
	e.client().post("/signin", "email", "ann@example.com", "password", password).must(t, 303)
}

func TestOddEmailsNeverBreakTheThrottles(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		e := newEnv(t, dbURL)
		for _, email := range []string{"nul\x00@example.com", "bad\xff@example.com", strings.Repeat("long", 2000) + "@example.com"} {
			for _, path := range []string{"/signin", "/signin/link/request", "/password/forgot", "/confirm/resend", "/signup"} {
				r := e.client().post(path, "email", email, "password", "some password here", "name", "N")
				if r.status >= 500 {
					t.Fatalf("%s with email %.20q: status %d", path, email, r.status)
				}
			}
		}
	})
}

func TestParallelGuessesCannotOutrunTheSignInThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("ann@example.com")
	const n = 40
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := http.PostForm(e.srv.URL+"/signin", url.Values{"email": {"ann@example.com"}, "password": {"parallel guess " + strconv.Itoa(i)}})
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			statuses <- r.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	tried := 0
	for st := range statuses {
		switch st {
		case 401:
			tried++
		case 429:
		default:
			t.Fatalf("status %d", st)
		}
	}
	// A few attempts run at once (as many as the hashes that may run at
	// once); each checks the counts left by those before it.
	if limit := 5 + max(4, runtime.GOMAXPROCS(0)); tried > limit {
		t.Fatalf("%d of %d parallel guesses were tried, want at most %d", tried, n, limit)
	}
}
