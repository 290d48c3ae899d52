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

// creditNoteMethods says, for the buyer, where a credit note's money went.
var creditNoteMethods = map[string]string{"refund": "refunded to the original payment",
	"account_credit": "added to your account credit", "reduce_due": "deducted from the amount due"}

// CreditNoteDocument draws a credit note as an invoice of negative amounts
// referring to the original, for its PDF.
func CreditNoteDocument(seller invoicepdf.Party, cust *fulfill.Customer, inv *fulfill.Invoice, cn *store.CreditNote) invoicepdf.Document {
	doc := *inv
	doc.Number, doc.Status, doc.IssuedOn, doc.DueOn = cn.Number, "paid", cn.IssuedOn, cn.IssuedOn
	doc.Subtotal, doc.Tax, doc.Total, doc.AmountPaid, doc.AmountDue = -cn.Subtotal, -cn.Tax, -cn.Total, -cn.Total, 0
	taxLabel := "Tax"
	if n := len(inv.Lines); n > 0 {
		taxLabel = inv.Lines[n-1].Description
	}
	doc.Lines = []fulfill.InvoiceLine{
		{Kind: "credit", Description: fmt.Sprintf("Credit on invoice %s: %s", inv.Number, cn.Reason), Quantity: 1,
			UnitAmount: -cn.Subtotal, Amount: -cn.Subtotal, PeriodStart: inv.PeriodStart, PeriodEnd: inv.PeriodEnd},
		{Kind: "tax", Description: taxLabel, Quantity: 1, UnitAmount: -cn.Tax, Amount: -cn.Tax,
			PeriodStart: inv.PeriodStart, PeriodEnd: inv.PeriodEnd},
	}
	notes := []string{fmt.Sprintf("Credit note for invoice %s (%s).", inv.Number, creditNoteMethods[cn.Method])}
	return invoicepdf.Document{Title: "Credit note", Seller: seller, Buyer: invoicepdf.PartyFromCustomer(cust), Invoice: &doc, Notes: notes}
}

// mailCreditNote queues "credit_note.issued" to the billing recipients,
// with the credit note as PDF, in the transaction that issues it.
func (s *Service) mailCreditNote(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice, cn *store.CreditNote) error {
	var buf bytes.Buffer
	if err := invoicepdf.Render(&buf, CreditNoteDocument(s.Seller, cust, inv, cn)); err != nil {
		return fmt.Errorf("render credit note %s: %w", cn.Number, err)
	}
	body := fmt.Sprintf("Hello %s,\n\nCredit note %s on invoice %s is attached, for %s (%s).\nReason: %s\n\nView the invoice online: %s/invoices/%s\n\n— %s\n",
		or(cust.BillingName, cust.Name), cn.Number, inv.Number, billing.FormatAmount(cn.Total, cn.Currency), creditNoteMethods[cn.Method],
		cn.Reason, s.PublicURL, inv.ID, or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: "credit_note.issued", Subject: fmt.Sprintf("Credit note %s on invoice %s", cn.Number, inv.Number),
		Body: body, AttachmentName: cn.Number + ".pdf", Attachment: base64.StdEncoding.EncodeToString(buf.Bytes())})
}
