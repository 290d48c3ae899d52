package api_test

import (
	"context"
	"sync"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/license"
)

type coupon struct {
	Code        string `json:"code"`
	Redemptions int64  `json:"redemptions"`
	Archived    bool   `json:"archived"`
}

type renewalSchedule struct {
	Seats         *int64 `json:"seats"`
	Plan          string `json:"plan"`
	ContractPrice *int64 `json:"contract_price"`
	NextPriceSet  bool   `json:"next_price_set"`
	NextPrice     *int64 `json:"next_price"`
	Expected      *struct {
		RenewsOn   string `json:"renews_on"`
		Plan       string `json:"plan"`
		Seats      int64  `json:"seats"`
		UnitAmount int64  `json:"unit_amount"`
		TrueUp     int64  `json:"trueup"`
		Total      int64  `json:"total"`
		Lines      []line `json:"lines"`
	} `json:"expected"`
}

// renewalInvoice is the invoice of the subscription's renewal: the one
// with a renewal line.
func (e *env) renewalInvoice(sub string) invoice {
	e.t.Helper()
	var invs struct{ Data []invoice }
	e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub, nil, &invs)
	var found []invoice
	for _, inv := range invs.Data {
		if len(linesOf(inv, "renewal")) == 1 {
			found = append(found, inv)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("%d renewal invoices among %+v, want 1", len(found), invs.Data)
	}
	return found[0]
}

// Acceptance 1: LAUNCH25 takes 25% off the first term (the purchase and the
// seats added in it, each its own negative line), and the renewal is at
// full price; the ledger's revenue is net of the discount.
func TestCouponRepeatingOneTermDiscountsPurchaseAndSeatsNotRenewal(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var c coupon
		e.must(201, "POST", "/api/v1/coupons", map[string]any{"code": "LAUNCH25", "percent_off": 25, "duration": "repeating",
			"duration_terms": 1}, &c)
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 100,
			"payment_method": "pm_card_visa", "coupon": "LAUNCH25"}, &p)
		if len(p.Invoice.Lines) != 3 || p.Invoice.Lines[0].Amount != 3480000 || p.Invoice.Lines[1].Kind != "discount" ||
			p.Invoice.Lines[1].Amount != -870000 || p.Invoice.Total != 2610000 || p.Invoice.Status != "paid" {
			t.Fatalf("invoice = %+v, want 3480000 and -870000, total 2610000", p.Invoice)
		}
		if got := e.pay.Charges(); got != 1 {
			t.Fatalf("%d charges, want 1", got)
		}
		e.must(200, "GET", "/api/v1/coupons/LAUNCH25", nil, &c)
		if c.Redemptions != 1 {
			t.Fatalf("redemptions = %d, want 1", c.Redemptions)
		}
		sub := p.Subscription.ID

		// 20 seats added on 2026-07-02: 348953 prorated, 25% of it off.
		e.advance("2026-07-02")
		var ch struct{ Invoice invoice }
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/seats", map[string]any{"seats": 120}, &ch)
		if d := linesOf(ch.Invoice, "discount"); len(d) != 1 || d[0].Amount != -87238 || ch.Invoice.Total != 348953-87238 {
			t.Fatalf("seat invoice = %+v, want -87238 off 348953", ch.Invoice)
		}

		e.advance("2027-01-01")
		inv := e.renewalInvoice(sub)
		if len(linesOf(inv, "discount")) != 0 || inv.Total != 120*34800 {
			t.Fatalf("renewal invoice = %+v, want full price %d", inv, 120*34800)
		}

		// Revenue (recognised to date) and deferred revenue sum to the net
		// amounts invoiced; the discounts are on their own account.
		var bal struct {
			Data []struct {
				Account string `json:"account"`
				Amount  int64  `json:"amount"`
			} `json:"data"`
		}
		e.must(200, "GET", "/api/v1/ledger/balances", nil, &bal)
		got := map[string]int64{}
		for _, b := range bal.Data {
			got[b.Account] += b.Amount
		}
		net := int64(2610000 + 348953 - 87238 + 120*34800)
		if got["revenue"]+got["deferred_revenue"] != -net || got["discounts"] != 870000+87238 || got["discounted_sales"] != -(870000+87238) {
			t.Fatalf("ledger balances = %v, want revenue+deferred %d, discounts %d", got, -net, 870000+87238)
		}
	})
}

// Acceptance 1: ten concurrent purchases with a coupon redeemable three
// times: exactly three redeem it, seven are refused coupon_exhausted and
// nothing is charged for them.
func TestCouponMaxRedemptionsHoldUnderConcurrentPurchases(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		e.must(201, "POST", "/api/v1/coupons", map[string]any{"code": "FIRST3", "percent_off": 50, "duration": "once",
			"max_redemptions": 3}, nil)
		var custs []string
		for range 10 {
			custs = append(custs, e.customer("US", ""))
		}
		var wg sync.WaitGroup
		statuses := make([]int, 10)
		codes := make([]string, 10)
		for i, cus := range custs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ae apiError
				statuses[i] = e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium",
					"seats": 10, "payment_method": "pm_card_visa", "coupon": "FIRST3"}, &ae)
				codes[i] = ae.Error.Code
			}()
		}
		wg.Wait()
		created, exhausted := 0, 0
		for i, st := range statuses {
			switch {
			case st == 201:
				created++
			case st == 422 && codes[i] == "coupon_exhausted":
				exhausted++
			default:
				t.Errorf("purchase %d: %d %s", i, st, codes[i])
			}
		}
		if created != 3 || exhausted != 7 {
			t.Fatalf("%d created, %d coupon_exhausted; want 3 and 7", created, exhausted)
		}
		var c coupon
		e.must(200, "GET", "/api/v1/coupons/FIRST3", nil, &c)
		if c.Redemptions != 3 {
			t.Fatalf("redemptions = %d, want 3", c.Redemptions)
		}
		if got := e.pay.Charges(); got != 3 {
			t.Fatalf("%d charges, want 3: the refused purchases are never charged", got)
		}
		var subs struct{ Data []subscription }
		e.must(200, "GET", "/api/v1/subscriptions", nil, &subs)
		if len(subs.Data) != 3 {
			t.Fatalf("%d subscriptions, want 3", len(subs.Data))
		}
	})
}

// A declined card gives its redemption back.
func TestCouponRedemptionReturnsWhenTheCardIsDeclined(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		e.must(201, "POST", "/api/v1/coupons", map[string]any{"code": "ONE", "percent_off": 10, "duration": "forever",
			"max_redemptions": 1}, nil)
		if st := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "pm_card_chargeDeclined", "coupon": "ONE"}, nil); st != 402 {
			t.Fatalf("declined purchase: %d", st)
		}
		var c coupon
		e.must(200, "GET", "/api/v1/coupons/ONE", nil, &c)
		if c.Redemptions != 0 {
			t.Fatalf("redemptions after a decline = %d, want 0", c.Redemptions)
		}
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "pm_card_visa", "coupon": "ONE"}, nil)
		e.must(200, "POST", "/api/v1/coupons/ONE/archive", nil, &c)
		var ae apiError
		if st := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "pm_card_visa", "coupon": "ONE"}, &ae); st != 422 || ae.Error.Code != "coupon_invalid" {
			t.Fatalf("archived coupon: %d %+v", st, ae)
		}
		if st := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1,
			"payment_method": "pm_card_visa", "coupon": "NOPE"}, &ae); st != 422 || ae.Error.Code != "coupon_invalid" {
			t.Fatalf("unknown coupon: %d %+v", st, ae)
		}
	})
}

// Acceptance 2: tax is computed on the discounted amount.
func TestCouponGermanBusinessWithoutVATIDPaysVATOnTheDiscountedAmount(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		var cust struct{ ID string }
		e.must(201, "POST", "/api/v1/customers", map[string]any{"email": "einkauf@example.de", "name": "Eva Kauf",
			"company": "Beispiel GmbH", "country": "DE", "currency": "USD"}, &cust)
		e.must(201, "POST", "/api/v1/coupons", map[string]any{"code": "TEN", "percent_off": 10, "duration": "once"}, nil)
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cust.ID, "plan": "sm-premium", "seats": 10,
			"payment_method": "invoice", "coupon": "TEN"}, &p)
		inv := p.Invoice
		if linesOf(inv, "subscription")[0].Amount != 348000 || linesOf(inv, "discount")[0].Amount != -34800 ||
			linesOf(inv, "tax")[0].Amount != 59508 || inv.Tax != 59508 || inv.Total != 372708 {
			t.Fatalf("invoice = %+v, want 348000, -34800, tax 59508, total 372708", inv)
		}
	})
}

// Acceptance 3: a contract price set in March is what the renewal bills,
// whatever the catalog price became meanwhile.
func TestContractPriceSetInMarchSurvivesACatalogPriceChange(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 100,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		e.advance("2026-03-10")
		var rs renewalSchedule
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/price", map[string]any{"unit_amount": 30000, "reason": "three-year deal"}, &rs)
		if !rs.NextPriceSet || rs.NextPrice == nil || *rs.NextPrice != 30000 || rs.Expected == nil || rs.Expected.Total != 3000000 {
			t.Fatalf("price answer = %+v", rs)
		}
		var ae apiError
		if st := e.do("POST", "/api/v1/subscriptions/"+sub+"/price", map[string]any{"unit_amount": 30000}, &ae); st != 422 || ae.Error.Field != "reason" {
			t.Fatalf("no reason: %d %+v", st, ae)
		}
		var audit struct {
			Data []struct {
				Action string `json:"action"`
			} `json:"data"`
		}
		e.must(200, "GET", "/api/v1/audit_log?subject_type=subscription&subject_id="+sub, nil, &audit)
		found := false
		for _, a := range audit.Data {
			found = found || a.Action == "subscription.contract_price"
		}
		if !found {
			t.Fatalf("no subscription.contract_price audit entry in %+v", audit.Data)
		}
		e.advance("2026-06-01")
		e.must(201, "POST", "/api/v1/plans", map[string]any{"code": "sm-premium", "name": "Premium (self-managed)",
			"kind": "self_managed", "prices": map[string]int64{"USD": 42000, "EUR": 39000}}, nil)
		e.advance("2027-01-01")
		inv := e.renewalInvoice(sub)
		if l := linesOf(inv, "renewal"); l[0].UnitAmount != 30000 || inv.Total != 3000000 {
			t.Fatalf("renewal = %+v, want 100 × 30000", inv)
		}
		// The next renewal keeps it too.
		var after renewalSchedule
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/renewal", nil, &after)
		if after.ContractPrice == nil || *after.ContractPrice != 30000 || after.NextPriceSet || after.Expected.UnitAmount != 30000 {
			t.Fatalf("after renewal = %+v", after)
		}
	})
}

// Acceptance 4: a renewal scheduled to 60 seats of a lower tier renews with
// max(60, 72 billable) seats of it, and the true-up as usual.
func TestRenewalScheduledToFewerSeatsOfALowerTier(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-ultimate", "seats": 100,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		var ae apiError
		if st := e.do("POST", "/api/v1/subscriptions/"+sub+"/renewal", map[string]any{"plan": "saas-premium"}, &ae); st != 422 {
			t.Fatalf("a SaaS plan for a self-managed subscription: %d %+v", st, ae)
		}
		var rs renewalSchedule
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/renewal", map[string]any{"seats": 60, "plan": "sm-premium"}, &rs)
		if rs.Seats == nil || *rs.Seats != 60 || rs.Plan != "sm-premium" || rs.Expected.Total != 60*34800 {
			t.Fatalf("scheduled = %+v", rs)
		}
		e.advance("2026-12-30")
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "date": "2026-10-01",
			"max_users": 105, "billable_users": 90}, nil)
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "date": "2026-12-29",
			"max_users": 105, "billable_users": 72}, nil)
		// True-up: 5 users over the 100 Ultimate seats, at the Ultimate price
		// of the term they were used in.
		want := int64(72*34800 + 5*118800)
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/renewal", nil, &rs)
		if rs.Expected.Seats != 72 || rs.Expected.Plan != "sm-premium" || rs.Expected.TrueUp != 5 || rs.Expected.Total != want {
			t.Fatalf("expected renewal = %+v, want 72 sm-premium + 5 true-up = %d", rs.Expected, want)
		}
		e.advance("2027-01-01")
		var s subscription
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
		if s.Plan != "sm-premium" || s.Seats != 72 || s.EndsOn != "2028-01-01" {
			t.Fatalf("renewed = %+v, want 72 seats of sm-premium", s)
		}
		inv := e.renewalInvoice(sub)
		if r, tu := linesOf(inv, "renewal"), linesOf(inv, "trueup"); r[0].Quantity != 72 || r[0].UnitAmount != 34800 ||
			len(tu) != 1 || tu[0].Quantity != 5 || tu[0].UnitAmount != 118800 || inv.Total != want {
			t.Fatalf("renewal invoice = %+v", inv)
		}
		// Used up: the next renewal has nothing scheduled.
		var after renewalSchedule
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/renewal", nil, &after)
		if after.Seats != nil || after.Plan != "" {
			t.Fatalf("after renewal = %+v", after)
		}
		if st := e.do("DELETE", "/api/v1/subscriptions/"+sub+"/renewal", nil, &after); st != 200 || after.Seats != nil {
			t.Fatalf("clearing nothing: %d %+v", st, after)
		}
	})
}

// Acceptance 5: a trial activated on an instance, bought on day 10: the
// same instance's next seat link brings the paid license with the seats
// bought, and no second activation code exists.
func TestTrialConvertedByPurchaseReachesTheActivatedInstance(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var tr purchase
		e.must(201, "POST", "/api/v1/trials", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10}, &tr)
		var act struct {
			LicenseKey string `json:"license_key"`
		}
		e.must(201, "POST", "/api/v1/activations", map[string]any{"activation_code": *tr.ActivationCode, "instance_id": "inst-1",
			"hostname": "git.example.com", "version": "18.0"}, &act)
		e.advance("2026-01-11")
		other := e.customer("US", "")
		var ae apiError
		if st := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": other, "plan": "sm-premium", "seats": 50,
			"payment_method": "pm_card_visa", "trial_id": tr.Subscription.ID}, &ae); st != 404 {
			t.Fatalf("another customer's trial: %d %+v", st, ae)
		}
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 50,
			"payment_method": "pm_card_visa", "trial_id": tr.Subscription.ID}, &p)
		if p.Subscription.ID != tr.Subscription.ID || p.ActivationCode != nil || p.Subscription.StartsOn != "2026-01-11" ||
			p.Subscription.EndsOn != "2027-01-11" || p.Invoice.Total != 50*34800 {
			t.Fatalf("conversion = %+v", p)
		}
		var n int
		if err := e.db.Read.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM activation_codes WHERE subscription_id = $1`,
			tr.Subscription.ID).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d activation codes (%v), want the trial's only", n, err)
		}
		var res struct {
			License *string `json:"license"`
			Seats   int64   `json:"seats"`
		}
		e.must(200, "POST", "/api/v1/seat_links", map[string]any{"license_key": act.LicenseKey, "timestamp": "2026-01-11T10:00:00Z",
			"max_historical_user_count": 8, "billable_users_count": 8, "instance_id": "inst-1", "hostname": "git.example.com",
			"version": "18.0"}, &res)
		if res.License == nil {
			t.Fatal("the seat link brought no license")
		}
		lic, err := license.Parse([]byte(*res.License))
		if err != nil {
			t.Fatal(err)
		}
		if lic.Payload.Trial || lic.Payload.Seats != 50 || lic.Payload.ExpiresAt.String() != "2027-01-11" {
			t.Fatalf("license = %+v, want paid, 50 seats, until 2027-01-11", lic.Payload)
		}
		if st := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 50,
			"payment_method": "pm_card_visa", "trial_id": tr.Subscription.ID}, &ae); st != 409 {
			t.Fatalf("converting twice: %d %+v", st, ae)
		}
	})
}
