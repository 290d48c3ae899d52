package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// agingTotal is what the aging report says is due for a customer.
func (e *env) agingTotal(customerID string) int64 {
	e.t.Helper()
	rep, err := e.svc.AgingReport(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.CustomerID == customerID {
			return r.Total
		}
	}
	return 0
}

// A credit note and a refund issued from the console's invoice page, each
// previewed first: the preview changes nothing; the credit note lowers
// what the aging report shows due, the refund posts cash back in the
// ledger, both are audited as the admin and mail the credit note with its
// PDF. Support staff may look but not issue.
func TestConsoleCreditNoteAndRefund(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		open := e.invoices(a.buyByInvoice("sm-premium", "10").CustomerID)[0]
		paid := e.invoices(e.sub(a.buy("sm-premium", "2")).CustomerID)[0]
		if open.Status != fulfill.InvoiceOpen || paid.Status != fulfill.InvoicePaid || open.Total != 385560 {
			t.Fatalf("fixtures: %s %d, %s", open.Status, open.Total, paid.Status)
		}
		if got := e.agingTotal(open.CustomerID); got != 385560 {
			t.Fatalf("aging before: %d", got)
		}
		sup := e.staff("support@vendor.example", web.RoleSupport)
		r := sup.get("/admin/invoices/"+open.ID).must(t, 200)
		contains(t, r.body, "Invoice "+open.Number, "EUR 3,855.60")
		if strings.Contains(r.body, "Issue a credit note") {
			t.Error("support staff see the credit note form")
		}
		sup.post("/admin/invoices/"+open.ID+"/credit_notes", "amount", "500.00", "reason", "SLA").must(t, 403)

		admin := e.staff("admin@vendor.example", web.RoleAdmin)
		admin.get("/admin/customers/"+open.CustomerID).must(t, 200)
		r = admin.post("/admin/invoices/"+open.ID+"/credit_notes/preview", "amount", "500.00", "reason", "SLA breach").must(t, 200)
		tax := billing.Prorate(50000, open.Tax, open.Total)
		contains(t, r.body, "Preview", "EUR 500.00 (EUR "+billing.FormatAmount(50000-tax, "EUR")[4:]+" + "+billing.FormatAmount(tax, "EUR")+" tax)",
			"Lowers the amount due", "EUR 3,355.60")
		admin.post("/admin/invoices/"+open.ID+"/credit_notes/preview", "amount", "5000.00", "reason", "x").must(t, 422)
		admin.post("/admin/invoices/"+open.ID+"/credit_notes/preview", "amount", "12x", "reason", "x").must(t, 422)
		admin.post("/admin/invoices/"+open.ID+"/credit_notes", "amount", "500.00", "reason", "").must(t, 422)
		if n := e.count(`SELECT COUNT(*) FROM credit_notes`); n != 0 {
			t.Fatalf("a preview or a refused form stored %d credit notes", n)
		}
		r = admin.post("/admin/invoices/"+open.ID+"/credit_notes", "amount", "500.00", "reason", "SLA breach").must(t, 303)
		if loc := r.header.Get("Location"); loc != "/admin/invoices/"+open.ID {
			t.Fatalf("redirect %q", loc)
		}
		r = admin.get("/admin/invoices/"+open.ID).must(t, 200)
		contains(t, r.body, "SLA breach", "EUR 3,355.60", "deducted from the amount due")
		if got := e.agingTotal(open.CustomerID); got != 385560-50000 {
			t.Errorf("aging after the credit note: %d", got)
		}

		// A refund to the card of a paid invoice.
		r = admin.post("/admin/invoices/"+paid.ID+"/credit_notes/preview", "amount", "100.00", "reason", "Goodwill", "method", "refund").must(t, 200)
		contains(t, r.body, "Refund to the card paid with")
		admin.post("/admin/invoices/"+paid.ID+"/credit_notes", "amount", "100.00", "reason", "Goodwill", "method", "refund").must(t, 303)
		if n := e.count(`SELECT COUNT(*) FROM payments WHERE invoice_id = $1 AND amount = -10000 AND status = 'refunded'`, paid.ID); n != 1 {
			t.Errorf("%d refund payments", n)
		}

		for _, tt := range []struct {
			q    string
			args []any
			want int
		}{
			{`SELECT COUNT(*) FROM ledger_transactions t JOIN ledger_entries l ON l.transaction_id = t.id
				WHERE t.reference_type = 'credit_note' AND l.account = 'receivables' AND l.invoice_id = $1 AND l.amount = -50000`, []any{open.ID}, 1},
			{`SELECT COUNT(*) FROM ledger_transactions t JOIN ledger_entries l ON l.transaction_id = t.id
				WHERE t.reference_type = 'credit_note' AND l.account = 'cash' AND l.invoice_id = $1 AND l.amount = -10000`, []any{paid.ID}, 1},
			{`SELECT COUNT(*) FROM audit_log WHERE action = 'credit_note.issue' AND actor = 'staff:admin@vendor.example'`, nil, 2},
			{`SELECT COUNT(*) FROM emails WHERE kind = 'credit_note.issued' AND attachment_name LIKE 'CN-%' AND attachment <> ''`, nil, 2},
		} {
			if n := e.count(tt.q, tt.args...); n != tt.want {
				t.Errorf("%d rows, want %d: %s", n, tt.want, tt.q)
			}
		}
	})
}
