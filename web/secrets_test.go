package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/web"
)

// postHost posts a form with the given Host header, as anyone on the
// internet can.
func (c *client) postHost(host, path string, kv ...string) resp {
	c.e.t.Helper()
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	req, err := http.NewRequest("POST", c.e.srv.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(b), res.Header}
}

// newestEmail is the newest email of a kind to addr.
func (e *env) newestEmail(addr, kind string) *fulfill.Email {
	e.t.Helper()
	es, err := e.db.Emails(context.Background(), "", fulfill.Page{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range es {
		if m.To == addr && m.Kind == kind {
			return m
		}
	}
	e.t.Fatalf("no %s email to %s", kind, addr)
	return nil
}

// Issue 9, item 1: a request's Host header never changes where an emailed
// link points: sign-up confirmation, sign-in link and password reset all
// link to the configured public URL.
func TestEmailedLinksUseThePublicURLWhateverTheHost(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url)
		const addr = "victim@example.com"
		c := e.client()
		c.postHost("evil.example", "/signup", "name", "Vic Tim", "email", addr, "password", password).must(t, 200)
		c.postHost("evil.example", "/signin/link/request", "email", addr).must(t, 200)
		c.postHost("evil.example:443", "/password/forgot", "email", addr).must(t, 200)
		for kind, path := range map[string]string{"auth.confirm": "/confirm?token=", "auth.signin": "/signin/link?token=", "auth.reset": "/password/reset?token="} {
			m := e.newestEmail(addr, kind)
			if strings.Contains(m.Body, "evil.example") {
				t.Errorf("%s links to the request's host:\n%s", kind, m.Body)
			}
			if !strings.Contains(m.Body, testenv.PublicURL+path) {
				t.Errorf("%s does not link to %s%s:\n%s", kind, testenv.PublicURL, path, m.Body)
			}
		}
	})
}

// Issue 9, item 2: an auth mail waiting in the outbox (no SMTP) carries a
// working one-time link; admins may read it, support and read-only staff
// see it listed with the link hidden.
func TestUnsentAuthMailLinkIsForAdminsOnly(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url)
		const addr = "owner@example.com"
		e.signUp(addr)
		e.client().post("/signin/link/request", "email", addr).must(t, 200)
		m := e.newestEmail(addr, "auth.signin")
		_, tok := e.lastLink(addr)
		if !m.Secret || m.SentAt != nil {
			t.Fatalf("sign-in mail: secret=%v sent_at=%v, want a secret mail not yet sent", m.Secret, m.SentAt)
		}
		for _, s := range []struct {
			role  string
			reads bool
		}{{web.RoleAdmin, true}, {web.RoleSupport, false}, {web.RoleReadOnly, false}} {
			staff := e.staff(s.role+"@vendor.example", s.role)
			list := staff.get("/admin/emails").must(t, 200)
			if !strings.Contains(list.body, "/admin/emails/"+m.ID) || strings.Contains(list.body, tok) {
				t.Errorf("%s: the list does not show the mail, or shows its token", s.role)
			}
			page := staff.get("/admin/emails/"+m.ID).must(t, 200)
			if got := strings.Contains(page.body, tok); got != s.reads {
				t.Errorf("%s reads the sign-in token: %v, want %v", s.role, got, s.reads)
			}
			if !s.reads && !strings.Contains(page.body, fulfill.LinkHidden) {
				t.Errorf("%s: the page does not say the link is hidden", s.role)
			}
		}
		// The link still works for its owner.
		e.client().post("/signin/link", "token", tok).must(t, 303)
	})
}

// Issue 9, item 10: HSTS on every answer served over HTTPS, directly (TLS)
// or behind a proxy (an https public URL); none over plain HTTP.
func TestHSTSWhenServedOverHTTPS(t *testing.T) {
	t.Parallel()
	te := testenv.New(t, dbtest.SQLiteURL(t), fulfill.NewDate(2026, 3, 1).Time(), "DE")
	newServer := func(base string, tls bool) *httptest.Server {
		w, err := web.New(web.Config{Service: te.Svc, DB: te.DB, Clock: te.Clock, BaseURL: base, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(w.Handler())
		if tls {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		return srv
	}
	for _, c := range []struct {
		name string
		base string
		tls  bool
		want string
	}{
		{"plain http", "http://127.0.0.1:8080", false, ""},
		{"https public URL behind a proxy", "https://billing.example.com", false, "max-age=31536000; includeSubDomains"},
		{"tls", "http://127.0.0.1:8080", true, "max-age=31536000; includeSubDomains"},
	} {
		srv := newServer(c.base, c.tls)
		for _, path := range []string{"/signin", "/no-such-page", "/admin"} {
			res, err := srv.Client().Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if got := res.Header.Get("Strict-Transport-Security"); got != c.want {
				t.Errorf("%s, GET %s: Strict-Transport-Security %q, want %q", c.name, path, got, c.want)
			}
		}
	}
}

var activationCodeRE = regexp.MustCompile(`id="activation-code">([A-Z0-9]{24})<`)

// Issue 9, item 2: the activation code shown once after a purchase in the
// portal passes through the session's flash; the database never holds it
// in plain text, and the page still shows it.
func TestActivationCodeFlashIsSealedAtRest(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url)
		c := e.signUp("buyer@example.com")
		sub := c.buy("sm-premium", "10")
		var flash string
		if err := e.db.Read.QueryRow(`SELECT flash FROM web_sessions WHERE flash <> ''`).Scan(&flash); err != nil {
			t.Fatal(err)
		}
		page := c.get("/subscriptions/"+sub+"?welcome=1").must(t, 200)
		m := activationCodeRE.FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("no activation code on the page after the purchase:\n%.2000s", page.body)
		}
		if strings.Contains(flash, m[1]) {
			t.Fatalf("the session's flash holds the activation code in plain text: %q", flash)
		}
		if r := c.get("/subscriptions/" + sub); strings.Contains(r.body, m[1]) {
			t.Fatal("the activation code is shown twice")
		}
	})
}
