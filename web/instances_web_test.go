package web_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// mainOf is a page's <main>, where the figures are.
func mainOf(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, "</main>"); i >= 0 {
		body = body[:i]
	}
	return body
}

// Acceptance 6: an admin issues a not-for-resale license from the console
// with seats, an end date, entitlements and a reason. It verifies offline
// with the chosen terms, is in the audit log, has no invoice, can be
// neither renewed nor changed, and leaves the dashboard (MRR, ARR, active
// subscriptions, customers, seats, renewals due) exactly as it was.
func TestConsoleCustomNFRLicenseVerifiesIsAuditedAndChangesNoKPI(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		ctx := context.Background()
		buyer := e.signUp("buyer@example.com")
		paid := buyer.buy("sm-premium", "5")
		if _, err := e.db.Subscription(ctx, paid); err != nil {
			t.Fatal(err)
		}
		// A second customer with no subscription, to receive the NFR license.
		partner, err := e.svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "lab@partner.example", Name: "Pat Partner",
			Company: "Partner Lab", Country: "US"})
		if err != nil {
			t.Fatal(err)
		}
		admin := e.staff("admin@vendor.example", "admin")
		before := mainOf(admin.get("/admin").must(t, 200).body)
		if !strings.Contains(before, `Active subscriptions</dt><dd id="active-count">1</dd>`) {
			t.Fatalf("the dashboard does not show the one paid subscription:\n%.2000s", before)
		}

		support := e.staff("support@vendor.example", "support")
		support.post("/admin/customers/"+partner.ID+"/custom_license", "kind", "nfr", "plan", "sm-premium", "seats", "25",
			"ends_on", "2026-09-01", "entitlements", "sso", "reason", "x").must(t, 403)

		admin.post("/admin/customers/"+partner.ID+"/custom_license", "kind", "nfr", "plan", "sm-premium", "seats", "25",
			"ends_on", "2026-09-01", "entitlements", "sso\nmax_projects=100", "reason", "Partner demo lab").must(t, 303)
		page := admin.get("/admin/customers/"+partner.ID).must(t, 200).body
		if !regexp.MustCompile(`Activation code: [A-Z0-9]{24}`).MatchString(page) || !strings.Contains(page, "Partner demo lab") ||
			!strings.Contains(page, "NFR") || !strings.Contains(page, "license.custom_issue") {
			t.Fatalf("the customer page does not show the custom license, its code and its audit entry:\n%.4000s", mainOf(page))
		}

		customs, err := e.db.CustomLicenses(ctx)
		if err != nil || len(customs) != 1 {
			t.Fatalf("custom licenses %+v, %v", customs, err)
		}
		c := customs[0]
		if c.Kind != fulfill.CustomNFR || c.Reason != "Partner demo lab" || !strings.Contains(c.IssuedBy, "admin@vendor.example") {
			t.Fatalf("custom license record %+v", c)
		}
		csub, err := e.db.Subscription(ctx, c.SubscriptionID)
		if err != nil || csub.LicenseID == nil {
			t.Fatalf("custom subscription %+v, %v", csub, err)
		}
		l, err := e.db.License(ctx, *csub.LicenseID)
		if err != nil {
			t.Fatal(err)
		}
		ring, err := e.svc.Keys.Keyring()
		if err != nil {
			t.Fatal(err)
		}
		p, err := ring.Verify([]byte(l.File), e.clock.Now())
		if err != nil {
			t.Fatalf("the custom license does not verify offline: %v", err)
		}
		if p.Seats != 25 || p.ExpiresAt.String() != "2026-09-01" || p.Trial || p.AutoRenew || p.Licensee.Company != "Partner Lab" ||
			!p.Entitled("sso") || len(p.Features) != 1 || len(p.Limits) != 1 || p.Limits["max_projects"] != 100 {
			t.Fatalf("license payload %+v", p)
		}

		audit := admin.get("/admin/audit").must(t, 200).body
		if !strings.Contains(audit, "license.custom_issue") {
			t.Fatalf("the audit log has no license.custom_issue:\n%.3000s", mainOf(audit))
		}
		var invoices int
		if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM invoices WHERE subscription_id = $1`, csub.ID).Scan(&invoices); err != nil || invoices != 0 {
			t.Fatalf("%d invoices for the custom license (%v), want none", invoices, err)
		}
		if _, err := e.svc.Renew(ctx, "test", csub.ID, commerce.RenewInput{}); fulfill.ErrorCode(err) != fulfill.EConflict {
			t.Fatalf("renewing the custom license: %v, want a conflict", err)
		}
		if _, _, err := e.svc.ChangeSeats(ctx, "test", csub.ID, 30, true); fulfill.ErrorCode(err) != fulfill.EConflict {
			t.Fatalf("adding seats to the custom license: %v, want a conflict", err)
		}
		if _, err := e.svc.Resume(ctx, "test", csub.ID); fulfill.ErrorCode(err) != fulfill.EConflict {
			t.Fatalf("turning auto-renew on for the custom license: %v, want a conflict", err)
		}
		if after := mainOf(admin.get("/admin").must(t, 200).body); after != before {
			t.Fatalf("the custom license changed the dashboard:\nbefore:\n%.3000s\nafter:\n%.3000s", before, after)
		}
	})
}

// The portal's subscription page lists the instances with their last
// counts and the add-on seats assigned vs purchased, and the customer
// deactivates an instance there (another customer can not: 404); the
// console shows the same, and the dashboard's overage view counts the
// add-on seats assigned beyond those purchased.
func TestPortalAndConsoleShowInstancesAndAddOnSeats(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		ctx := context.Background()
		buyer := e.signUp("buyer@example.com")
		subID := buyer.buy("sm-premium", "5")
		code, err := e.svc.RegenerateActivationCode(ctx, "test", "", subID)
		if err != nil {
			t.Fatal(err)
		}
		act, err := e.svc.Activate(ctx, commerce.ActivationInput{ActivationCode: code, InstanceID: "inst-prod", Hostname: "git.example.com", Version: "18.2"})
		if err != nil {
			t.Fatal(err)
		}
		maxUsers, billable := int64(4), int64(3)
		if _, err := e.svc.SeatLink(ctx, commerce.SeatLinkInput{LicenseKey: act.LicenseKey, Timestamp: e.clock.Now(), MaxHistorical: &maxUsers,
			Billable: &billable, InstanceID: "inst-prod", Hostname: "git.example.com", Version: "18.2",
			AddOnMetrics: []commerce.AddOnMetric{{AddOnType: "duo_pro", PurchasedSeats: 10, AssignedSeats: 12}}}); err != nil {
			t.Fatal(err)
		}

		page := mainOf(buyer.get("/subscriptions/"+subID).must(t, 200).body)
		for _, want := range []string{"inst-prod", "git.example.com", "18.2", "4 / 3", "duo_pro", `<td class="num">12</td><td class="num">10</td>`,
			"/subscriptions/" + subID + "/instances/inst-prod/deactivate"} {
			if !strings.Contains(page, want) {
				t.Fatalf("portal subscription page lacks %q:\n%.5000s", want, page)
			}
		}
		admin := e.staff("admin@vendor.example", "admin")
		dash := mainOf(admin.get("/admin").must(t, 200).body)
		if !strings.Contains(dash, "2 add-on seats assigned beyond those purchased") || !strings.Contains(dash, "<td>duo_pro</td>") {
			t.Fatalf("the overage view lacks the add-on seats:\n%.6000s", dash)
		}

		other := e.signUp("other@example.com")
		other.buy("sm-premium", "1")
		other.post("/subscriptions/"+subID+"/instances/inst-prod/deactivate").must(t, 404)
		buyer.post("/subscriptions/"+subID+"/instances/inst-prod/deactivate").must(t, 303)
		page = mainOf(buyer.get("/subscriptions/"+subID).must(t, 200).body)
		if !strings.Contains(page, "Deactivated") || strings.Contains(page, "/instances/inst-prod/deactivate") {
			t.Fatalf("after deactivating, the portal page shows:\n%.5000s", page)
		}
		cust, err := e.db.Subscription(ctx, subID)
		if err != nil {
			t.Fatal(err)
		}
		console := mainOf(admin.get("/admin/customers/"+cust.CustomerID).must(t, 200).body)
		if !strings.Contains(console, "inst-prod") || !strings.Contains(console, "Deactivated") || !strings.Contains(console, "duo_pro") ||
			!strings.Contains(console, "instance.deactivate") {
			t.Fatalf("the console's customer page lacks the instance, its add-on seats or the audit entry:\n%.6000s", console)
		}
	})
}
