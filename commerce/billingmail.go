package commerce

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/store"
)

// Billing mail: each is queued in the transaction that causes it (the
// invoice's finalisation, the payment's record), so it goes out once per
// cause; a retried job finds the row sent. None carries a secret.

// invoiceDocument is an invoice's PDF document.
func (s *Service) invoiceDocument(cust *fulfill.Customer, inv *fulfill.Invoice) invoicepdf.Document {
	return invoicepdf.Document{Title: "Invoice", Seller: s.Seller, Buyer: invoicepdf.PartyFromCustomer(cust), Invoice: inv,
		PaymentTerms: invoicepdf.HowToPay(s.Seller, inv)}
}

// renderInvoicePDF renders an invoice's PDF, base64-encoded for the email
// row.
func renderInvoicePDF(doc invoicepdf.Document) (string, error) {
	var buf bytes.Buffer
	if err := invoicepdf.Render(&buf, doc); err != nil {
		return "", fmt.Errorf("render invoice %s: %w", doc.Invoice.Number, err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// invoiceSource is what an invoice's PDF attachment is rendered from: its
// document as it is now, in the transaction that issues (or pays) it, as
// JSON. Rendering the PDF is a third of a renewal's CPU, so it is not done
// in the transaction, which holds SQLite's only write lock (and a billing
// run's batch): the mail job renders it (RenderAttachment), once, after the
// commit. Rendering is deterministic (invoicepdf), so the PDF is the one
// the transaction would have rendered, whenever the job runs.
func (s *Service) invoiceSource(cust *fulfill.Customer, inv *fulfill.Invoice) (string, error) {
	b, err := json.Marshal(s.invoiceDocument(cust, inv))
	if err != nil {
		return "", fmt.Errorf("invoice %s as issued: %w", inv.Number, err)
	}
	return string(b), nil
}

// RenderAttachment renders the attachment of an email from its
// AttachmentSource (an invoice's document as issued) into what Attachment
// holds (a base64 PDF). The same source always gives the same bytes.
func RenderAttachment(e *fulfill.Email) (string, error) {
	var doc invoicepdf.Document
	if err := json.Unmarshal([]byte(e.AttachmentSource), &doc); err != nil || doc.Invoice == nil {
		return "", fmt.Errorf("email %s: attachment source is not an invoice document: %v", e.ID, err)
	}
	return renderInvoicePDF(doc)
}

// mailInvoice queues "invoice.issued" to the billing contact: the invoice
// as PDF and how to pay it (bank details and the reference).
func (s *Service) mailInvoice(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	src, err := s.invoiceSource(cust, inv)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Hello %s,\n\nInvoice %s for %s is attached, for %s (%s: %s).\n\n%s\n\nView it online: %s/invoices/%s\n\n— %s\n",
		cust.BillingName, inv.Number, or(cust.Company, cust.Name), billing.FormatAmount(store.DueOf(inv), inv.Currency),
		invoicepdf.TaxLabel(inv), billing.FormatAmount(inv.Tax, inv.Currency),
		invoicepdf.HowToPay(s.Seller, inv), s.PublicURL, inv.ID, or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: "invoice.issued",
		Subject: fmt.Sprintf("Invoice %s", inv.Number), Body: body, AttachmentName: inv.Number + ".pdf", AttachmentSource: src})
}

// mailReceipt queues "payment.receipt" to the billing contact once an
// invoice is paid by card: the paid invoice as PDF is the receipt.
func (s *Service) mailReceipt(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	if inv.Status != fulfill.InvoicePaid {
		return nil
	}
	src, err := s.invoiceSource(cust, inv)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Hello %s,\n\nWe received %s for invoice %s. Thank you.\nThe paid invoice is attached as your receipt.\n\nView it online: %s/invoices/%s\n\n— %s\n",
		cust.BillingName, billing.FormatAmount(inv.AmountPaid, inv.Currency), inv.Number, s.PublicURL, inv.ID, or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: "payment.receipt",
		Subject: fmt.Sprintf("Receipt for invoice %s", inv.Number), Body: body, AttachmentName: inv.Number + "-receipt.pdf", AttachmentSource: src})
}
