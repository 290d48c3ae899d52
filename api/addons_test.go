package api_test

import (
	"maps"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/saas/receiver"
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

// An add-on bought by card is charged in atomic phases, as a seat addition:
// the intent is recorded (a pending attempt) before the provider answers,
// with nothing applied yet; the outcome then applies it. A retry with the
// same Idempotency-Key replays the answer without a second charge.
func TestAddOnChargeRunsInPhasesAndReplaysByIdempotencyKey(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		e.pay.Latency = 3 * time.Second
		body := map[string]any{"add_on": "duo-pro", "quantity": 5}
		type answer struct {
			code int
			ch   addOnChange
		}
		done := make(chan answer, 1)
		go func() {
			var a answer
			a.code = e.do("POST", "/api/v1/subscriptions/"+sub+"/add_ons", body, &a.ch, "Idempotency-Key", "addon-1")
			done <- a
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			counts, err := e.db.PaymentAttemptCounts(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if counts["pending"] == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no pending attempt: %v", counts)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var mid addOnChange
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &mid.Subscription)
		if len(mid.Subscription.AddOns) != 0 {
			t.Fatalf("add-ons applied before the charge's outcome: %+v", mid.Subscription.AddOns)
		}
		first := <-done
		if first.code != 200 || first.ch.Invoice.Total != 5*22800 || first.ch.Invoice.Status != "paid" {
			t.Fatalf("add-on purchase: %d %+v", first.code, first.ch.Invoice)
		}
		e.pay.Latency = 0
		var again addOnChange
		if code := e.do("POST", "/api/v1/subscriptions/"+sub+"/add_ons", body, &again, "Idempotency-Key", "addon-1"); code != 200 ||
			again.Invoice.ID != first.ch.Invoice.ID {
			t.Fatalf("replay: %d invoice %s, want 200 %s", code, again.Invoice.ID, first.ch.Invoice.ID)
		}
		if n := e.pay.Charges(); n != 2 {
			t.Fatalf("%d charges, want 2 (purchase and add-on)", n)
		}
	})
}

// Upgrade and true-up keep the add-ons: after an upgrade the license still
// carries them, and the renewal bills the true-up, the plan and the add-on.
// A plan's new version changes its entitlements for new terms only.
func TestAddOnsSurviveUpgradeTrueUpAndPlanVersions(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		e.must(201, "POST", "/api/v1/plans", map[string]any{"code": "sm-team", "name": "Team", "kind": "self_managed",
			"prices": map[string]int{"USD": 10000}, "entitlements": map[string]any{"sso": true}}, nil)
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-team", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/add_ons", map[string]any{"add_on": "duo-pro", "quantity": 10}, nil)
		// Version 2 drops sso and grants max_projects: the running term keeps version 1's.
		e.must(201, "POST", "/api/v1/plans", map[string]any{"code": "sm-team", "name": "Team", "kind": "self_managed",
			"prices": map[string]int{"USD": 10000}, "entitlements": map[string]any{"max_projects": 50}}, nil)
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/seats", map[string]any{"seats": 11}, nil)
		lic := e.license(sub)
		if _, ok := lic.Limit("max_projects"); ok || !lic.Entitled("sso") || lic.AddOns["duo-pro"] != 10 {
			t.Fatalf("mid-term license: features %v limits %v add_ons %v; want version 1's sso and duo-pro 10", lic.Features, lic.Limits, lic.AddOns)
		}
		e.must(201, "POST", "/api/v1/seat_reports", map[string]any{"subscription_id": sub, "date": "2026-01-01", "max_users": 13, "billable_users": 11}, nil)
		e.advance("2027-01-01")
		var invs struct{ Data []invoice }
		e.must(200, "GET", "/api/v1/invoices?subscription_id="+sub+"&limit=1", nil, &invs)
		inv := invs.Data[0]
		if tu, add := linesOf(inv, "trueup"), linesOf(inv, "addon"); len(tu) != 1 || tu[0].Quantity != 2 || len(add) != 1 || add[0].Quantity != 10 ||
			add[0].Amount != 10*22800 {
			t.Fatalf("renewal lines = %+v", inv.Lines)
		}
		lic = e.license(sub)
		if n, ok := lic.Limit("max_projects"); !ok || n != 50 || lic.Entitled("sso") || lic.AddOns["duo-pro"] != 10 || lic.TrueUpQuantity != 2 {
			t.Fatalf("renewed license: features %v limits %v add_ons %v trueup %d", lic.Features, lic.Limits, lic.AddOns, lic.TrueUpQuantity)
		}

		// An upgrade keeps the add-ons in the license.
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/plan", map[string]any{"plan": "sm-ultimate"}, nil)
		if lic = e.license(sub); lic.Plan != "sm-ultimate" || lic.AddOns["duo-pro"] != 10 {
			t.Fatalf("upgraded license plan %s add_ons %v", lic.Plan, lic.AddOns)
		}
	})
}

// SaaS provisioning sends the add-ons: buying 5 duo-pro seats for a SaaS
// subscription provisions the namespace again with add_ons {"duo-pro": 5}.
func TestAddOnProvisionedToSaaSNamespace(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		rcv := receiver.New("")
		product := httptest.NewServer(rcv)
		t.Cleanup(product.Close)
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) { c.ProvisioningURL = product.URL })
		rcv.SetJWKSURL(e.srv.URL + "/.well-known/jwks.json")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": 20,
			"payment_method": "pm_card_visa", "namespace": "acme-ai"}, &p)
		waitFor(t, "provisioned", 20*time.Second, func() bool { return rcv.Namespaces()["acme-ai"].Seats == 20 })
		if got := rcv.Namespaces()["acme-ai"].AddOns; len(got) != 0 {
			t.Fatalf("add_ons before any purchase = %v", got)
		}
		e.must(200, "POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/add_ons", map[string]any{"add_on": "duo-pro", "quantity": 5}, nil)
		waitFor(t, "add-on provisioned", 20*time.Second, func() bool {
			return maps.Equal(rcv.Namespaces()["acme-ai"].AddOns, map[string]int{"duo-pro": 5})
		})
	})
}
