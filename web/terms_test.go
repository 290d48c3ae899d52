package web_test

import (
	"context"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// A customer sets the PO number and extra billing recipients from the
// portal's account page; an admin sets the payment terms and "PO
// required" from the console; support staff may not; bad input changes
// nothing; the next invoice carries the PO number and the terms.
func TestPaymentTermsFromPortalAndConsole(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "1")
		cus := sub.CustomerID
		r := a.get("/account/"+cus).must(t, 200)
		contains(t, r.body, `action="/account/`+cus+`/billing_terms"`, "due 30 days after issue")
		a.post("/account/"+cus+"/billing_terms", "po_number", "PO-77", "billing_cc", "ap@example.com, cfo@example.com").must(t, 303)
		a.post("/account/"+cus+"/billing_terms", "po_number", "PO-78", "billing_cc", "not-an-address").must(t, 422)
		c, err := e.db.Customer(context.Background(), cus)
		if err != nil {
			t.Fatal(err)
		}
		if c.PONumber != "PO-77" || c.BillingCC != "ap@example.com,cfo@example.com" {
			t.Fatalf("after the portal: PO %q cc %q", c.PONumber, c.BillingCC)
		}
		other := e.signUp("b@example.com")
		other.post("/account/"+cus+"/billing_terms", "po_number", "X").must(t, 404)

		sup := e.staff("support@vendor.example", web.RoleSupport)
		sup.post("/admin/customers/"+cus+"/payment_terms", "payment_terms_days", "10").must(t, 403)
		admin := e.staff("admin@vendor.example", web.RoleAdmin)
		contains(t, admin.get("/admin/customers/"+cus).must(t, 200).body, "Net 30", "PO PO-77", "Also billed to ap@example.com,cfo@example.com")
		admin.post("/admin/customers/"+cus+"/payment_terms", "payment_terms_days", "ten").must(t, 422)
		admin.post("/admin/customers/"+cus+"/payment_terms", "payment_terms_days", "400").must(t, 422)
		admin.post("/admin/customers/"+cus+"/payment_terms", "payment_terms_days", "14", "po_number", "", "po_required", "on",
			"billing_cc", "ap@example.com").must(t, 303)
		contains(t, admin.get("/admin/customers/"+cus).must(t, 200).body, "Net 14 · PO required")
		// PO required and none given: the portal refuses to buy by invoice.
		contains(t, a.post("/subscriptions/"+sub.ID+"/renew").must(t, 422).body, "purchase order number")
		if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'customer.payment_terms'`); n != 2 {
			t.Errorf("%d payment terms changes audited, want 2", n)
		}
	})
}
