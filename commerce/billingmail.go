package commerce

import (
	"bytes"
	"context"
	"fmt"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/store"
)

// Billing mail: each is queued in the transaction that causes it (the
// invoice's finalisation, the payment's record), so it goes out once per
// cause; a retried job finds the row sent. None carries a secret.

// InvoicePDF renders the PDF of invoice id, as its mails attach it. The
// mails name the invoice (fulfill.Email.AttachmentInvoice) and the sender
// renders it here: a profile of the purchase showed the rendering, done in
// the transaction that issued the invoice, at 11% of the CPU, with the
// database's write lock held.
func (s *Service) InvoicePDF(ctx context.Context, id string) ([]byte, error) {
	inv, err := s.DB.Invoice(ctx, id)
	if err != nil {
		return nil, err
	}
	cust, err := s.DB.Customer(ctx, inv.CustomerID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	doc := invoicepdf.Document{Title: "Invoice", Seller: s.Seller, Buyer: invoicepdf.PartyFromCustomer(cust), Invoice: inv,
		PaymentTerms: invoicepdf.HowToPay(s.Seller, inv)}
	if err := invoicepdf.Render(&buf, doc); err != nil {
		return nil, fmt.Errorf("render invoice %s: %w", inv.Number, err)
	}
	return buf.Bytes(), nil
}

// mailInvoice queues "invoice.issued" to the billing contact: the invoice
// as PDF and how to pay it (bank details and the reference).
func (s *Service) mailInvoice(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	body := fmt.Sprintf("Hello %s,\n\nInvoice %s for %s is attached, for %s (%s: %s).\n\n%s\n\nView it online: %s/invoices/%s\n\n— %s\n",
		cust.BillingName, inv.Number, or(cust.Company, cust.Name), billing.FormatAmount(store.DueOf(inv), inv.Currency),
		invoicepdf.TaxLabel(inv), billing.FormatAmount(inv.Tax, inv.Currency),
		invoicepdf.HowToPay(s.Seller, inv), s.PublicURL, inv.ID, or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: "invoice.issued",
		Subject: fmt.Sprintf("Invoice %s", inv.Number), Body: body, AttachmentName: inv.Number + ".pdf", AttachmentInvoice: inv.ID})
}

// mailReceipt queues "payment.receipt" to the billing contact once an
// invoice is paid by card: the paid invoice as PDF is the receipt.
func (s *Service) mailReceipt(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	if inv.Status != fulfill.InvoicePaid {
		return nil
	}
	body := fmt.Sprintf("Hello %s,\n\nWe received %s for invoice %s. Thank you.\nThe paid invoice is attached as your receipt.\n\nView it online: %s/invoices/%s\n\n— %s\n",
		cust.BillingName, billing.FormatAmount(inv.AmountPaid, inv.Currency), inv.Number, s.PublicURL, inv.ID, or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: "payment.receipt",
		Subject: fmt.Sprintf("Receipt for invoice %s", inv.Number), Body: body, AttachmentName: inv.Number + "-receipt.pdf", AttachmentInvoice: inv.ID})
}
