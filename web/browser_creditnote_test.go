package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// TestBrowserConsoleCreditNoteAndRefund is Acceptance 4 in a real headless
// Chromium: an admin opens an invoice from the customer's page, previews
// and issues a credit note on an open invoice, then a refund to the card
// of a paid one; both show up in the ledger and the aging report, and each
// mails its credit note.
func TestBrowserConsoleCreditNoteAndRefund(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	a := e.signUp("a@example.com")
	open := e.invoices(a.buyByInvoice("sm-premium", "10").CustomerID)[0]
	paid := e.invoices(e.sub(a.buy("sm-premium", "2")).CustomerID)[0]
	if _, err := web.CreateStaff(context.Background(), e.db, e.clock, "admin@vendor.example", "Ada Admin", web.RoleAdmin, password); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	t.Cleanup(func() { saveScreenshot(t, ctx, "credit-note-last-page") })
	base := e.srv.URL
	run(t, ctx, "admin sign in",
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "admin@vendor.example"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/admin/signin"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#mrr`)),
	)
	issue := func(customer, inv, amount, reason, method, wantPreview string) {
		t.Helper()
		run(t, ctx, "open "+inv,
			chromedp.Navigate(base+"/admin/customers/"+customer),
			chromedp.Click(chromedp.CSS(`a[href="/admin/invoices/`+inv+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#cn-amount`)),
			chromedp.SendKeys(chromedp.CSS(`#cn-amount`), amount),
			chromedp.SendKeys(chromedp.CSS(`#cn-reason`), reason),
		)
		if method != "" {
			run(t, ctx, "method", chromedp.Click(chromedp.CSS(`input[name=method][value=`+method+`]`)))
		}
		run(t, ctx, "preview", chromedp.Click(chromedp.CSS(`#preview-credit`)), chromedp.WaitVisible(chromedp.CSS(`#credit-preview`)))
		if got := textOf(t, ctx, "#credit-preview"); !strings.Contains(got, wantPreview) {
			t.Fatalf("preview lacks %q: %s", wantPreview, got)
		}
		shot2(t, ctx, "credit-note-preview-"+inv)
		run(t, ctx, "confirm", chromedp.Click(chromedp.CSS(`#confirm-credit`)), chromedp.WaitVisible(chromedp.CSS(`.notice.success`)))
		if got := textOf(t, ctx, ".notice.success"); !strings.Contains(got, "issued on") {
			t.Fatalf("flash %q", got)
		}
	}
	issue(open.CustomerID, open.ID, "500.00", "SLA breach", "", "EUR 3,355.60")
	if got := textOf(t, ctx, "#amount-due"); got != "EUR 3,355.60" {
		t.Errorf("amount due after the credit note: %q", got)
	}
	issue(paid.CustomerID, paid.ID, "100.00", "Goodwill", "refund", "Refund to the card paid with")
	if got := textOf(t, ctx, "#credit-notes"); !strings.Contains(got, "Goodwill") || !strings.Contains(got, "EUR 100.00") {
		t.Errorf("credit notes: %s", got)
	}
	if got := e.agingTotal(open.CustomerID); got != 385560-50000 {
		t.Errorf("aging after the credit note: %d", got)
	}
	for _, tt := range []struct {
		q    string
		args []any
	}{
		{`SELECT COUNT(*) FROM ledger_transactions t JOIN ledger_entries l ON l.transaction_id = t.id
			WHERE t.reference_type = 'credit_note' AND l.account = 'receivables' AND l.invoice_id = $1 AND l.amount = -50000`, []any{open.ID}},
		{`SELECT COUNT(*) FROM ledger_transactions t JOIN ledger_entries l ON l.transaction_id = t.id
			WHERE t.reference_type = 'credit_note' AND l.account = 'cash' AND l.invoice_id = $1 AND l.amount = -10000`, []any{paid.ID}},
		{`SELECT COUNT(*) FROM emails e JOIN credit_notes c ON e.attachment_name = c.number || '.pdf'
			WHERE e.kind = 'credit_note.issued' AND c.invoice_id = $1`, []any{open.ID}},
		{`SELECT COUNT(*) FROM emails e JOIN credit_notes c ON e.attachment_name = c.number || '.pdf'
			WHERE e.kind = 'credit_note.issued' AND c.invoice_id = $1`, []any{paid.ID}},
	} {
		if n := e.count(tt.q, tt.args...); n != 1 {
			t.Errorf("%d rows, want 1: %s", n, tt.q)
		}
	}
}
