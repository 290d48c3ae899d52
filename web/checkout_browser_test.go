package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// TestBrowserCheckoutDeclineRecoveryCardDefaultAndDashboard buys as a new
// customer whose first card is declined: the review page stays, with the
// EULA still ticked and a card to choose in place; the second card pays,
// and it is the account's default card, named where the subscription says
// when it renews. The console dashboard, cached, shows the purchase on its
// next view with the time its figures were computed.
func TestBrowserCheckoutDeclineRecoveryCardDefaultAndDashboard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t), func(c *web.Config) { c.DashboardTTL = time.Hour })
	ctx := newBrowser(t)
	t.Cleanup(func() { saveScreenshot(t, ctx, "last-page") })
	base := e.srv.URL
	if _, err := web.CreateStaff(context.Background(), e.db, e.clock, "ops@vendor.example", "Ops", web.RoleAdmin, password); err != nil {
		t.Fatal(err)
	}
	adminDashboard := func(step string) (customers, active string) {
		run(t, ctx, step, clearCookies(),
			chromedp.Navigate(base+"/admin/signin"),
			chromedp.WaitVisible(chromedp.CSS(`#password`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), "ops@vendor.example"),
			chromedp.SendKeys(chromedp.CSS(`#password`), password),
			chromedp.Click(chromedp.CSS(`form[action="/admin/signin"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#mrr`)),
		)
		if asOf := textOf(t, ctx, "#as-of"); !strings.HasPrefix(asOf, "Figures as of ") || !strings.HasSuffix(asOf, "UTC") {
			t.Fatalf("%s: as-of %q", step, asOf)
		}
		return textOf(t, ctx, "#customer-count"), textOf(t, ctx, "#active-count")
	}
	if c, a := adminDashboard("dashboard before"); c != "0" || a != "0" {
		t.Fatalf("dashboard before the purchase: %s customers, %s active", c, a)
	}

	run(t, ctx, "buyer", clearCookies())
	e.signUpIn(t, ctx, "decline@example.com")
	run(t, ctx, "order with a card that is declined",
		chromedp.Click(chromedp.CSS(`input[name=plan][value="sm-premium"]`)),
		chromedp.SetValue(chromedp.CSS(`#seats`), "5"),
		chromedp.SendKeys(chromedp.CSS(`#company`), "Decline GmbH"),
		chromedp.SetValue(chromedp.CSS(`#country`), "DE"),
		chromedp.Click(chromedp.CSS(`input[name=pay][value=card]`)),
		chromedp.SetValue(chromedp.CSS(`#card`), "pm_card_chargeDeclined"),
		chromedp.Click(chromedp.CSS(`form.checkout button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#total`)),
		chromedp.Click(chromedp.CSS(`#eula`)),
		chromedp.Click(chromedp.CSS(`form[action="/buy"] button[type=submit]`)),
		chromedp.WaitVisible(`//*[contains(@class,"notice") and contains(@class,"error") and contains(., "declined")]`),
	)
	saveScreenshot(t, ctx, "declined-review")
	if h := textOf(t, ctx, "h1"); h != "Review your order" {
		t.Fatalf("after the decline: %q", h)
	}
	if !get(t, ctx, "eula ticked", chromedp.Evaluate[bool](`document.getElementById('eula').checked`)) {
		t.Fatal("the EULA tick was lost after the decline")
	}
	if got := get(t, ctx, "card field", chromedp.Evaluate[string](`document.getElementById('card').getAttribute('aria-invalid') || ''`)); got != "true" {
		t.Fatalf("the card field is not marked: %q", got)
	}
	run(t, ctx, "pay with another card in place",
		chromedp.SetValue(chromedp.CSS(`#card`), "pm_card_visa"),
		chromedp.Click(chromedp.CSS(`form[action="/buy"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#activation-code`)),
	)
	saveScreenshot(t, ctx, "paid-subscription")
	if got := textOf(t, ctx, "#renews"); !strings.Contains(got, "Renews on ") || !strings.HasSuffix(got, " on Visa •••• 4242.") {
		t.Fatalf("renewal sentence %q", got)
	}
	if !get(t, ctx, "copy button", chromedp.Evaluate[bool](`!document.querySelector('button[data-copy="activation-code"]').hidden`)) {
		t.Fatal("no copy button for the activation code")
	}
	run(t, ctx, "billing account",
		chromedp.Navigate(base+"/account"),
		chromedp.Click(`//a[starts-with(text(),"Manage")]`),
		chromedp.WaitVisible(chromedp.CSS(`#cards`)),
	)
	if got := get(t, ctx, "saved cards", chromedp.Evaluate[string](`document.getElementById('cards').textContent`)); !strings.Contains(got, "Visa •••• 4242") || !strings.Contains(got, "Default") {
		t.Fatalf("saved cards %q", got)
	}
	saveScreenshot(t, ctx, "account-cards")

	if c, a := adminDashboard("dashboard after"); c != "1" || a != "1" {
		t.Fatalf("dashboard after the purchase: %s customers, %s active", c, a)
	}
	saveScreenshot(t, ctx, "dashboard-after")
}
