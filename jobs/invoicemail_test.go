package jobs_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/invoicepdf"
)

// Issue 18: the transaction that issues an invoice does not render its PDF
// (a third of a renewal's CPU, under SQLite's only write lock); it stores
// the invoice's document as issued, and the mail job renders it, once,
// after the commit. The PDF mailed and kept is byte for byte the one of
// the invoice as issued, even when the invoice was paid in between, and
// rendering the stored document again gives the same bytes.
func TestInvoiceMailPDFIsRenderedByTheMailJobAsIssued(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		ctx := context.Background()
		c, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "pdf@example.com", Name: "Pia Pdf", Country: "US"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := env.Svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 3, PaymentMethod: "invoice"})
		if err != nil {
			t.Fatal(err)
		}
		issued, err := env.DB.Invoice(ctx, p.Invoice.ID)
		if err != nil {
			t.Fatal(err)
		}
		cust, err := env.DB.Customer(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		render := func(inv *fulfill.Invoice) []byte {
			var buf bytes.Buffer
			doc := invoicepdf.Document{Title: "Invoice", Seller: env.Svc.Seller, Buyer: invoicepdf.PartyFromCustomer(cust), Invoice: inv,
				PaymentTerms: invoicepdf.HowToPay(env.Svc.Seller, inv)}
			if err := invoicepdf.Render(&buf, doc); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}
		invoiceMail := func() *fulfill.Email {
			es, err := env.DB.Emails(ctx, c.ID, fulfill.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Kind == "invoice.issued" {
					return e
				}
			}
			t.Fatal("no invoice.issued mail")
			return nil
		}
		before := invoiceMail()
		if before.Attachment != "" || before.AttachmentSource == "" || before.AttachmentName != issued.Number+".pdf" {
			t.Fatalf("the purchase's transaction stored attachment %d bytes, source %d bytes; want no PDF yet, only the document to render",
				len(before.Attachment), len(before.AttachmentSource))
		}
		// Paid before the mail goes out: the mail still carries the
		// invoice as issued (open), not as it is now.
		if _, err := env.Svc.RecordWirePayment(ctx, "test", issued.ID, &issued.Total, "wire-1"); err != nil {
			t.Fatal(err)
		}
		paid, err := env.DB.Invoice(ctx, issued.ID)
		if err != nil {
			t.Fatal(err)
		}
		if paid.Status != fulfill.InvoicePaid {
			t.Fatalf("invoice %s after the wire: %s", paid.ID, paid.Status)
		}
		runner := startRunner(t, env)
		if err := runner.Drain(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		after := invoiceMail()
		if after.Status != "outbox" || after.AttachmentSource != "" {
			t.Fatalf("after the mail job: status %s, source %d bytes; want outbox, the source used up", after.Status, len(after.AttachmentSource))
		}
		pdf, err := base64.StdEncoding.DecodeString(after.Attachment)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pdf, render(issued)) {
			t.Errorf("the mailed PDF (%d bytes) is not the invoice as issued", len(pdf))
		}
		if bytes.Equal(pdf, render(paid)) {
			t.Errorf("the mailed PDF is the invoice as paid later, not as issued")
		}
		for range 2 {
			again, err := commerce.RenderAttachment(before)
			if err != nil {
				t.Fatal(err)
			}
			if again != after.Attachment {
				t.Fatalf("rendering the stored document again gives other bytes")
			}
		}
	})
}
