package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// layoutCheck measures the page in the browser: its width against the
// viewport's, and every amount ("EUR 1,234.56") in the page's main part,
// shown or not, against the amounts a reader can see (rendered, inside the
// viewport and not clipped by a scrolling box).
const layoutCheck = `(() => {
  const re = /\b[A-Z]{3} -?[0-9][0-9,]*\.[0-9]{2}\b/g;
  const vw = window.innerWidth;
  const all = new Set(), seen = new Set();
  const main = document.querySelector('main');
  const walk = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const p = n.parentElement;
    if (p.closest('option, select, script, noscript')) continue;
    const ms = n.textContent.match(re);
    if (!ms) continue;
    ms.forEach(m => all.add(m));
    const range = document.createRange();
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    let visible = r.width > 0 && r.height > 0 && r.left >= -0.5 && r.right <= vw + 0.5 && getComputedStyle(p).visibility !== 'hidden';
    for (let a = p; visible && a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
        const b = a.getBoundingClientRect();
        if (r.left < b.left - 0.5 || r.right > b.right + 0.5) visible = false;
      }
    }
    if (visible) ms.forEach(m => seen.add(m));
  }
  // The innermost elements that stick out, to name in a failure.
  const clipped = el => { for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
  const out = el => el.getBoundingClientRect().right > vw + 0.5 && !clipped(el);
  const wide = [...document.body.querySelectorAll('*')].filter(el => out(el) && ![...el.children].some(out)).slice(0, 5)
    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
      ' (' + Math.round(el.getBoundingClientRect().right) + ' px): ' + (el.textContent || '').trim().slice(0, 40));
  return JSON.stringify({scrollWidth: document.documentElement.scrollWidth, innerWidth: vw,
    amounts: [...all], hidden: [...all].filter(m => !seen.has(m)), wide: wide});
})()`

type layout struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Amounts     []string `json:"amounts"`
	Hidden      []string `json:"hidden"`
	Wide        []string `json:"wide"` // what sticks out
}

func measure(t *testing.T, ctx context.Context, name string) layout {
	t.Helper()
	s := get(t, ctx, "measure "+name, chromedp.Evaluate[string](layoutCheck))
	var l layout
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		t.Fatalf("measure %s: %v (%s)", name, err, s)
	}
	return l
}

// mobilePages sets up a customer with data on every portal page (a card
// and an invoice subscription, a SaaS one, seat reports, a support request,
// an account with a long unbroken company name) and staff to see it all in
// the console, and returns the pages to visit, portal then console.
func mobilePages(t *testing.T, e *env) (portal, console []page) {
	t.Helper()
	ctx := context.Background()
	a := e.signUp("mobile@example.com")
	sub := a.buy("sm-premium", "10")
	inv := a.buyByInvoice("sm-ultimate", "25")
	long := strings.Repeat("Averylongunbrokencompanyname", 8)[:200]
	a.post("/buy", "plan", "saas-premium", "seats", "5", "company", long, "country", "FR", "pay", "invoice",
		"account", "new", "eula", web.EULAVersion).must(t, 303)
	for i, day := range []int{1, 2, 3} {
		d := fulfill.NewDate(2026, 3, day)
		e.clock.Set(d.Time())
		in := commerceReport(sub, int64(8+i*2), int64(7+i*2))
		in.Date = &d
		if _, err := e.svc.RecordSeatReport(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	r := a.post("/support", "category", "license_error", "subscription", sub, "subject", "License not accepted",
		"body", "Our instance says: license signature invalid.").must(t, 303)
	request := r.header.Get("Location")
	invoices := e.invoices(inv.CustomerID)
	cust := inv.CustomerID
	review := "/buy/review?" + url.Values{"plan": {"sm-premium"}, "seats": {"10"}, "company": {"Example GmbH"}, "country": {"DE"},
		"pay": {"card"}, "card": {"pm_card_visa"}, "account": {"new"}}.Encode()
	portal = []page{
		{"subscriptions", "/subscriptions"}, {"subscription", "/subscriptions/" + sub}, {"subscription-invoice", "/subscriptions/" + inv.ID},
		{"seats", "/subscriptions/" + sub + "/seats?seats=15"}, {"upgrade", "/subscriptions/" + sub + "/upgrade"},
		{"renew", "/subscriptions/" + sub + "/renew"}, {"invoices", "/invoices"}, {"invoice", "/invoices/" + invoices[0].ID},
		{"account", "/account"}, {"account-edit", "/account/" + cust}, {"buy", "/buy"}, {"review", review},
		{"support", "/support"}, {"support-new", "/support/new"}, {"support-request", request}, {"eula", "/eula"},
	}
	e.staff("ops@vendor.example", web.RoleAdmin)
	console = []page{
		{"admin-dashboard", "/admin"}, {"admin-customers", "/admin/customers"}, {"admin-search", "/admin/customers?q=mobile"},
		{"admin-customer", "/admin/customers/" + cust}, {"admin-support", "/admin/support"}, {"admin-catalog", "/admin/catalog"},
		{"admin-audit", "/admin/audit"}, {"admin-emails", "/admin/emails"}, {"admin-jobs", "/admin/jobs"}, {"admin-webhooks", "/admin/webhooks"},
	}
	return portal, console
}

type page struct{ name, path string }

// amountPages are the pages whose every amount must be visible.
var amountPages = regexp.MustCompile(`^(invoice|invoices|review|subscription|subscription-invoice|seats)$`)

// TestBrowserMobileNoPageWiderThanTheScreen visits every portal and console
// page with data in it at 390 × 844 (a phone) and at 1280 × 900: no page is
// wider than the viewport, and every amount on the invoice, review and
// subscription pages is visible (not in a column scrolled out of sight).
// It saves a screenshot of each page at both widths as test artifacts.
func TestBrowserMobileNoPageWiderThanTheScreen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	portal, console := mobilePages(t, e)
	ctx := newBrowser(t)
	signIn := func(path, email string) {
		run(t, ctx, "sign in "+email, clearCookies(),
			chromedp.Navigate(e.srv.URL+path),
			chromedp.WaitVisible(chromedp.CSS(`#password`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), password),
			chromedp.Click(chromedp.CSS(`form[action="`+path+`"] button[type=submit]`)),
			// Signed in: the redirect has left the form behind (the sign-in
			// page has a main h1 too; a navigation while the form's was
			// still under way was aborted, net::ERR_ABORTED).
			chromedp.WaitNotPresent(chromedp.CSS(`#password`)),
			chromedp.WaitVisible(chromedp.CSS(`main h1`)),
		)
	}
	var bad []string
	visit := func(width, height int64, pages []page) {
		for _, p := range pages {
			name := fmt.Sprintf("%d-%s", width, p.name)
			run(t, ctx, name, chromedp.EmulateViewport(width, height),
				chromedp.Navigate(e.srv.URL+p.path), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
			if title := textOf(t, ctx, "main h1"); title == "Page not found" || title == "Something went wrong" {
				t.Fatalf("%s: %s", name, title)
			}
			l := measure(t, ctx, name)
			if l.ScrollWidth > l.InnerWidth {
				bad = append(bad, fmt.Sprintf("%s is %d px wide in a %d px viewport: %q", name, l.ScrollWidth, l.InnerWidth, l.Wide))
			}
			if amountPages.MatchString(p.name) {
				if len(l.Amounts) == 0 {
					bad = append(bad, name+" shows no amount at all")
				}
				if len(l.Hidden) > 0 {
					bad = append(bad, fmt.Sprintf("%s hides amounts %v", name, l.Hidden))
				}
			}
			saveScreenshot(t, ctx, name)
		}
	}
	for _, w := range []struct{ w, h int64 }{{390, 844}, {1280, 900}} {
		run(t, ctx, "viewport", chromedp.EmulateViewport(w.w, w.h))
		signIn("/signin", "mobile@example.com")
		visit(w.w, w.h, portal)
		signIn("/admin/signin", "ops@vendor.example")
		visit(w.w, w.h, console)
	}
	for _, b := range bad {
		t.Error(b)
	}
	t.Logf("screenshots in %s", t.ArtifactDir())
}
