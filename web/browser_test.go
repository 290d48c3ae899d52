package web_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// screenshotDir is where the browser tests save what they saw.
const screenshotDir = "/tmp/fulfill-web"

// chromium finds a headless Chromium: Debian's chromium-headless-shell
// first, else chromium. The shell is Chromium's headless mode made for
// automation (the old one); chromium --headless runs the whole browser
// without a window, and the browser tests cost it twice the CPU (99 CPU
// seconds against 49 on the CI machine) and twice the time. In CI a missing
// browser fails the test; elsewhere the test is skipped with a message.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium-headless-shell", "chromium-headless-shell",
		"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: the browser tests cannot run (apt-get install chromium-headless-shell)")
	}
	t.Skip("chromium is not installed: skipping the browser tests (apt-get install chromium-headless-shell to run them)")
	return ""
}

// theBrowser is the one headless Chromium this test binary's browser tests
// share: started by the first test that needs it, stopped by TestMain
// (closeBrowser). A Chromium per test cost each test a second or more of
// CPU and several seconds of wall time before its first page; a browser
// context per test (newBrowser) keeps what a fresh profile did, its own
// cookies, storage, cache and downloads.
var theBrowser struct {
	once sync.Once
	ctx  context.Context // the browser's first context; its cancellation stops Chromium
	stop func()
	err  error
}

// sharedBrowser returns the context of the shared Chromium, starting it on
// first use.
func sharedBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	theBrowser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			// No UserDataDir: the allocator makes a temporary one and
			// removes it when the browser stops.
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.NoFirstRun,
			chromedp.WindowSize(1280, 900),
		)
		actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelB := chromedp.NewContext(actx)
		theBrowser.ctx = bctx
		theBrowser.stop = func() {
			// Close gracefully, then make sure it is gone.
			cctx, cancel := context.WithTimeout(bctx, 10*time.Second)
			chromedp.Cancel(cctx)
			cancel()
			cancelB()
			cancelA()
		}
		// The first action starts the browser, bound to a context without
		// a timeout (one would stop the browser when it ends).
		theBrowser.err = chromedp.Do(bctx)
	})
	if theBrowser.err != nil {
		t.Fatalf("start chromium: %v", theBrowser.err)
	}
	return theBrowser.ctx
}

// closeBrowser stops the shared Chromium if a test started it, and keeps
// later calls from starting one. TestMain calls it after the tests.
func closeBrowser() {
	theBrowser.once.Do(func() { theBrowser.err = errors.New("the browser tests are over") })
	if theBrowser.stop != nil {
		theBrowser.stop()
	}
}

// newBrowser opens a window of the shared Chromium in a browser context of
// its own (like an incognito profile: nothing shared with other tests'
// contexts), disposed of when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bctx, cancelB := chromedp.NewContext(sharedBrowser(t), chromedp.WithNewBrowserContext())
	// The first action opens the window: no timeout on it (it would close
	// the window), only on what follows.
	if err := chromedp.Do(bctx); err != nil {
		cancelB()
		t.Fatalf("open a browser context: %v", err)
	}
	// Generous: CI runs other packages' tests beside this one on 2 cores.
	ctx, cancelT := context.WithTimeout(bctx, 300*time.Second)
	t.Cleanup(func() { cancelT(); cancelB() })
	return ctx
}

// browserContextID is the browser context of ctx's window, for the
// browser-wide commands that take one (cookies, downloads).
func browserContextID(ctx context.Context) cdp.BrowserContextID {
	if c := chromedp.FromContext(ctx); c != nil {
		return c.BrowserContextID
	}
	return ""
}

func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v (at %s)\n%.2000s", step, err, loc, body)
	}
}

func get[T any](t *testing.T, ctx context.Context, step string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

// clearCookies clears the cookies of the test's own browser context only.
func clearCookies() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, storage.ClearCookies, storage.ClearCookiesParams{BrowserContextID: browserContextID(ctx)})
		return err
	})
}

// shot saves a full-page screenshot.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	os.MkdirAll(screenshotDir, 0o755)
	p := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(get(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// TestBrowserNewCustomerBuysAndManages goes through the portal as a new
// customer would, then checks isolation and the admin console.
func TestBrowserNewCustomerBuysAndManages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	ctx := newBrowser(t)
	t.Cleanup(func() { saveScreenshot(t, ctx, "last-page") })
	base := e.srv.URL

	// Sign up.
	run(t, ctx, "sign up",
		chromedp.Navigate(base+"/"),
		chromedp.Click(chromedp.CSS(`a[href="/signup"].btn`)),
		chromedp.WaitVisible(chromedp.CSS(`#name`)),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Ann Buyer"),
		chromedp.SendKeys(chromedp.CSS(`#email`), "buyer@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/signup"] button[type=submit]`)),
		chromedp.WaitVisible(`//h1[text()="Check your email"]`),
	)
	shot(t, ctx, "01-check-email")

	// Confirm with the link from the outbox.
	path, tok := e.lastLink("buyer@example.com")
	run(t, ctx, "confirm",
		chromedp.Navigate(base+path+"?token="+tok),
		chromedp.Click(chromedp.CSS(`form[action="/confirm"] button`)),
		chromedp.WaitVisible(`//h1[text()="Buy a subscription"]`),
	)
	if got := textOf(t, ctx, ".notice.success"); !strings.Contains(got, "confirmed") {
		t.Fatalf("flash %q", got)
	}
	shot(t, ctx, "02-buy-form")

	// Buy sm-premium, 10 seats, by test card: see the price first.
	run(t, ctx, "order form",
		chromedp.Click(chromedp.CSS(`input[name=plan][value="sm-premium"]`)),
		chromedp.SetValue(chromedp.CSS(`#seats`), "10"),
		chromedp.SendKeys(chromedp.CSS(`#company`), "Example GmbH"),
		chromedp.SetValue(chromedp.CSS(`#country`), "DE"),
		chromedp.Click(chromedp.CSS(`input[name=pay][value=card]`)),
		chromedp.SetValue(chromedp.CSS(`#card`), "pm_card_visa"),
		chromedp.Click(chromedp.CSS(`form.checkout button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#total`)),
	)
	if tax, total := textOf(t, ctx, "#tax"), textOf(t, ctx, "#total"); tax != "EUR 615.60" || total != "EUR 3,855.60" {
		t.Fatalf("review: tax %q total %q", tax, total)
	}
	shot(t, ctx, "03-review")
	run(t, ctx, "pay",
		chromedp.Click(chromedp.CSS(`#eula`)),
		chromedp.Click(chromedp.CSS(`form[action="/buy"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#activation-code`)),
	)
	if code := textOf(t, ctx, "#activation-code"); len(code) != 24 {
		t.Fatalf("activation code %q", code)
	}
	shot(t, ctx, "04-confirmation")
	subURL := get(t, ctx, "location", chromedp.Location())
	subURL = strings.TrimSuffix(subURL, "?welcome=1")

	// A seat report for the chart, then add 5 seats after seeing the preview.
	sub := strings.TrimPrefix(subURL, base+"/subscriptions/")
	for i, day := range []int{1, 2, 3} {
		e.clock.Set(fulfill.NewDate(2026, 3, day).Time())
		d := fulfill.NewDate(2026, 3, day)
		in := commerceReport(sub, int64(8+i*2), int64(7+i*2))
		in.Date = &d
		if _, err := e.svc.RecordSeatReport(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, "add seats preview",
		chromedp.Navigate(subURL),
		chromedp.Click(`//a[text()="Add seats"]`),
		chromedp.WaitVisible(chromedp.CSS(`#seats`)),
		chromedp.SetValue(chromedp.CSS(`#seats`), "15"),
		chromedp.Click(`//button[text()="Preview the price"]`),
		chromedp.WaitVisible(chromedp.CSS(`#amount-due`)),
	)
	if due := textOf(t, ctx, "#amount-due"); !strings.HasPrefix(due, "EUR ") || due == "EUR 0.00" {
		t.Fatalf("preview amount %q", due)
	}
	shot(t, ctx, "05-seats-preview")
	run(t, ctx, "add seats",
		chromedp.Click(chromedp.CSS(`form[action$="/seats"][method=post] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#seat-count`)),
	)
	if n := textOf(t, ctx, "#seat-count"); n != "15" {
		t.Fatalf("seats %q after adding", n)
	}
	shot(t, ctx, "06-subscription")

	// Download the license.
	dl := watchDownloads(t, ctx)
	run(t, ctx, "download license", chromedp.Click(`//a[text()="Download license"]`))
	name, file := dl.next(t)
	if !strings.HasSuffix(name, ".license") || len(file) < 100 {
		t.Fatalf("license download %q: %d bytes", name, len(file))
	}

	// See the invoice and download its PDF.
	run(t, ctx, "invoice",
		chromedp.Navigate(base+"/invoices"),
		chromedp.Click(chromedp.CSS(`table.list tbody tr:last-child a`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="/pdf"]`)),
	)
	number := strings.TrimPrefix(textOf(t, ctx, "h1"), "Invoice ")
	shot2(t, ctx, "01-invoice")
	run(t, ctx, "download pdf", chromedp.Click(chromedp.CSS(`a[href$="/pdf"]`)))
	if name, pdf := dl.next(t); name != number+".pdf" || !strings.HasPrefix(string(pdf), "%PDF-") {
		t.Fatalf("invoice download %q: %.20q", name, pdf)
	}

	// Open a support request about the subscription.
	run(t, ctx, "support request",
		chromedp.Navigate(base+"/support"),
		chromedp.Click(`//a[text()="Open a request"]`),
		chromedp.WaitVisible(chromedp.CSS(`#subject`)),
		chromedp.Click(chromedp.CSS(`input[name=category][value=license_error]`)),
		chromedp.SetValue(chromedp.CSS(`#subscription`), sub),
		chromedp.SendKeys(chromedp.CSS(`#subject`), "License not accepted"),
		chromedp.SendKeys(chromedp.CSS(`#body`), "Our instance says: license signature invalid."),
	)
	shot2(t, ctx, "02-support-new")
	run(t, ctx, "send request",
		chromedp.Click(`//button[text()="Send the request"]`),
		chromedp.WaitVisible(chromedp.CSS(`#request-state`)),
	)
	requestURL := get(t, ctx, "location", chromedp.Location())
	shot2(t, ctx, "03-support-request")

	// The billing account page.
	run(t, ctx, "account",
		chromedp.Navigate(base+"/account"),
		chromedp.Click(`//a[starts-with(text(),"Manage")]`),
		chromedp.WaitVisible(chromedp.CSS(`#billing_email`)),
		chromedp.SetValue(chromedp.CSS(`#tax_id`), "DE811907980"),
		// Each wait names its own notice: a generic one could match the page
		// before the click.
		chromedp.Click(`//button[text()="Save the account"]`),
		chromedp.WaitVisible(`//*[contains(@class,"notice") and contains(., "The billing account is saved.")]`),
		chromedp.SetValue(chromedp.CSS(`#card`), "pm_card_mastercard"),
		chromedp.Click(`//button[text()="Save the card"]`),
		chromedp.WaitVisible(`//*[contains(@class,"notice") and contains(., "is saved.") and not(contains(., "billing account"))]`),
		chromedp.SendKeys(chromedp.CSS(`#invite_email`), "colleague@example.com"),
		chromedp.Click(`//button[text()="Send the invitation"]`),
		chromedp.WaitVisible(`//*[contains(@class,"notice") and contains(., "Invitation sent to colleague@example.com")]`),
		chromedp.WaitVisible(chromedp.CSS(`#invitations`)),
	)
	shot2(t, ctx, "04-account")

	// A second user gets 404 for the first user's subscription.
	run(t, ctx, "second user", clearCookies())
	e.signUpIn(t, ctx, "other@example.com")
	run(t, ctx, "other's subscription",
		chromedp.Navigate(subURL),
		chromedp.WaitVisible(`//h1[text()="Page not found"]`),
	)
	shot(t, ctx, "07-not-found")

	// Staff find the customer.
	if _, err := web.CreateStaff(context.Background(), e.db, e.clock, "admin@vendor.example", "Ada Admin", web.RoleAdmin, password); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "admin sign in",
		clearCookies(),
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "admin@vendor.example"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/admin/signin"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#mrr`)),
	)
	shot(t, ctx, "08-admin-dashboard")
	run(t, ctx, "search",
		chromedp.SendKeys(chromedp.CSS(`#q`), "buyer@example.com"),
		chromedp.Click(chromedp.CSS(`form[role=search] button`)),
		chromedp.WaitVisible(`//h1[text()="Example GmbH"]`),
	)
	shot(t, ctx, "09-admin-customer")
	run(t, ctx, "resend",
		chromedp.Click(`//button[text()="Resend license"]`),
		chromedp.WaitVisible(chromedp.CSS(`.notice.success`)),
	)
	if got := textOf(t, ctx, ".notice.success"); got != "License resent to buyer@example.com." {
		t.Fatalf("flash %q", got)
	}

	// Staff solve the request.
	run(t, ctx, "support queue",
		chromedp.Click(`//nav//a[text()="Support"]`),
		chromedp.WaitVisible(chromedp.CSS(`#csat`)),
	)
	if got := textOf(t, ctx, "#csat"); got != "No ratings" {
		t.Fatalf("CSAT before %q", got)
	}
	shot2(t, ctx, "05-admin-support-queue")
	run(t, ctx, "reply and solve",
		chromedp.Click(`//a[starts-with(text(),"#")]`),
		chromedp.WaitVisible(chromedp.CSS(`#body`)),
		chromedp.SendKeys(chromedp.CSS(`#body`), "We sent a fresh license: upload it in the admin area."),
		chromedp.Click(chromedp.CSS(`#solve`)),
		chromedp.Click(`//button[text()="Send the reply"]`),
		chromedp.WaitVisible(chromedp.CSS(`.notice.success`)),
	)
	if got := textOf(t, ctx, "#request-state"); got != "Solved" {
		t.Fatalf("state %q", got)
	}
	shot2(t, ctx, "06-admin-support-request")

	// The customer rates it.
	run(t, ctx, "customer rates",
		clearCookies(),
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "buyer@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button`)),
		chromedp.WaitVisible(`//h1[text()="Subscriptions"]`),
		chromedp.Navigate(requestURL),
		chromedp.WaitVisible(chromedp.CSS(`#satisfied-yes`)),
	)
	shot2(t, ctx, "07-rate")
	run(t, ctx, "send rating",
		chromedp.Click(chromedp.CSS(`#satisfied-yes`)),
		chromedp.SendKeys(chromedp.CSS(`#comment`), "Fixed within the hour."),
		chromedp.Click(`//button[text()="Send the rating"]`),
		chromedp.WaitVisible(chromedp.CSS(`#rating`)),
	)

	// The CSAT figure moves.
	run(t, ctx, "CSAT after",
		clearCookies(),
		chromedp.Navigate(base+"/admin/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "admin@vendor.example"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/admin/signin"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#mrr`)),
	)
	shot2(t, ctx, "08-admin-dashboard")
	run(t, ctx, "support queue after", chromedp.Navigate(base+"/admin/support"), chromedp.WaitVisible(chromedp.CSS(`#csat`)))
	if got := textOf(t, ctx, "#csat"); got != "100%" {
		t.Fatalf("CSAT after rating %q", got)
	}
	shot2(t, ctx, "09-admin-csat")

	// Impersonation, catalog and jobs.
	run(t, ctx, "impersonate",
		chromedp.Navigate(base+"/admin/customers?q=buyer%40example.com"),
		chromedp.Click(`//button[starts-with(text(),"View as customer")]`),
		chromedp.WaitVisible(chromedp.CSS(`.impersonation`)),
	)
	shot2(t, ctx, "10-impersonation")
	run(t, ctx, "stop impersonating",
		chromedp.Click(`//button[text()="Stop and return to the console"]`),
		chromedp.WaitVisible(`//h1[text()="Example GmbH"]`),
		chromedp.Navigate(base+"/admin/catalog"),
		chromedp.WaitVisible(chromedp.CSS(`#price-sm-premium-EUR`)),
	)
	shot2(t, ctx, "11-catalog")
	run(t, ctx, "jobs", chromedp.Navigate(base+"/admin/jobs"), chromedp.WaitVisible(`//h1[text()="Jobs"]`))
	shot2(t, ctx, "12-jobs")
}

// screenshotDir2 holds the screenshots of the portal's second part.
const screenshotDir2 = "/tmp/fulfill-web2"

func shot2(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	os.MkdirAll(screenshotDir2, 0o755)
	if err := os.WriteFile(filepath.Join(screenshotDir2, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// downloads saves what ctx's browser context downloads into a directory of
// its own, and tells when each download is complete. Chromium creates the
// file under its final name, empty, as soon as a download begins, and writes
// it elsewhere until it is done; a poll of the folder can read that empty
// placeholder. The browser's own events say when the file is whole.
type downloads struct {
	dir  string
	mu   sync.Mutex
	name map[string]string // GUID → the file name the server suggested
	done chan string       // GUIDs of completed downloads, of any context
}

// watchDownloads allows downloads in ctx's browser context and starts
// listening for their events. Call it before the click that downloads.
func watchDownloads(t *testing.T, ctx context.Context) *downloads {
	t.Helper()
	d := &downloads{dir: t.TempDir(), name: map[string]string{}, done: make(chan string, 64)}
	// The browser is shared: the listener sees every context's downloads.
	// Each is saved under its GUID in the directory its context named, so
	// a GUID whose file is in d.dir is this test's.
	err := chromedp.ListenBrowser(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *browser.EventDownloadWillBegin:
			d.mu.Lock()
			d.name[ev.GUID] = ev.SuggestedFilename
			d.mu.Unlock()
		case *browser.EventDownloadProgress:
			if ev.State == browser.DownloadProgressStateCompleted {
				select {
				case d.done <- ev.GUID:
				default: // a full queue is other tests' downloads piling up
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("listen for downloads: %v", err)
	}
	run(t, ctx, "allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: d.dir,
			BrowserContextID: browserContextID(ctx), EventsEnabled: new(true)})
		return err
	}))
	return d
}

// next waits for the next download of this test to complete and returns
// the name the server gave the file and its content.
func (d *downloads) next(t *testing.T) (string, []byte) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case guid := <-d.done:
			b, err := os.ReadFile(filepath.Join(d.dir, guid))
			if errors.Is(err, os.ErrNotExist) {
				continue // another test's download
			}
			if err != nil {
				t.Fatal(err)
			}
			d.mu.Lock()
			name := d.name[guid]
			d.mu.Unlock()
			return name, b
		case <-timeout:
			t.Fatal("no download completed in 30 s")
			return "", nil
		}
	}
}

// signUpIn signs a new user up and in through the browser.
func (e *env) signUpIn(t *testing.T, ctx context.Context, email string) {
	t.Helper()
	run(t, ctx, "sign up "+email,
		chromedp.Navigate(e.srv.URL+"/signup"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Other"),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/signup"] button`)),
		chromedp.WaitVisible(`//h1[text()="Check your email"]`),
	)
	path, tok := e.lastLink(email)
	run(t, ctx, "confirm "+email,
		chromedp.Navigate(e.srv.URL+path+"?token="+tok),
		chromedp.Click(chromedp.CSS(`form[action="/confirm"] button`)),
		chromedp.WaitVisible(`//h1[text()="Buy a subscription"]`),
	)
}

// TestBrowserContextsKeepTestsApart: the browser tests share one Chromium,
// each in a browser context of its own. A cookie set in one is not sent
// from another, and clearing one's cookies leaves the other's.
func TestBrowserContextsKeepTestsApart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "who", Value: r.URL.Query().Get("v"), Path: "/"})
		}
		c, err := r.Cookie("who")
		who := "nobody"
		if err == nil {
			who = c.Value
		}
		fmt.Fprintf(w, "<!doctype html><title>t</title><p id=who>%s</p>", html.EscapeString(who))
	}))
	t.Cleanup(srv.Close)
	a, b := newBrowser(t), newBrowser(t)
	who := func(ctx context.Context, path string) string {
		t.Helper()
		run(t, ctx, "open "+path, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS(`#who`)))
		return textOf(t, ctx, "#who")
	}
	if got := who(a, "/set?v=a"); got != "nobody" {
		t.Fatalf("a's first visit sent cookie %q", got)
	}
	if got := who(b, "/"); got != "nobody" {
		t.Fatalf("b was sent a's cookie: %q", got)
	}
	if got := who(b, "/set?v=b"); got != "nobody" {
		t.Fatalf("b's first set sent cookie %q", got)
	}
	run(t, b, "clear b's cookies", clearCookies())
	if got := who(a, "/"); got != "a" {
		t.Fatalf("a's cookie after b cleared its own: %q, want a", got)
	}
	if got := who(b, "/"); got != "nobody" {
		t.Fatalf("b's cookie after clearing: %q", got)
	}
	if w := get(t, a, "width", chromedp.Evaluate[int](`window.innerWidth`)); w != 1280 {
		t.Errorf("window is %d px wide, want 1280", w)
	}
}
