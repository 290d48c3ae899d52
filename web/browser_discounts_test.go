package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// TestBrowserCouponChangesThePreviewAndRenewShowsTheTotal is issue 14's
// acceptance 6 in a real browser: a coupon code on the buy page changes the
// priced review, and the renew page shows the exact total (the one then
// invoiced) before paying.
func TestBrowserCouponChangesThePreviewAndRenewShowsTheTotal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	ctx := newBrowser(t)
	t.Cleanup(func() { saveScreenshot(t, ctx, "discounts-last-page") })
	if _, err := e.svc.CreateCoupon(context.Background(), "test", commerce.CouponInput{Code: "LAUNCH25", PercentOff: 25,
		Duration: store.DurationRepeating, DurationTerms: 1}); err != nil {
		t.Fatal(err)
	}
	e.signUpIn(t, ctx, "ann@example.com")
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
	if total := textOf(t, ctx, "#total"); total != "EUR 3,855.60" {
		t.Fatalf("review without coupon: total %q", total)
	}
	// Back to the form, with a coupon code.
	run(t, ctx, "coupon",
		chromedp.Navigate(e.srv.URL+"/buy?plan=sm-premium&seats=10&company=Example+GmbH&country=DE&pay=card&card=pm_card_visa"),
		chromedp.WaitVisible(chromedp.CSS(`#coupon`)),
		chromedp.SendKeys(chromedp.CSS(`#coupon`), "LAUNCH25"),
		chromedp.Click(chromedp.CSS(`form.checkout button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#total`)),
	)
	if total, tax := textOf(t, ctx, "#total"), textOf(t, ctx, "#tax"); total != "EUR 2,891.70" || tax != "EUR 461.70" {
		t.Fatalf("review with LAUNCH25: tax %q total %q, want EUR 461.70 and EUR 2,891.70", tax, total)
	}
	if body := textOf(t, ctx, "table.lines"); !strings.Contains(body, "Coupon LAUNCH25 (25% off)") || !strings.Contains(body, "EUR -810.00") {
		t.Fatalf("review lines lack the discount:\n%s", body)
	}
	shot(t, ctx, "discounts-01-review-with-coupon")
	run(t, ctx, "pay",
		chromedp.Click(chromedp.CSS(`#eula`)),
		chromedp.Click(chromedp.CSS(`form[action="/buy"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#activation-code`)),
	)
	subURL := strings.TrimSuffix(get(t, ctx, "location", chromedp.Location()), "?welcome=1")
	sub := strings.TrimPrefix(subURL, e.srv.URL+"/subscriptions/")

	// Renew now: the lines, tax, total and card, then a button saying it.
	run(t, ctx, "renew page",
		chromedp.Navigate(subURL),
		chromedp.WaitVisible(chromedp.CSS(`#at-renewal`)),
		chromedp.Click(`//a[text()="Renew now"]`),
		chromedp.WaitVisible(chromedp.CSS(`#renew-total`)),
	)
	total, button := textOf(t, ctx, "#renew-total"), textOf(t, ctx, "#renew-button")
	if total != "EUR 3,855.60" || textOf(t, ctx, "#renew-tax") != "EUR 615.60" || button != "Renew and pay EUR 3,855.60" ||
		!strings.Contains(textOf(t, ctx, "#renew-method"), "pm_card_visa") {
		t.Fatalf("renew page: total %q, button %q", total, button)
	}
	shot(t, ctx, "discounts-02-renew")
	run(t, ctx, "renew",
		chromedp.Click(chromedp.CSS(`#renew-button`)),
		chromedp.WaitVisible(`//*[contains(text(), "Renewed until")]`),
	)
	invs, err := e.db.Invoices(context.Background(), "", sub, fulfill.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 2 || billing.FormatAmount(invs[0].Total, invs[0].Currency) != total {
		t.Fatalf("invoices %+v: the renewal's total is not the %s shown", invs, total)
	}
}
