package commerce

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/store"
)

// Billing mail: each is queued in the transaction that causes it (the
// invoice's finalisation, the payment's record), so it goes out once per
// cause; a retried job finds the row sent. None carries a secret.

// invoicePDF renders an invoice's PDF, base64-encoded for the email row.
// Rendering is local work, fine inside a transaction.
func (s *Service) invoicePDF(cust *fulfill.Customer, inv *fulfill.Invoice) (string, error) {
	var buf bytes.Buffer
	doc := invoicepdf.Document{Title: "Invoice", Seller: s.Seller, Buyer: invoicepdf.PartyFromCustomer(cust), Invoice: inv,
		PaymentTerms: invoicepdf.HowToPay(s.Seller, inv)}
	if err := invoicepdf.Render(&buf, doc); err != nil {
		return "", fmt.Errorf("render invoice %s: %w", inv.Number, err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// mailInvoice queues "invoice.issued" to the billing contact: the invoice
// as PDF and how to pay it (bank details and the reference).
func (s *Service) mailInvoice(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	pdf, err := s.invoicePDF(cust, inv)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Hello %s,\n\nInvoice %s for %s is attached, for %s (%s: %s).\n\n%s\n\nView it online: %s/invoices/%s\n\n— %s\n",
		cust.BillingName, inv.Number, or(cust.Company, cust.Name), billing.FormatAmount(store.DueOf(inv), inv.Currency),
		invoicepdf.TaxLabel(inv), billing.FormatAmount(inv.Tax, inv.Currency),
		invoicepdf.HowToPay(s.Seller, inv), s.PublicURL, inv.ID, or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: "invoice.issued",
		Subject: fmt.Sprintf("Invoice %s", inv.Number), Body: body, AttachmentName: inv.Number + ".pdf", Attachment: pdf})
}

// mailReceipt queues "payment.receipt" to the billing contact once an
// invoice is paid by card: the paid invoice as PDF is the receipt.
func (s *Service) mailReceipt(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	if inv.Status != fulfill.InvoicePaid {
		return nil
	}
	pdf, err := s.invoicePDF(cust, inv)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Hello %s,\n\nWe received %s for invoice %s. Thank you.\nThe paid invoice is attached as your receipt.\n\nView it online: %s/invoices/%s\n\n— %s\n",
		cust.BillingName, billing.FormatAmount(inv.AmountPaid, inv.Currency), inv.Number, s.PublicURL, inv.ID, or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: "payment.receipt",
		Subject: fmt.Sprintf("Receipt for invoice %s", inv.Number), Body: body, AttachmentName: inv.Number + "-receipt.pdf", Attachment: pdf})
}
