package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

func sessionCookie(t *testing.T, c *client) string {
	t.Helper()
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == "fulfill_session" {
			return ck.Value
		}
	}
	return ""
}

func TestSignUpConfirmSignInOut(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		c := e.client()
		c.post("/signup", "name", "Ann", "email", "Ann@Example.com", "password", password).must(t, 200)
		// Unconfirmed: the right password is not enough yet.
		r := c.post("/signin", "email", "ann@example.com", "password", password).must(t, 403)
		if !strings.Contains(r.body, "Confirm your email address first") {
			t.Fatalf("body: %.2000s", r.body)
		}
		path, tok := e.lastLink("ann@example.com")
		if path != "/confirm" {
			t.Fatalf("path %s", path)
		}
		// Following the link changes nothing; the button does.
		c.get("/confirm?token="+tok).must(t, 200)
		r = c.post("/confirm", "token", tok).must(t, 303)
		if loc := r.header.Get("Location"); loc != "/buy" {
			t.Fatalf("Location %q", loc)
		}
		first := sessionCookie(t, c)
		c.get("/subscriptions").must(t, 200)
		c.post("/confirm", "token", tok).must(t, 422) // single use

		// Signing in again gives a new session id; the old one is gone.
		r = c.post("/signin", "email", "ann@example.com", "password", password).must(t, 303)
		second := sessionCookie(t, c)
		if second == "" || second == first {
			t.Fatalf("session id not rotated: %q then %q", first, second)
		}
		old := e.client()
		old.c.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: "fulfill_session", Value: first}})
		old.get("/subscriptions").must(t, 303)

		c.post("/signout").must(t, 303)
		if r := c.get("/subscriptions").must(t, 303); !strings.HasPrefix(r.header.Get("Location"), "/signin") {
			t.Fatalf("after sign-out: %s", r.header.Get("Location"))
		}
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestSameAnswerForUnknownEmailAndWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("known@example.com")
	a := e.client().post("/signin", "email", "known@example.com", "password", "wrong password!").must(t, 401)
	b := e.client().post("/signin", "email", "nobody@example.com", "password", "wrong password!").must(t, 401)
	norm := func(s string) string { return strings.ReplaceAll(s, "nobody@example.com", "known@example.com") }
	if norm(a.body) != norm(b.body) {
		t.Fatalf("answers differ:\n%s\n----\n%s", a.body, b.body)
	}
	// The email-link form answers the same for both, too.
	a = e.client().post("/signin/link/request", "email", "known@example.com").must(t, 200)
	b = e.client().post("/signin/link/request", "email", "nobody@example.com").must(t, 200)
	if norm(a.body) != norm(b.body) {
		t.Fatal("link request answers differ")
	}
}

func TestSignInThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("ann@example.com")
	c := e.client()
	for i := range 5 {
		c.post("/signin", "email", "ann@example.com", "password", "wrong password "+string(rune('a'+i))).must(t, 401)
	}
	r := c.post("/signin", "email", "ann@example.com", "password", password).must(t, 429)
	if r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "Too many failed attempts") {
		t.Fatalf("429 without Retry-After or message: %v", r.header)
	}
	// The throttle runs on the wall clock; the business clock does not free it.
	e.clock.Set(e.clock.Now().Add(16 * time.Minute))
	c.post("/signin", "email", "ann@example.com", "password", password).must(t, 429)
	e.wall.Set(e.wall.Now().Add(2 * time.Second))
	c.post("/signin", "email", "ann@example.com", "password", password).must(t, 303)
}

func TestEmailLinkSignInSingleUseFor24Hours(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("ann@example.com")
	c := e.client()
	c.post("/signin/link/request", "email", "ann@example.com").must(t, 200)
	path, tok := e.lastLink("ann@example.com")
	if path != "/signin/link" {
		t.Fatalf("path %s", path)
	}
	c.post("/signin/link", "token", tok).must(t, 303)
	c.get("/subscriptions").must(t, 200)
	e.client().post("/signin/link", "token", tok).must(t, 422) // used

	c2 := e.client()
	c2.post("/signin/link/request", "email", "ann@example.com").must(t, 200)
	_, tok2 := e.lastLink("ann@example.com")
	e.clock.Set(e.clock.Now().Add(24*time.Hour + time.Second))
	if r := c2.get("/signin/link?token="+tok2).must(t, 200); !strings.Contains(r.body, "expired or was already used") {
		t.Fatal("an expired link is offered as valid")
	}
	c2.post("/signin/link", "token", tok2).must(t, 422)
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	other := e.signUp("ann@example.com") // a session that the reset must end
	c := e.client()
	c.post("/password/forgot", "email", "ann@example.com").must(t, 200)
	path, tok := e.lastLink("ann@example.com")
	if path != "/password/reset" {
		t.Fatalf("path %s", path)
	}
	c.post("/password/reset", "token", tok, "password", "short").must(t, 422)
	c.post("/password/reset", "token", tok, "password", "a brand new password").must(t, 303)
	c.get("/subscriptions").must(t, 200)
	other.get("/subscriptions").must(t, 303)
	e.client().post("/signin", "email", "ann@example.com", "password", password).must(t, 401)
	e.client().post("/signin", "email", "ann@example.com", "password", "a brand new password").must(t, 303)
	c.post("/password/reset", "token", tok, "password", "another new password").must(t, 422)
}

func TestCookieFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	e.signUp("ann@example.com")
	w, err := web.New(web.Config{Service: e.svc, DB: e.db, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host   string
		secure bool
	}{{"127.0.0.1:8080", false}, {"localhost:8080", false}, {"billing.example.com", true}} {
		t.Run(tt.host, func(t *testing.T) {
			req := httptest.NewRequest("POST", "http://"+tt.host+"/signin",
				strings.NewReader(url.Values{"email": {"ann@example.com"}, "password": {password}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = "192.0.2.1:1234"
			rec := httptest.NewRecorder()
			w.Handler().ServeHTTP(rec, req)
			if rec.Code != 303 {
				t.Fatalf("status %d", rec.Code)
			}
			cs := rec.Result().Cookies()
			if len(cs) != 1 {
				t.Fatalf("cookies %v", cs)
			}
			ck := cs[0]
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != tt.secure || ck.Path != "/" || len(ck.Value) < 40 {
				t.Fatalf("cookie %+v", ck)
			}
		})
	}
}

func TestCrossOriginPostsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	c := e.signUp("ann@example.com")
	sub := c.buy("sm-premium", "10")
	form := url.Values{"seats": {"20"}}
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		c.do("POST", "/subscriptions/"+sub+"/seats", form, h...).must(t, 403)
		c.do("POST", "/signout", url.Values{}, h...).must(t, 403)
	}
	// Still 10 seats, still signed in.
	if r := c.get("/subscriptions/"+sub).must(t, 200); !strings.Contains(r.body, `id="seat-count">10<`) {
		t.Fatal("a refused request changed the seats")
	}
	// A same-origin browser request passes.
	c.do("POST", "/subscriptions/"+sub+"/seats", form, "Sec-Fetch-Site", "same-origin").must(t, 303)
}

var activationRE = regexp.MustCompile(`id="activation-code">([A-Z0-9]{24})<`)

func TestBuyShowsPriceTaxAndTotalThenActivationCode(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		c := e.signUp("ann@example.com")
		// German consumer: EUR prices and 19% VAT, shown before paying.
		r := c.get("/buy/review?plan=sm-premium&seats=10&company=Example+GmbH&country=DE&pay=card&card=pm_card_visa&account=new").must(t, 200)
		for _, want := range []string{"EUR 3,240.00", `id="tax">EUR 615.60<`, `id="total">EUR 3,855.60<`, "Pay EUR 3,855.60"} {
			if !strings.Contains(r.body, want) {
				t.Fatalf("review lacks %q", want)
			}
		}
		// A business with a VAT id is reverse-charged.
		r = c.get("/buy/review?plan=sm-premium&seats=10&company=Example&country=FR&tax_id=FR40303265045&pay=invoice&account=new").must(t, 200)
		if !strings.Contains(r.body, `id="tax">EUR 0.00<`) || !strings.Contains(r.body, `id="total">EUR 3,240.00<`) {
			t.Fatal("reverse charge not shown")
		}
		// Without the EULA nothing is bought.
		c.post("/buy", "plan", "sm-premium", "seats", "10", "company", "Example GmbH", "country", "DE", "pay", "card",
			"card", "pm_card_visa", "account", "new").must(t, 422)
		// A declined card leaves no subscription.
		c.post("/buy", "plan", "sm-premium", "seats", "10", "company", "Example GmbH", "country", "DE", "pay", "card",
			"card", "pm_card_chargeDeclined", "account", "new", "eula", web.EULAVersion).must(t, 402)

		sub := c.buy("sm-premium", "10")
		r = c.get("/subscriptions/"+sub+"?welcome=1").must(t, 200)
		if activationRE.FindStringSubmatch(r.body) == nil {
			t.Fatalf("no activation code on the confirmation page: %.3000s", r.body)
		}
		// Shown once.
		if r = c.get("/subscriptions/"+sub).must(t, 200); activationRE.MatchString(r.body) {
			t.Fatal("activation code shown twice")
		}
		s, err := e.db.Subscription(context.Background(), sub)
		if err != nil {
			t.Fatal(err)
		}
		if s.Seats != 10 || s.Plan != "sm-premium" || s.State != fulfill.StateActive {
			t.Fatalf("subscription %+v", s)
		}
		acc, err := e.db.EULAAcceptances(context.Background(), s.CustomerID)
		if err != nil {
			t.Fatal(err)
		}
		if len(acc) != 1 || acc[0].Version != web.EULAVersion || acc[0].UserID == "" {
			t.Fatalf("EULA acceptances %+v", acc)
		}
		invs, _ := e.db.Invoices(context.Background(), s.CustomerID, "", fulfill.Page{Limit: 10})
		if len(invs) != 1 || invs[0].Total != 385560 || invs[0].Status != "paid" {
			t.Fatalf("invoices %+v", invs)
		}
		// SaaS: the namespace instead of a code.
		r = c.post("/buy", "plan", "saas-premium", "seats", "5", "account", s.CustomerID, "pay", "invoice",
			"namespace", "example-group", "eula", web.EULAVersion).must(t, 303)
		r = c.get(r.header.Get("Location")).must(t, 200)
		if !strings.Contains(r.body, `<code id="namespace">example-group</code>`) {
			t.Fatal("SaaS confirmation lacks the namespace")
		}
	})
}

func TestSubscriptionActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	c := e.signUp("ann@example.com")
	sub := c.buy("sm-premium", "10")
	ctx := context.Background()
	max, bill := int64(12), int64(11)
	if _, err := e.svc.RecordSeatReport(ctx, commerceReport(sub, max, bill)); err != nil {
		t.Fatal(err)
	}
	r := c.get("/subscriptions/"+sub).must(t, 200)
	for _, want := range []string{`<svg class="chart"`, "<polyline", "11 <span", "Download license"} {
		if !strings.Contains(r.body, want) && !strings.Contains(r.body, strings.Replace(want, "<polyline", "<circle", 1)) {
			t.Fatalf("detail lacks %q", want)
		}
	}
	// Half-way through the term: 5 seats prorated.
	e.clock.Set(fulfill.NewDate(2026, 9, 1).Time())
	c.post("/signin", "email", "ann@example.com", "password", password).must(t, 303) // sessions last 14 days
	r = c.get("/subscriptions/"+sub+"/seats?seats=15").must(t, 200)
	// 5 × 324 EUR × 181/365 days = 803.34, +19% VAT 152.63 = 955.97
	if !strings.Contains(r.body, `id="amount-due">EUR 955.97<`) {
		t.Fatalf("seat preview: %.4000s", r.body)
	}
	c.post("/subscriptions/"+sub+"/seats", "seats", "15").must(t, 303)
	if r = c.get("/subscriptions/"+sub).must(t, 200); !strings.Contains(r.body, `id="seat-count">15<`) || !strings.Contains(r.body, "You now have 15 seats") {
		t.Fatal("seats not added")
	}
	// Upgrade preview then upgrade.
	r = c.get("/subscriptions/"+sub+"/upgrade?plan=sm-ultimate").must(t, 200)
	if !strings.Contains(r.body, `id="amount-due">`) {
		t.Fatal("no upgrade preview")
	}
	c.post("/subscriptions/"+sub+"/upgrade", "plan", "sm-ultimate").must(t, 303)
	// Auto-renew off needs a reason.
	c.post("/subscriptions/"+sub+"/auto_renew", "auto_renew", "off").must(t, 422)
	c.post("/subscriptions/"+sub+"/auto_renew", "auto_renew", "off", "reason", "Moving to another tool").must(t, 303)
	if s, _ := e.db.Subscription(ctx, sub); s.AutoRenew || s.CancelReason != "Moving to another tool" {
		t.Fatalf("auto-renew: %+v", s)
	}
	c.post("/subscriptions/"+sub+"/auto_renew", "auto_renew", "on").must(t, 303)
	// License: download, resend, new activation code.
	r = c.get("/subscriptions/"+sub+"/license").must(t, 200)
	if !strings.Contains(r.header.Get("Content-Disposition"), "attachment") || len(r.body) < 100 {
		t.Fatalf("license download: %v %d bytes", r.header, len(r.body))
	}
	c.post("/subscriptions/"+sub+"/license/resend").must(t, 303)
	r = c.post("/subscriptions/"+sub+"/activation_code").must(t, 303)
	if r = c.get("/subscriptions/"+sub).must(t, 200); activationRE.FindStringSubmatch(r.body) == nil {
		t.Fatal("new activation code not shown")
	}
	// Invoices: purchase, seats, upgrade.
	r = c.get("/invoices").must(t, 200)
	if n := strings.Count(r.body, `<a href="/invoices/inv_`); n != 3 {
		t.Fatalf("%d invoices listed, want 3", n)
	}
	// Renew (with the new term's invoice).
	c.post("/subscriptions/"+sub+"/renew").must(t, 303)
}

func TestOtherCustomersDataIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	a := e.signUp("a@example.com")
	sub := a.buy("sm-premium", "10")
	s, _ := e.db.Subscription(context.Background(), sub)
	invs, _ := e.db.Invoices(context.Background(), s.CustomerID, "", fulfill.Page{Limit: 1})
	b := e.signUp("b@example.com")
	b.buy("sm-premium", "3")
	missing := b.get("/subscriptions/sub_doesnotexist").must(t, 404)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/subscriptions/" + sub},
		{"GET", "/subscriptions/" + sub + "/seats?seats=20"},
		{"GET", "/subscriptions/" + sub + "/upgrade?plan=sm-ultimate"},
		{"GET", "/subscriptions/" + sub + "/renew"},
		{"GET", "/subscriptions/" + sub + "/license"},
		{"GET", "/invoices/" + invs[0].ID},
		{"POST", "/subscriptions/" + sub + "/seats"},
		{"POST", "/subscriptions/" + sub + "/upgrade"},
		{"POST", "/subscriptions/" + sub + "/renew"},
		{"POST", "/subscriptions/" + sub + "/auto_renew"},
		{"POST", "/subscriptions/" + sub + "/license/resend"},
		{"POST", "/subscriptions/" + sub + "/activation_code"},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			r := b.do(tt.method, tt.path, url.Values{"seats": {"20"}, "plan": {"sm-ultimate"}, "auto_renew": {"off"}, "reason": {"x"}}).must(t, 404)
			if r.body != missing.body {
				t.Fatal("another customer's id answers differently from a missing id")
			}
		})
	}
	// B's lists do not show A's data; A's subscription is untouched.
	if r := b.get("/subscriptions").must(t, 200); strings.Contains(r.body, sub) {
		t.Fatal("B sees A's subscription")
	}
	if r := b.get("/invoices").must(t, 200); strings.Contains(r.body, invs[0].ID) {
		t.Fatal("B sees A's invoice")
	}
	if s2, _ := e.db.Subscription(context.Background(), sub); s2.Version != s.Version {
		t.Fatal("A's subscription changed")
	}
}

func TestAdminConsoleRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	cust := e.signUp("buyer@example.com")
	sub := cust.buy("sm-premium", "10")
	s, _ := e.db.Subscription(context.Background(), sub)
	invs, _ := e.db.Invoices(context.Background(), s.CustomerID, "", fulfill.Page{Limit: 1})

	e.client().get("/admin").must(t, 303)
	cust.get("/admin").must(t, 404)
	cust.get("/admin/customers/"+s.CustomerID).must(t, 404)
	// Staff cannot sign in on the console with a customer account.
	e.client().post("/admin/signin", "email", "buyer@example.com", "password", password).must(t, 401)

	ro := e.staff("ro@vendor.example", web.RoleReadOnly)
	ro.get("/admin").must(t, 200)
	ro.post("/admin/subscriptions/"+sub+"/resend").must(t, 403)

	sup := e.staff("support@vendor.example", web.RoleSupport)
	for _, q := range []string{"buyer@example", "example gmbh", sub, invs[0].Number, *s.LicenseID} {
		r := sup.get("/admin/customers?q="+url.QueryEscape(q)).must(t, 303)
		if r.header.Get("Location") != "/admin/customers/"+s.CustomerID {
			t.Fatalf("search %q: %s", q, r.header.Get("Location"))
		}
	}
	// Email and company match inside words too (issue 16).
	if r := sup.get("/admin/customers?q=gmbh").must(t, 303); r.header.Get("Location") != "/admin/customers/"+s.CustomerID {
		t.Fatalf("search inside a company name: %s", r.header.Get("Location"))
	}
	r := sup.get("/admin/customers/"+s.CustomerID).must(t, 200)
	for _, want := range []string{"Example GmbH", sub, invs[0].Number, "Resend license", "buyer@example.com"} {
		if !strings.Contains(r.body, want) {
			t.Fatalf("customer page lacks %q", want)
		}
	}
	sup.post("/admin/subscriptions/"+sub+"/resend").must(t, 303)
	sup.post("/admin/subscriptions/"+sub+"/forward", "email", "stranger@elsewhere.example").must(t, 403)
	sup.post("/admin/subscriptions/"+sub+"/extension").must(t, 303)

	admin := e.staff("admin@vendor.example", web.RoleAdmin)
	r = admin.get("/admin").must(t, 200)
	if !strings.Contains(r.body, `id="mrr">EUR 270.00<`) {
		t.Fatalf("dashboard MRR: %.3000s", r.body)
	}
	r = admin.get("/admin/audit").must(t, 200)
	for _, want := range []string{"license.resend", "license.forward_denied", "permission.denied", "user.sign_in"} {
		if !strings.Contains(r.body, want) {
			t.Fatalf("audit log lacks %s", want)
		}
	}
	r = admin.get("/admin/emails").must(t, 200)
	if !strings.Contains(r.body, "Confirm your email address") {
		t.Fatal("outbox lacks the confirmation email")
	}
}

func TestNotFoundPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	r := e.client().get("/no/such/page").must(t, 404)
	if !strings.Contains(r.body, "<main") || r.header.Get("Content-Security-Policy") == "" {
		t.Fatal("404 is not a page with the security headers")
	}
}
