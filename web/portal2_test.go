package web_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// buyByInvoice purchases with a new billing account paid by invoice and
// returns the subscription.
func (c *client) buyByInvoice(plan, seats string) *fulfill.Subscription {
	c.e.t.Helper()
	r := c.post("/buy", "plan", plan, "seats", seats, "company", "Example GmbH", "country", "DE", "pay", "invoice",
		"account", "new", "eula", web.EULAVersion).must(c.e.t, 303)
	id := strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Location"), "/subscriptions/"), "?welcome=1")
	return c.e.sub(id)
}

func (e *env) sub(id string) *fulfill.Subscription {
	e.t.Helper()
	s, err := e.db.Subscription(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) invoices(customerID string) []*fulfill.Invoice {
	e.t.Helper()
	invs, err := e.db.Invoices(context.Background(), customerID, "", fulfill.Page{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return invs
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Read.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func contains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%.4000s", w, body)
		}
	}
}

func TestInvoicePDFAndPayOpenInvoice(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		inv := e.invoices(sub.CustomerID)[0]
		if inv.Status != fulfill.InvoiceOpen || inv.AmountDue != 385560 {
			t.Fatalf("invoice %s %d", inv.Status, inv.AmountDue)
		}
		r := a.get("/invoices/"+inv.ID).must(t, 200)
		contains(t, r.body, `href="/invoices/`+inv.ID+`/pdf"`, "Pay EUR 3,855.60", `value="pm_card_visa"`)

		r = a.get("/invoices/"+inv.ID+"/pdf").must(t, 200)
		if r.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(r.body, "%PDF-") ||
			r.header.Get("Content-Disposition") != `attachment; filename="`+inv.Number+`.pdf"` {
			t.Fatalf("pdf: %v %.10q", r.header, r.body)
		}

		b := e.signUp("b@example.com")
		b.get("/invoices/"+inv.ID+"/pdf").must(t, 404)
		b.post("/invoices/"+inv.ID+"/pay", "card", "pm_card_visa").must(t, 404)

		a.post("/invoices/"+inv.ID+"/pay", "card", "not-a-card").must(t, 422)
		a.post("/invoices/"+inv.ID+"/pay", "card", "pm_card_chargeDeclined").must(t, 402)
		a.post("/invoices/"+inv.ID+"/pay", "card", "pm_card_visa").must(t, 303)
		paid, _ := e.db.Invoice(context.Background(), inv.ID)
		if paid.Status != fulfill.InvoicePaid || paid.AmountDue != 0 || paid.AmountPaid != 385560 {
			t.Fatalf("after paying: %s paid %d due %d", paid.Status, paid.AmountPaid, paid.AmountDue)
		}
		r = a.get("/invoices/"+inv.ID).must(t, 200)
		contains(t, r.body, "is paid.")
		if strings.Contains(r.body, `action="/invoices/`+inv.ID+`/pay"`) {
			t.Fatal("a paid invoice still offers to pay")
		}
		a.post("/invoices/"+inv.ID+"/pay", "card", "pm_card_visa").must(t, 409)
	})
}

func TestBillingAccountEdit(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		acct := "/account/" + sub.CustomerID
		r := a.get(acct).must(t, 200)
		contains(t, r.body, `value="Example GmbH"`, `id="contact_email"`, "Payment methods", "Managers")
		form := url.Values{"company": {"Example AG"}, "name": {"Ann Buyer"}, "address": {"Hauptstr. 1"}, "postal_code": {"10115"},
			"city": {"Berlin"}, "country": {"DE"}, "tax_id": {"DE136695976"}, "contact_name": {"Ops Team"},
			"contact_email": {"ops@example.com"}, "billing_name": {"Accounts"}, "billing_email": {"ap@example.com"}}
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("billing_email", "not an email")
		r = a.do("POST", acct, bad).must(t, 422)
		contains(t, r.body, `id="billing_email" name="billing_email" type="email" value="not an email"`, `aria-invalid="true"`)
		a.do("POST", acct, form).must(t, 303)
		c, err := e.db.Customer(context.Background(), sub.CustomerID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Company != "Example AG" || c.TaxID != "DE136695976" || c.ContactEmail != "ops@example.com" || c.BillingEmail != "ap@example.com" ||
			c.City != "Berlin" || c.Currency != "EUR" {
			t.Fatalf("customer %+v", c)
		}
		if n := e.count(`SELECT COUNT(*) FROM events WHERE type = 'customer.updated' AND subject_id = $1`, c.ID); n != 1 {
			t.Fatalf("%d customer.updated events", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'customer.update' AND subject_id = $1`, c.ID); n != 1 {
			t.Fatalf("%d audit entries", n)
		}
		b := e.signUp("b@example.com")
		b.get(acct).must(t, 404)
		b.do("POST", acct, form).must(t, 404)
	})
}

func TestInviteManager(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		acct := "/account/" + sub.CustomerID
		a.post(acct+"/invitations", "email", "not-an-email").must(t, 422)
		a.post(acct+"/invitations", "email", "Colleague@Example.com").must(t, 303)
		// Invitations have their own id prefix; inv_ is for invoices.
		if n := e.count(`SELECT COUNT(*) FROM account_invitations WHERE customer_id = $1 AND substr(id, 1, 4) = 'ivt_'`, sub.CustomerID); n != 1 {
			t.Fatalf("%d invitations with an ivt_ id, want 1", n)
		}
		path, tok := e.lastLink("colleague@example.com")
		if path != "/invitations/accept" {
			t.Fatalf("link %s", path)
		}
		// Someone else, signed in, cannot use it.
		other := e.signUp("other@example.com")
		r := other.get("/invitations/accept?token="+tok).must(t, 200)
		contains(t, r.body, "This invitation is for colleague@example.com")
		other.post("/invitations/accept", "token", tok).must(t, 403)
		other.get(acct).must(t, 404)

		col := e.signUp("colleague@example.com")
		col.get(acct).must(t, 404)
		r = col.get("/invitations/accept?token="+tok).must(t, 200)
		contains(t, r.body, "Accept the invitation", "Example GmbH")
		col.post("/invitations/accept", "token", tok).must(t, 303)
		col.get(acct).must(t, 200)
		col.get("/subscriptions/"+sub.ID).must(t, 200)
		col.post("/invitations/accept", "token", tok).must(t, 422) // single use
		r = a.get(acct).must(t, 200)
		contains(t, r.body, "colleague@example.com · accepted")

		// At most 15 pending.
		for i := range 15 {
			a.post(acct+"/invitations", "email", fmt.Sprintf("p%d@example.com", i)).must(t, 303)
		}
		r = a.post(acct+"/invitations", "email", "p15@example.com").must(t, 422)
		contains(t, r.body, "already has 15 pending invitations")
		// Invitations expire after 7 days, which frees the slots.
		_, tok = e.lastLink("p3@example.com")
		e.clock.Set(e.clock.Now().Add(7*24*time.Hour + time.Second))
		late := e.signUp("p3@example.com")
		r = late.get("/invitations/accept?token="+tok).must(t, 200)
		contains(t, r.body, "expired or was already used")
		late.post("/invitations/accept", "token", tok).must(t, 422)
		a.post(acct+"/invitations", "email", "p15@example.com").must(t, 303)
	})
}

func TestPaymentMethods(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		acct := "/account/" + sub.CustomerID
		a.post(acct+"/payment_methods", "card", "pm_nonsense").must(t, 422)
		a.post(acct+"/payment_methods", "card", "pm_card_mastercard").must(t, 303)
		// The first card is the default, and renewals use it.
		if got := e.sub(sub.ID).PaymentMethod; got != "pm_card_mastercard" {
			t.Fatalf("payment method %q", got)
		}
		a.post(acct+"/payment_methods", "card", "pm_card_mastercard").must(t, 409)
		a.post(acct+"/payment_methods", "card", "pm_card_visa").must(t, 303)
		pms, err := e.db.PaymentMethods(context.Background(), sub.CustomerID)
		if err != nil || len(pms) != 2 || !pms[0].Default || pms[0].ProviderID != "pm_card_mastercard" || pms[1].Default {
			t.Fatalf("methods %+v %v", pms, err)
		}
		visa := pms[1].ID
		a.post(acct+"/payment_methods/"+pms[0].ID+"/delete").must(t, 409) // the default stays
		a.post(acct+"/payment_methods/"+visa+"/default").must(t, 303)
		if got := e.sub(sub.ID).PaymentMethod; got != "pm_card_visa" {
			t.Fatalf("payment method %q after the default changed", got)
		}
		a.post(acct+"/payment_methods/"+pms[0].ID+"/delete").must(t, 303)
		pms, _ = e.db.PaymentMethods(context.Background(), sub.CustomerID)
		if len(pms) != 1 || pms[0].ID != visa || !pms[0].Default {
			t.Fatalf("methods after removal %+v", pms)
		}
		// The saved card is offered first, chosen, when paying an invoice.
		inv := e.invoices(sub.CustomerID)[0]
		r := a.get("/invoices/"+inv.ID).must(t, 200)
		contains(t, r.body, `<option value="pm_card_visa" selected>Visa •••• 4242 (saved)</option>`)
		b := e.signUp("b@example.com")
		b.post(acct+"/payment_methods/"+visa+"/default").must(t, 404)
		b.post(acct+"/payment_methods", "card", "pm_card_visa").must(t, 404)
	})
}

var csatRE = func(body string) string {
	i := strings.Index(body, `id="csat"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	rest = rest[strings.Index(rest, ">")+1:]
	return rest[:strings.Index(rest, "<")]
}

func TestSupportRequestReplySolveRate(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		a.get("/support/new").must(t, 200)
		a.post("/support", "category", "nonsense", "subject", "x", "body", "y").must(t, 422)
		a.post("/support", "category", "license_error", "subscription", "sub_other", "subject", "x", "body", "y").must(t, 422)
		r := a.post("/support", "category", "license_error", "subscription", sub.ID, "subject", "License rejected",
			"body", "The instance says the license is invalid.").must(t, 303)
		reqURL := r.header.Get("Location")
		reqID := strings.TrimPrefix(reqURL, "/support/")
		r = a.get(reqURL).must(t, 200)
		contains(t, r.body, "License rejected", "The instance says the license is invalid.", "#1001", sub.ID)
		b := e.signUp("b@example.com")
		b.get(reqURL).must(t, 404)
		b.post(reqURL+"/rate", "satisfied", "yes").must(t, 404)
		a.post(reqURL+"/rate", "satisfied", "yes").must(t, 409) // not solved yet

		ro := e.staff("ro@vendor.example", web.RoleReadOnly)
		sup := e.staff("support@vendor.example", web.RoleSupport)
		r = sup.get("/admin/support").must(t, 200)
		contains(t, r.body, `href="/admin/support/`+reqID+`"`, "Example GmbH", "License error", "No ratings")
		r = sup.get("/admin/support?category=billing").must(t, 200)
		if strings.Contains(r.body, reqID) {
			t.Fatal("category filter shows a license error")
		}
		ro.post("/admin/support/"+reqID+"/reply", "body", "hi").must(t, 403)
		ro.post("/admin/support/"+reqID+"/solve").must(t, 403)
		sup.post("/admin/support/"+reqID+"/reply", "body", "Please upload the new license we just sent.").must(t, 303)
		r = a.get(reqURL).must(t, 200)
		contains(t, r.body, "Please upload the new license we just sent.", "Support team")
		sup.post("/admin/support/"+reqID+"/solve").must(t, 303)
		em, _ := e.db.Emails(context.Background(), "", fulfill.Page{Limit: 1})
		if em[0].To != "a@example.com" || !strings.Contains(em[0].Subject, "[#1001] License rejected") || !strings.Contains(em[0].Body, "rate the answer") {
			t.Fatalf("email %+v", em[0])
		}
		r = a.get(reqURL).must(t, 200)
		contains(t, r.body, `id="request-state">Solved<`, "How did we do?")
		a.post(reqURL+"/rate", "satisfied", "maybe").must(t, 422)
		a.post(reqURL+"/rate", "satisfied", "yes", "comment", "Quick and clear.").must(t, 303)
		a.post(reqURL+"/rate", "satisfied", "no").must(t, 409) // once
		if got := csatRE(sup.get("/admin/support").must(t, 200).body); got != "100%" {
			t.Fatalf("CSAT %q", got)
		}
		// A second request, rated unsatisfied: 1 of 2.
		r = a.post("/support", "category", "billing", "subject", "Wrong VAT", "body", "Our VAT id is missing.").must(t, 303)
		second := strings.TrimPrefix(r.header.Get("Location"), "/support/")
		sup.post("/admin/support/"+second+"/reply", "body", "Fixed.", "solve", "on").must(t, 303)
		a.post("/support/"+second+"/rate", "satisfied", "no", "comment", "Took a week.").must(t, 303)
		r = sup.get("/admin/support").must(t, 200)
		if got := csatRE(r.body); got != "50%" {
			t.Fatalf("CSAT %q", got)
		}
		contains(t, r.body, "1 of 2 satisfied", `class="goal"`, "Goal 95.0%")
		r = sup.get("/admin/customers/"+sub.CustomerID).must(t, 200)
		contains(t, r.body, "Wrong VAT", "Not satisfied")
	})
}

func TestImpersonation(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		e.signUp("b@example.com").buyByInvoice("sm-premium", "3")

		sup := e.staff("support@vendor.example", web.RoleSupport)
		sup.get("/subscriptions").must(t, 303) // not impersonating: back to the console
		r := sup.post("/admin/customers/"+sub.CustomerID+"/impersonate").must(t, 303)
		if r.header.Get("Location") != "/subscriptions" {
			t.Fatalf("Location %s", r.header.Get("Location"))
		}
		r = sup.get("/subscriptions").must(t, 200)
		contains(t, r.body, "Viewing as Example GmbH", "read-only", sub.ID)
		sup.get("/subscriptions/"+sub.ID).must(t, 200)
		sup.get("/account/"+sub.CustomerID).must(t, 200)
		// Read-only: changes are refused and audited.
		sup.post("/subscriptions/"+sub.ID+"/license/resend").must(t, 403)
		sup.post("/account/"+sub.CustomerID+"/invitations", "email", "x@example.com").must(t, 403)
		// The console still works, without the banner.
		r = sup.get("/admin").must(t, 200)
		if strings.Contains(r.body, "Viewing as") {
			t.Fatal("banner in the console")
		}
		r = sup.post("/impersonation/stop").must(t, 303)
		if r.header.Get("Location") != "/admin/customers/"+sub.CustomerID {
			t.Fatalf("stop: %s", r.header.Get("Location"))
		}
		sup.get("/subscriptions").must(t, 303)

		admin := e.staff("admin@vendor.example", web.RoleAdmin)
		admin.post("/admin/customers/"+sub.CustomerID+"/impersonate").must(t, 303)
		r = admin.get("/subscriptions").must(t, 200)
		contains(t, r.body, "changes are made in their name and audited")
		admin.post("/subscriptions/"+sub.ID+"/license/resend").must(t, 303)
		admin.post("/buy", "plan", "sm-premium", "seats", "1", "company", "X", "country", "DE", "pay", "invoice",
			"account", "new", "eula", web.EULAVersion).must(t, 403)

		for _, tt := range []struct {
			action string
			n      int
		}{{"customer.impersonate", 2}, {"customer.impersonate_end", 1}, {"permission.denied", 2}} {
			if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = $1`, tt.action); n != tt.n {
				t.Errorf("%d %s entries, want %d", n, tt.action, tt.n)
			}
		}
		if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'license.resend' AND actor = $1`,
			"staff:admin@vendor.example as "+sub.CustomerID); n != 1 {
			t.Errorf("%d resends audited as the impersonating admin", n)
		}
	})
}

func TestWirePaymentVoidAndPrices(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		a.get("/subscriptions/"+sub.ID+"/seats?seats=15").must(t, 200)
		a.post("/subscriptions/"+sub.ID+"/seats", "seats", "15").must(t, 303)
		invs := e.invoices(sub.CustomerID) // newest first: seats, purchase
		seatsInv, first := invs[0], invs[1]

		sup := e.staff("support@vendor.example", web.RoleSupport)
		sup.post("/admin/invoices/"+first.ID+"/wire", "amount", "1000.00", "reference", "BANK-1").must(t, 403)
		admin := e.staff("admin@vendor.example", web.RoleAdmin)
		r := admin.get("/admin/customers/"+sub.CustomerID).must(t, 200)
		contains(t, r.body, `action="/admin/invoices/`+first.ID+`/wire"`, `action="/admin/invoices/`+first.ID+`/void"`, "View as customer")
		admin.post("/admin/invoices/"+first.ID+"/wire", "amount", "12x", "reference", "BANK-1").must(t, 422)
		admin.post("/admin/invoices/"+first.ID+"/wire", "amount", "1,000.00", "reference", "").must(t, 422)
		admin.post("/admin/invoices/"+first.ID+"/wire", "amount", "1,000.00", "reference", "BANK-1").must(t, 303)
		got, _ := e.db.Invoice(context.Background(), first.ID)
		if got.AmountPaid != 100000 || got.AmountDue != 285560 || got.Status != fulfill.InvoiceOpen {
			t.Fatalf("after a partial wire: paid %d due %d %s", got.AmountPaid, got.AmountDue, got.Status)
		}
		admin.post("/admin/invoices/"+first.ID+"/void", "reason", "x").must(t, 409) // something was paid
		admin.post("/admin/invoices/"+seatsInv.ID+"/void", "reason", "").must(t, 422)
		admin.post("/admin/invoices/"+seatsInv.ID+"/void", "reason", "Ordered by mistake").must(t, 303)
		if v, _ := e.db.Invoice(context.Background(), seatsInv.ID); v.Status != fulfill.InvoiceVoid {
			t.Fatalf("status %s", v.Status)
		}
		// Receivables on the dashboard: the purchase's rest.
		r = admin.get("/admin").must(t, 200)
		contains(t, r.body, `id="receivables-EUR">EUR 2,855.60<`, "ARR in EUR", "New, renewed and churned revenue", `class="bar new"`)

		// Prices: a new version; the running subscription keeps its price.
		r = admin.get("/admin/catalog").must(t, 200)
		contains(t, r.body, `name="price_EUR" inputmode="decimal" value="324.00"`, "Publish version 2")
		sup.post("/admin/catalog", "code", "sm-premium", "price_USD", "400", "price_EUR", "360").must(t, 403)
		admin.post("/admin/catalog", "code", "sm-premium", "price_USD", "abc").must(t, 422)
		admin.post("/admin/catalog", "code", "sm-premium", "price_USD", "400.00", "price_EUR", "360.00").must(t, 303)
		plans, _ := e.db.Plans(context.Background())
		for _, p := range plans {
			if p.Code == "sm-premium" && (p.Version != 2 || p.Prices["EUR"] != 36000 || p.Prices["USD"] != 40000) {
				t.Fatalf("plan %+v", p)
			}
		}
		if s := e.sub(sub.ID); s.UnitAmount != 32400 {
			t.Fatalf("running subscription repriced: %d", s.UnitAmount)
		}
		for _, action := range []string{"payment.wire", "invoice.void", "plan.price_change"} {
			if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = $1`, action); n != 1 {
				t.Errorf("%d %s entries", n, action)
			}
		}
	})
}

func TestDashboardOverageAndMovement(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	a := e.signUp("a@example.com")
	sub := a.buy("sm-premium", "10")
	s := e.sub(sub)
	e.clock.Set(fulfill.NewDate(2026, 3, 5).Time())
	for i, n := range []int64{9, 14, 12} {
		d := fulfill.NewDate(2026, 3, 2+i)
		in := commerceReport(sub, n, n)
		in.Date = &d
		if _, err := e.svc.RecordSeatReport(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.staff("admin@vendor.example", web.RoleAdmin)
	r := admin.get("/admin").must(t, 200)
	// 14 max users on 10 seats: 4 over, at EUR 324 each.
	contains(t, r.body, `id="overage">4 users over license · EUR 1,296.00`, s.CustomerID,
		"Last 12 months: EUR 3,240.00 new, EUR 0.00 renewed, EUR 0.00 churned.")
}

func TestJobsView(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		e.signUp("a@example.com") // enqueues the confirmation email
		var id int64
		if err := e.db.Read.QueryRowContext(context.Background(), `SELECT MIN(id) FROM river_job`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ro := e.staff("ro@vendor.example", web.RoleReadOnly)
		r := ro.get("/admin/jobs").must(t, 200)
		contains(t, r.body, "Pending (", "email.send")
		// Make it fail for good, as River would after its last attempt.
		errs := `'[{"at":"2026-03-01T00:00:00Z","attempt":1,"error":"smtp: connection refused"}]'`
		q := `UPDATE river_job SET state = 'discarded', attempt = 1, max_attempts = 1, finalized_at = $1, errors = jsonb(` + errs + `) WHERE id = $2`
		if e.db.Dialect == "postgres" {
			q = `UPDATE river_job SET state = 'discarded', attempt = 1, max_attempts = 1, finalized_at = $1, errors = ARRAY[(` + errs + `::jsonb->0)] WHERE id = $2`
		}
		if _, err := e.db.Write.ExecContext(context.Background(), q, e.clock.Now(), id); err != nil {
			t.Fatal(err)
		}
		r = ro.get("/admin/jobs").must(t, 200)
		contains(t, r.body, "Failed (1)", "smtp: connection refused")
		if strings.Contains(r.body, "/retry") {
			t.Fatal("read_only is offered a retry")
		}
		ro.post(fmt.Sprintf("/admin/jobs/%d/retry", id)).must(t, 403)
		sup := e.staff("support@vendor.example", web.RoleSupport)
		sup.post(fmt.Sprintf("/admin/jobs/%d/retry", id)).must(t, 303)
		var state string
		var maxAttempts int
		e.db.Read.QueryRowContext(context.Background(), `SELECT state, max_attempts FROM river_job WHERE id = $1`, id).Scan(&state, &maxAttempts)
		if state != "available" || maxAttempts != 2 {
			t.Fatalf("after retry: %s, max attempts %d", state, maxAttempts)
		}
		sup.post(fmt.Sprintf("/admin/jobs/%d/retry", id)).must(t, 404) // not failed any more
	})
}
