package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/web"
)

// The portal's side of issue 14: a coupon on the buy page changes the
// priced review; the subscription page says what the renewal will be; the
// renew page shows lines, tax, total and the card before the button, which
// says the amount; a change scheduled for renewal is previewed first; staff
// set a contract price; "Buy" on a trial converts it without a new code.
func TestPortalCouponRenewalPriceScheduledChangeAndTrialBuy(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		ctx := context.Background()
		if _, err := e.svc.CreateCoupon(ctx, "test", commerce.CouponInput{Code: "LAUNCH25", PercentOff: 25,
			Duration: store.DurationRepeating, DurationTerms: 1}); err != nil {
			t.Fatal(err)
		}
		c := e.signUp("ann@example.com")
		review := "/buy/review?plan=sm-premium&seats=10&company=Example+GmbH&country=DE&pay=card&card=pm_card_visa&account=new"
		// 10 × EUR 324.00 + 19% VAT; with the coupon, 25% off before tax.
		contains(t, c.get(review).must(t, 200).body, `id="total">EUR 3,855.60<`)
		contains(t, c.get(review+"&coupon=LAUNCH25").must(t, 200).body, "Coupon LAUNCH25 (25% off)", "EUR -810.00",
			`id="total">EUR 2,891.70<`, `name="coupon" value="LAUNCH25"`)
		contains(t, c.get(review+"&coupon=NOPE").must(t, 422).body, "No coupon")
		c.get("/buy?coupon=LAUNCH25").must(t, 200)

		r := c.post("/buy", "plan", "sm-premium", "seats", "10", "company", "Example GmbH", "country", "DE", "pay", "card",
			"card", "pm_card_visa", "account", "new", "coupon", "LAUNCH25", "eula", web.EULAVersion).must(t, 303)
		sub := strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Location"), "/subscriptions/"), "?welcome=1")
		invs, err := e.db.Invoices(ctx, "", sub, fulfill.Page{Limit: 10})
		if err != nil || len(invs) != 1 || invs[0].Total != 289170 {
			t.Fatalf("invoices = %+v, %v; want one of 289170", invs, err)
		}
		// The coupon lasts one term: the renewal is at full price.
		page := c.get("/subscriptions/"+sub).must(t, 200).body
		contains(t, page, "At renewal on 1 Mar 2027: 10 seats of Premium (self-managed), about EUR 3,855.60.")
		renew := c.get("/subscriptions/"+sub+"/renew").must(t, 200).body
		contains(t, renew, `id="renew-subtotal">EUR 3,240.00<`, `id="renew-tax">EUR 615.60<`, `id="renew-total">EUR 3,855.60<`,
			"pm_card_visa", "Renew and pay EUR 3,855.60")

		// A lower seat count and another plan, previewed, then scheduled.
		pv := c.get("/subscriptions/"+sub+"/renewal?seats=5&plan=sm-ultimate").must(t, 200).body
		contains(t, pv, `id="renewal-total">EUR 6,568.80<`, "Schedule: 5 seats of Ultimate (self-managed) at renewal")
		c.post("/subscriptions/"+sub+"/renewal", "seats", "5", "plan", "sm-ultimate").must(t, 303)
		contains(t, c.get("/subscriptions/"+sub).must(t, 200).body,
			"At renewal on 1 Mar 2027: 5 seats of Ultimate (self-managed), about EUR 6,568.80.")
		c.post("/subscriptions/"+sub+"/renewal/clear").must(t, 303)
		contains(t, c.get("/subscriptions/"+sub).must(t, 200).body, "10 seats of Premium (self-managed), about EUR 3,855.60.")

		// Staff set a contract price from the next renewal.
		admin := e.staff("admin@vendor.example", "admin")
		admin.post("/admin/subscriptions/"+sub+"/price", "unit_amount", "30000", "reason", "multi-year deal").must(t, 303)
		contains(t, c.get("/subscriptions/"+sub).must(t, 200).body, "10 seats of Premium (self-managed), about EUR 3,570.00.")

		// Buy on a trial converts it: same subscription, no new code.
		s, err := e.db.Subscription(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		contains(t, c.get("/buy?plan=sm-premium&seats=5").must(t, 200).body, `action="/trial"`)
		r = c.post("/trial", "account", s.CustomerID, "plan", "sm-premium", "seats", "5").must(t, 303)
		trial := strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Location"), "/subscriptions/"), "?welcome=1")
		contains(t, c.get("/subscriptions/"+trial+"?welcome=1").must(t, 200).body, `id="activation-code"`, "Trial")
		c.post("/trial", "account", s.CustomerID, "plan", "sm-premium", "seats", "5").must(t, 409) // one per account
		contains(t, c.get("/subscriptions/"+trial).must(t, 200).body, `id="buy-trial"`, "trial="+trial)
		contains(t, c.get("/buy?plan=sm-premium&seats=5&account="+s.CustomerID+"&trial="+trial).must(t, 200).body,
			`name="trial" value="`+trial+`"`)
		r = c.post("/buy", "plan", "sm-premium", "seats", "5", "pay", "card", "card", "pm_card_visa", "account", s.CustomerID,
			"trial", trial, "eula", web.EULAVersion).must(t, 303)
		if loc := r.header.Get("Location"); loc != "/subscriptions/"+trial+"?welcome=1" {
			t.Fatalf("redirect to %q", loc)
		}
		if page := c.get("/subscriptions/"+trial+"?welcome=1").must(t, 200).body; strings.Contains(page, `id="activation-code"`) {
			t.Fatal("a converted trial showed a new activation code")
		}
		conv, err := e.db.Subscription(ctx, trial)
		if err != nil || conv.Trial || !conv.AutoRenew {
			t.Fatalf("converted trial = %+v, %v", conv, err)
		}
	})
}
