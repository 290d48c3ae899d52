package api_test

import (
	"maps"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

type addOnPreview struct {
	AmountDue int64  `json:"amount_due"`
	Lines     []line `json:"lines"`
}

type addOnChange struct {
	Subscription struct {
		ID     string `json:"id"`
		Seats  int64  `json:"seats"`
		AddOns []struct {
			Code       string `json:"add_on"`
			Quantity   int64  `json:"quantity"`
			UnitAmount int64  `json:"unit_amount"`
		} `json:"add_ons"`
	} `json:"subscription"`
	Invoice invoice `json:"invoice"`
}

// Issue 13, acceptance 1 and 2: 20 seats of duo-pro added on 2026-05-20 to
// a 50-seat sm-premium subscription started 2026-01-01 cost
// 20 × 22800 × 226/365 = 282345 in the preview and in the paid invoice; the
// new license carries add_ons {"duo-pro": 20}; 60 seats (over the 50 seats)
// and a reduction are 422; the renewal on 2027-01-01 bills the plan line
// and a duo-pro line of 20 × 22800.
func TestAddOnDuoProPreviewApplyLicenseAndRenewal(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium",
			"seats": 50, "payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID

		e.advance("2026-05-20")
		var pv addOnPreview
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/add_ons/preview", map[string]any{"add_on": "duo-pro", "quantity": 20}, &pv)
		if pv.AmountDue != 282345 {
			t.Fatalf("preview amount_due = %d, want 282345 (20 × 22800 × 226/365)", pv.AmountDue)
		}
		if l := linesOf(invoice{Lines: pv.Lines}, "addon"); len(l) != 1 || l[0].Quantity != 20 || l[0].UnitAmount != 22800 ||
			l[0].Amount != 282345 || !l[0].Proration || l[0].PeriodStart != "2026-05-20" || l[0].PeriodEnd != "2027-01-01" {
			t.Fatalf("preview add-on line = %+v", pv.Lines)
		}
		if got := e.license(sub).AddOns; len(got) != 0 {
			t.Fatalf("the preview changed the license's add-ons to %v", got)
		}

		var ch addOnChange
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/add_ons", map[string]any{"add_on": "duo-pro", "quantity": 20}, &ch)
		if ch.Invoice.Total != 282345 || ch.Invoice.Status != "paid" {
			t.Fatalf("add-on invoice = %+v, want paid 282345", ch.Invoice)
		}
		if len(ch.Subscription.AddOns) != 1 || ch.Subscription.AddOns[0].Code != "duo-pro" || ch.Subscription.AddOns[0].Quantity != 20 {
			t.Fatalf("subscription add-ons = %+v", ch.Subscription.AddOns)
		}
		var invs struct{ Data []invoice }
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub, nil, &invs)
		if len(invs.Data) != 2 {
			t.Fatalf("%d invoices, want 2 (purchase and add-on)", len(invs.Data))
		}
		if lic := e.license(sub); !maps.Equal(lic.AddOns, map[string]int{"duo-pro": 20}) || lic.Seats != 50 {
			t.Fatalf("license add_ons %v seats %d, want {duo-pro: 20} and 50", lic.AddOns, lic.Seats)
		}

		for _, tc := range []struct {
			name     string
			quantity int
			field    string
		}{{"over the seats", 60, "quantity"}, {"a reduction", 10, "quantity"}, {"unchanged", 20, "quantity"}} {
			for _, path := range []string{"/add_ons/preview", "/add_ons"} {
				var ae apiError
				if code := e.do("POST", "/api/v1/subscriptions/"+sub+path, map[string]any{"add_on": "duo-pro", "quantity": tc.quantity}, &ae); code != 422 ||
					ae.Error.Field != tc.field {
					t.Errorf("%s (%s): %d %+v, want 422 on %s", tc.name, path, code, ae, tc.field)
				}
			}
		}
		var ae apiError
		if code := e.do("POST", "/api/v1/subscriptions/"+sub+"/add_ons", map[string]any{"add_on": "no-such", "quantity": 1}, &ae); code != 422 ||
			ae.Error.Code != "unknown_add_on" || ae.Error.Field != "add_on" {
			t.Errorf("unknown add-on: %d %+v", code, ae)
		}
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub, nil, &invs)
		if len(invs.Data) != 2 {
			t.Fatalf("refused changes left %d invoices, want 2", len(invs.Data))
		}

		e.advance("2027-01-01")
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub+"&limit=1", nil, &invs)
		inv := invs.Data[0]
		ren, add := linesOf(inv, "renewal"), linesOf(inv, "addon")
		if len(ren) != 1 || ren[0].Quantity != 50 || ren[0].Amount != 50*34800 {
			t.Fatalf("renewal line = %+v", ren)
		}
		if len(add) != 1 || add[0].Quantity != 20 || add[0].UnitAmount != 22800 || add[0].Amount != 20*22800 || add[0].Proration ||
			add[0].PeriodStart != "2027-01-01" || add[0].PeriodEnd != "2028-01-01" {
			t.Fatalf("renewal duo-pro line = %+v", add)
		}
		if inv.Total != 50*34800+20*22800 || inv.Status != "paid" {
			t.Fatalf("renewal invoice = %+v", inv)
		}
		lic := e.license(sub)
		if !maps.Equal(lic.AddOns, map[string]int{"duo-pro": 20}) || lic.StartsAt.String() != "2027-01-01" {
			t.Fatalf("renewed license add_ons %v from %s", lic.AddOns, lic.StartsAt)
		}
	})
}

// Issue 13, acceptance 3: a plan granting {"sso": true, "max_projects": 100}
// and an add-on granting max_projects 500 give a license whose
// Limit("max_projects") is 500 and Entitled("sso") true; before the add-on,
// the plan's 100.
func TestAddOnEntitlementsResolveIntoTheLicense(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		var plan struct {
			Entitlements map[string]any `json:"entitlements"`
		}
		e.must(201, "POST", "/api/v1/plans", map[string]any{"code": "sm-team", "name": "Team", "kind": "self_managed",
			"prices": map[string]int{"USD": 10000}, "entitlements": map[string]any{"sso": true, "max_projects": 100}}, &plan)
		if plan.Entitlements["sso"] != true || plan.Entitlements["max_projects"] != float64(100) {
			t.Fatalf("plan entitlements = %v", plan.Entitlements)
		}
		e.must(201, "POST", "/api/v1/add_ons", map[string]any{"code": "projects-500", "name": "500 projects", "pricing": "per_unit",
			"prices": map[string]int{"USD": 5000}, "entitlements": map[string]any{"max_projects": 500}}, nil)
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-team",
			"seats": 10, "payment_method": "pm_card_visa"}, &p)
		lic := e.license(p.Subscription.ID)
		if n, ok := lic.Limit("max_projects"); !ok || n != 100 || !lic.Entitled("sso") {
			t.Fatalf("plan only: Limit(max_projects) = %d, %v; Entitled(sso) = %v", n, ok, lic.Entitled("sso"))
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/add_ons", map[string]any{"add_on": "projects-500", "quantity": 1}, nil)
		lic = e.license(p.Subscription.ID)
		if n, ok := lic.Limit("max_projects"); !ok || n != 500 {
			t.Fatalf("Limit(max_projects) = %d, %v; want 500", n, ok)
		}
		if !lic.Entitled("sso") || lic.Entitled("audit_events") {
			t.Fatalf("Entitled(sso) = %v, Entitled(audit_events) = %v", lic.Entitled("sso"), lic.Entitled("audit_events"))
		}

		// A value of the wrong type is 400 invalid_type, as for any field;
		// a bad name or limit 422.
		for _, bad := range []struct {
			entitlements any
			status       int
		}{{map[string]any{"sso": "yes"}, 400}, {map[string]any{"max_projects": 1.5}, 400}, {[]any{"sso"}, 400},
			{map[string]any{"Bad Name": true}, 422}, {map[string]any{"max_projects": -1}, 422}} {
			var ae apiError
			if code := e.do("POST", "/api/v1/plans", map[string]any{"code": "sm-bad", "name": "Bad", "kind": "self_managed",
				"prices": map[string]int{"USD": 1}, "entitlements": bad.entitlements}, &ae); code != bad.status || ae.Error.Field != "entitlements" {
				t.Errorf("entitlements %v: %d %+v, want %d on entitlements", bad.entitlements, code, ae, bad.status)
			}
		}
		var plans struct{ Data []struct{ Code string } }
		e.must(200, "GET", "/api/v1/plans", nil, &plans)
		for _, p := range plans.Data {
			if p.Code == "sm-bad" {
				t.Fatal("a refused plan was stored")
			}
		}
	})
}
