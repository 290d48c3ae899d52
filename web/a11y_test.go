package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// axeVersion is the axe-core release the accessibility test runs (a
// version `npm view axe-core versions` lists).
const axeVersion = "4.11.0"

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

// axeScript returns axe.min.js, installed with npm once into the user's
// cache dir (os.UserCacheDir()/fulfill-axe/VERSION). Without npm the test
// is skipped, or fails in CI (CI=true).
func axeScript(t *testing.T) string {
	t.Helper()
	axeOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "fulfill-axe", axeVersion)
		file := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
		if b, err := os.ReadFile(file); err == nil {
			axeSource = string(b)
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			axeErr = fmt.Errorf("npm is not installed: cannot install axe-core (apt-get install npm)")
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			axeErr = err
			return
		}
		cmd := exec.Command(npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "axe-core@"+axeVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			axeErr = fmt.Errorf("npm install axe-core@%s: %v\n%s", axeVersion, err, out)
			return
		}
		b, err := os.ReadFile(file)
		axeSource, axeErr = string(b), err
	})
	if axeErr != nil {
		if os.Getenv("CI") == "true" || !strings.HasPrefix(axeErr.Error(), "npm is not installed") {
			t.Fatal(axeErr)
		}
		t.Skip(axeErr)
	}
	return axeSource
}

type axeViolation struct {
	ID, Impact, Help, HelpURL string
	Nodes                     []struct {
		Target  []any
		HTML    string
		Summary string `json:"failureSummary"`
	}
}

// axeCheck runs axe-core on the current page with the WCAG 2 A and AA rules
// and fails on serious and critical violations; lesser ones are logged.
func axeCheck(t *testing.T, ctx context.Context, src string) {
	t.Helper()
	run(t, ctx, "inject axe", chromedp.Evaluate[chromedp.Void](src+";void 0"))
	const script = `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}, resultTypes: ['violations']})
		.then(r => JSON.stringify(r.violations))`
	out := get(t, ctx, "axe.run", chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("axe result: %v: %.500s", err, out)
	}
	var bad []string
	for _, v := range vs {
		var b strings.Builder
		fmt.Fprintf(&b, "[%s] %s: %s (%s)", v.Impact, v.ID, v.Help, v.HelpURL)
		for i, n := range v.Nodes {
			if i == 5 {
				fmt.Fprintf(&b, "\n    … and %d more", len(v.Nodes)-5)
				break
			}
			fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
		}
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, b.String())
		} else {
			t.Logf("axe (not failing): %s", b.String())
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d serious or critical accessibility violations:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

// TestAccessibility checks the main pages with axe-core in headless
// Chromium (issue 4, acceptance 5).
func TestAccessibility(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	src := axeScript(t)
	e := newEnv(t, dbtest.SQLiteURL(t))
	c := e.signUp("ann@example.com")
	sub := c.buy("sm-premium", "10")
	s, err := e.db.Subscription(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	invs, err := e.db.Invoices(context.Background(), s.CustomerID, "", fulfill.Page{Limit: 1})
	if err != nil || len(invs) == 0 {
		t.Fatalf("invoices: %v", err)
	}
	if _, err := web.CreateStaff(context.Background(), e.db, e.clock, "admin@vendor.example", "Ada Admin", web.RoleAdmin, password); err != nil {
		t.Fatal(err)
	}
	base := e.srv.URL
	review := "/buy/review?" + url.Values{"plan": {"sm-premium"}, "seats": {"10"}, "company": {"Example GmbH"}, "country": {"DE"},
		"pay": {"card"}, "card": {"pm_card_visa"}, "account": {"new"}}.Encode()

	check := func(name, path, waitFor string) {
		t.Run(name, func(t *testing.T) {
			run(t, ctx, "open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(waitFor)))
			saveScreenshot(t, ctx, name)
			axeCheck(t, ctx, src)
		})
	}
	signIn := func(path, email string) {
		run(t, ctx, "sign in "+email, clearCookies(),
			chromedp.Navigate(base+path),
			chromedp.WaitVisible(chromedp.CSS(`#password`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), password),
			chromedp.Click(chromedp.CSS(`form[action="`+path+`"] button[type=submit]`)),
			// Signed in: the redirect has left the form behind.
			chromedp.WaitNotPresent(chromedp.CSS(`#password`)),
			chromedp.WaitVisible(chromedp.CSS(`main h1`)),
		)
	}

	check("home", "/", "main h1")
	check("sign-in", "/signin", "#password")
	check("sign-up", "/signup", "#password")

	signIn("/signin", "ann@example.com")
	check("buy", "/buy", "form.checkout")
	check("review", review, "#total")
	check("subscription", "/subscriptions/"+sub, "#seat-count")
	check("invoices", "/invoices", "main h1")
	check("invoice", "/invoices/"+invs[0].ID, "main h1")
	check("account", "/account", "main h1")
	check("account-detail", "/account/"+s.CustomerID, "main h1")

	signIn("/admin/signin", "admin@vendor.example")
	check("admin-dashboard", "/admin", "#mrr")
	check("admin-customer", "/admin/customers/"+s.CustomerID, "main h1")
}
