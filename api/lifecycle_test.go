package api_test

import (
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// A tier upgrade mid-term credits the unused old plan and charges the unused
// new plan, previewed first with the same amount.
func TestUpgradeTier(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 100,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		e.advance("2026-07-02")
		var pv struct {
			AmountDue int64  `json:"amount_due"`
			Lines     []line `json:"lines"`
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/plan/preview", map[string]any{"plan": "sm-ultimate"}, &pv)
		// −round(100×34800×183/365) + round(100×118800×183/365)
		if pv.AmountDue != 5956274-1744767 {
			t.Fatalf("preview = %d, want %d", pv.AmountDue, 5956274-1744767)
		}
		var ch struct {
			Subscription struct {
				Plan       string
				UnitAmount int64 `json:"unit_amount"`
			}
			Invoice invoice
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/plan", map[string]any{"plan": "sm-ultimate"}, &ch)
		if ch.Invoice.Total != pv.AmountDue || ch.Subscription.Plan != "sm-ultimate" || ch.Subscription.UnitAmount != 118800 {
			t.Fatalf("upgrade = %+v", ch)
		}
		cr, chg := linesOf(ch.Invoice, "upgrade_credit"), linesOf(ch.Invoice, "upgrade_charge")
		if len(cr) != 1 || cr[0].Amount != -1744767 || len(chg) != 1 || chg[0].Amount != 5956274 {
			t.Fatalf("lines = %+v", ch.Invoice.Lines)
		}
		if l := e.license(sub); l.Plan != "sm-ultimate" || l.Seats != 100 {
			t.Fatalf("license after upgrade = %s %d", l.Plan, l.Seats)
		}
	})
}

// A new price is a new plan version: subscriptions keep their price until
// renewal, then pay the new one.
func TestPlanVersions(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		var plan struct {
			Version int
			Prices  map[string]int64
		}
		e.must(201, "POST", "/api/v1/plans", map[string]any{"code": "sm-premium", "name": "Premium (self-managed)", "kind": "self_managed",
			"prices": map[string]int64{"USD": 40000}}, &plan)
		if plan.Version != 2 {
			t.Fatalf("new version = %d, want 2", plan.Version)
		}
		e.advance("2026-07-02")
		var pv struct {
			AmountDue int64 `json:"amount_due"`
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/seats/preview", map[string]any{"seats": 30}, &pv)
		if pv.AmountDue != 348953 {
			t.Fatalf("mid-term seats at %d, want the old price (348953)", pv.AmountDue)
		}
		e.advance("2027-01-01")
		var invs struct{ Data []invoice }
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+p.Subscription.ID+"&limit=1", nil, &invs)
		if r := linesOf(invs.Data[0], "renewal"); len(r) != 1 || r[0].UnitAmount != 40000 || r[0].Amount != 400000 {
			t.Fatalf("renewal = %+v, want 10 × 40000", r)
		}
		var plans struct {
			Data []struct {
				Code    string
				Version int
			}
		}
		e.must(200, "GET", "/api/v1/plans", nil, &plans)
		for _, pl := range plans.Data {
			if pl.Code == "sm-premium" && pl.Version != 2 {
				t.Errorf("catalog shows version %d", pl.Version)
			}
		}
	})
}

// Cancel turns auto-renew off and the subscription expires at term end;
// resume turns it back on; seats are reduced only at renewal and never below
// the billable users.
func TestCancelResumeAndReduceAtRenewal(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": 50,
			"payment_method": "invoice"}, &p)
		sub := p.Subscription.ID
		if p.ActivationCode != nil || p.Invoice.Status != "open" {
			t.Fatalf("SaaS purchase = %+v", p)
		}
		var s subscription
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/cancel", map[string]any{"reason": "budget"}, &s)
		if s.State != "canceled" || s.AutoRenew {
			t.Fatalf("canceled = %+v", s)
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/resume", nil, &s)
		if s.State != "active" || !s.AutoRenew {
			t.Fatalf("resumed = %+v", s)
		}
		e.advance("2026-12-01")
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "max_users": 45, "billable_users": 40}, nil)
		var ae apiError
		if c := e.do("POST", "/api/v1/subscriptions/"+sub+"/renew", map[string]any{"seats": 39}, &ae); c != 422 || ae.Error.Field != "seats" {
			t.Fatalf("renew below billable: %d %+v", c, ae)
		}
		var r struct {
			Subscription subscription
			Invoice      invoice
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/renew", map[string]any{"seats": 40}, &r)
		if r.Subscription.Seats != 40 || r.Subscription.StartsOn != "2027-01-01" || len(linesOf(r.Invoice, "trueup")) != 0 {
			t.Fatalf("renewal = %+v", r)
		}
		if c := e.do("POST", "/api/v1/subscriptions/"+sub+"/renew", nil, &ae); c != 409 {
			t.Fatalf("second renewal ahead: %d", c)
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/cancel", nil, nil)
		e.advance("2028-01-01")
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
		if s.State != "expired" {
			t.Fatalf("state after term end = %s, want expired", s.State)
		}
		var vs struct{ Data []struct{ Action string } }
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/versions", nil, &vs)
		got := ""
		for _, v := range vs.Data {
			got += v.Action + " "
		}
		if got != "purchase cancel resume renew cancel expire " {
			t.Fatalf("history = %q", got)
		}
	})
}

// Tax: a French business with a VAT id buying from a German seller gets the
// reverse charge; a French consumer pays French VAT.
func TestTax(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		for _, c := range []struct {
			taxID      string
			tax, total int64
			note       bool
		}{
			{"FR40303265045", 0, 324000, true},
			{"", 64800, 388800, false},
		} {
			cus := e.customer("FR", c.taxID)
			var p purchase
			e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
				"payment_method": "pm_card_visa"}, &p)
			if p.Invoice.Currency != "EUR" || p.Invoice.Tax != c.tax || p.Invoice.Total != c.total || (p.Invoice.TaxNote != "") != c.note {
				t.Errorf("tax id %q: %+v", c.taxID, p.Invoice)
			}
			sum := int64(0)
			for _, l := range p.Invoice.Lines {
				sum += l.Amount
			}
			if sum != p.Invoice.Total {
				t.Errorf("lines sum to %d, total %d", sum, p.Invoice.Total)
			}
		}
	})
}
