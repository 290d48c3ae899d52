package commerce

import (
	"context"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// draftCreditNote checks a credit note of in on inv and computes it (the
// tax share from the invoice's own proportions, and where the money goes),
// storing nothing: IssueCreditNote stores it, PreviewCreditNote shows it.
func (s *Service) draftCreditNote(ctx context.Context, tx *store.Tx, inv *fulfill.Invoice, cust *fulfill.Customer, in CreditNoteInput) (*store.CreditNote, error) {
	amount := *in.Amount
	creditable := inv.Total - inv.AmountCredited
	switch {
	case inv.Status == fulfill.InvoiceVoid || inv.Status == fulfill.InvoiceUncollectible || inv.Status == fulfill.InvoiceDraft:
		return nil, fulfill.Errorf(fulfill.EConflict, "Invoice %s is %s: nothing to credit.", inv.Number, inv.Status)
	case amount > creditable:
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "amount", "At most %d can still be credited on %s.", creditable, inv.Number)
	case inv.Status == fulfill.InvoiceOpen && inv.AmountPaid > 0 && amount > store.DueOf(inv):
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "amount", "%s is partly paid: credit at most the %d still due.", inv.Number, store.DueOf(inv))
	}
	if busy, err := tx.PendingPaymentForInvoice(inv.ID); err != nil {
		return nil, err
	} else if busy {
		return nil, fulfill.Errorf(fulfill.EConflict, "A payment of invoice %s is still being processed; retry in a minute.", inv.Number)
	}
	tax := billing.Prorate(amount, inv.Tax, inv.Total)
	method := "reduce_due"
	if inv.Status == fulfill.InvoicePaid {
		method = "account_credit"
		if in.Refund {
			method = "refund"
		}
	}
	return &store.CreditNote{ID: fulfill.NewIDFor(ctx, "cn"), InvoiceID: inv.ID, CustomerID: cust.ID, Currency: inv.Currency,
		Subtotal: amount - tax, Tax: tax, Total: amount, Method: method, Reason: in.Reason, IssuedOn: s.today(), CreatedAt: s.now()}, nil
}

// CreditNotePreview is what a credit note would do, before it is issued.
type CreditNotePreview struct {
	Invoice *fulfill.Invoice
	Note    *store.CreditNote // not stored: no number yet
	// DueAfter is what stays due on the invoice; CreditAfter the account
	// credit balance after it.
	DueAfter, CreditAfter int64
}

// PreviewCreditNote checks and computes a credit note exactly as
// IssueCreditNote would, storing nothing, for the console to confirm.
func (s *Service) PreviewCreditNote(ctx context.Context, invoiceID string, in CreditNoteInput) (*CreditNotePreview, error) {
	if err := checkCreditNoteInput(in); err != nil {
		return nil, err
	}
	var p *CreditNotePreview
	err := s.DB.ReadTx(ctx, func(tx *store.Tx) error {
		inv, err := tx.Invoice(invoiceID)
		if err != nil {
			return err
		}
		cust, err := tx.Customer(inv.CustomerID)
		if err != nil {
			return err
		}
		cn, err := s.draftCreditNote(ctx, tx, inv, cust, in)
		if err != nil {
			return err
		}
		p = &CreditNotePreview{Invoice: inv, Note: cn, DueAfter: store.DueOf(inv), CreditAfter: cust.Credit}
		switch cn.Method {
		case "reduce_due":
			p.DueAfter -= cn.Total
		case "account_credit":
			p.CreditAfter += cn.Total
		}
		return nil
	})
	return p, err
}

// checkCreditNoteInput checks what a credit note request says by itself.
func checkCreditNoteInput(in CreditNoteInput) error {
	if in.Amount == nil {
		return fulfill.FieldError(fulfill.ERequired, "amount", "amount (in minor units, tax included) is required.")
	}
	if *in.Amount <= 0 {
		return fulfill.FieldError(fulfill.EOutOfRange, "amount", "amount must be positive.")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return fulfill.FieldError(fulfill.ERequired, "reason", "A credit note needs a reason.")
	}
	if fulfill.TextLen(in.Reason) > 1000 {
		return fulfill.FieldError(fulfill.EOutOfRange, "reason", "At most 1000 characters.")
	}
	return nil
}
