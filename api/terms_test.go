package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/jobs"
)

// TestPORequiredAccount is Acceptance 3: an account that requires a PO
// number cannot pay by invoice without one (422 po_number_required on
// field po_number, nothing created); with one, its invoice carries the PO
// number on the PDF, is due after the account's own terms, and its mail
// goes to the extra billing recipients too.
func TestPORequiredAccount(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var c struct {
			TermsDays  int    `json:"payment_terms_days"`
			PORequired bool   `json:"po_required"`
			BillingCC  string `json:"billing_cc"`
		}
		e.must(200, "GET", "/api/v1/customers/"+cus, nil, &c)
		if c.TermsDays != 30 || c.PORequired {
			t.Fatalf("new account terms: %+v", c)
		}
		e.must(200, "POST", "/api/v1/customers/"+cus+"/payment_terms", map[string]any{"po_required": true, "payment_terms_days": 45,
			"billing_cc": []string{"ap@example.com", "buyer@example.com"}}, &c)
		if c.TermsDays != 45 || !c.PORequired || c.BillingCC != "ap@example.com,buyer@example.com" {
			t.Fatalf("terms: %+v", c)
		}
		buy := map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10, "payment_method": "invoice"}
		var ae apiError
		if code := e.do("POST", "/api/v1/subscriptions", buy, &ae); code != 422 || ae.Error.Code != "po_number_required" || ae.Error.Field != "po_number" {
			t.Fatalf("pay by invoice without PO: %d %+v", code, ae)
		}
		var invs struct{ Data []invoice }
		e.must(200, "GET", "/api/v1/invoices?customer_id="+cus, nil, &invs)
		if len(invs.Data) != 0 {
			t.Fatalf("a refused purchase left %d invoices", len(invs.Data))
		}
		for _, bad := range []map[string]any{{"payment_terms_days": 366}, {"payment_terms_days": -1}, {"billing_cc": []string{"nope"}},
			{"po_number": strings.Repeat("x", 101)}, {"po_number": "a\x00b"}} {
			if code := e.do("POST", "/api/v1/customers/"+cus+"/payment_terms", bad, &ae); code != 422 {
				t.Errorf("%v: %d", bad, code)
			}
		}
		e.must(200, "POST", "/api/v1/customers/"+cus+"/payment_terms", map[string]any{"po_number": "PO-4711"}, nil)
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", buy, &p)
		var inv struct {
			invoice
			PONumber string `json:"po_number"`
			IssuedOn string `json:"issued_on"`
		}
		e.must(200, "GET", "/api/v1/invoices/"+p.Invoice.ID, nil, &inv)
		if inv.PONumber != "PO-4711" || inv.DueOn != "2026-02-15" {
			t.Errorf("invoice PO %q due %s", inv.PONumber, inv.DueOn)
		}
		code, pdf := e.text("/api/v1/invoices/" + p.Invoice.ID + "/pdf")
		if code != 200 || !bytes.HasPrefix([]byte(pdf), []byte("%PDF-")) {
			t.Fatalf("pdf: %d", code)
		}
		if pt := pdfText(t, []byte(pdf)); !strings.Contains(pt, "PO number PO-4711") {
			t.Errorf("invoice PDF lacks the PO number:\n%s", pt)
		}
		to := map[string]int{}
		for _, m := range e.waitEmails() {
			if m.Kind == "invoice.issued" {
				to[m.To]++
			}
		}
		if len(to) != 2 || to["buyer@example.com"] != 1 || to["ap@example.com"] != 1 {
			t.Errorf("invoice mail went to %v", to)
		}
		// Terms of 0 days: due on issue.
		e.must(200, "POST", "/api/v1/customers/"+cus+"/payment_terms", map[string]any{"payment_terms_days": 0}, nil)
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-ultimate", "seats": 1,
			"payment_method": "invoice"}, &p)
		if p.Invoice.DueOn != "2026-01-01" {
			t.Errorf("net 0 invoice due %s", p.Invoice.DueOn)
		}
	})
}

// A billing mail kind the vendor switched off (--billing-mail-off) is not
// queued; the other kinds still are.
func TestBillingMailSwitchedOff(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) {
			c.Service.BillingMailOff = map[string]bool{"invoice.issued": true}
		})
		cus := e.customer("US", "")
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1, "payment_method": "invoice"}, nil)
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 1, "payment_method": "pm_card_visa"}, nil)
		kinds := map[string]int{}
		for _, m := range e.waitEmails() {
			kinds[m.Kind]++
		}
		if kinds["invoice.issued"] != 0 || kinds["payment.receipt"] != 1 {
			t.Errorf("mails by kind: %v", kinds)
		}
	})
}
