package commerce

import (
	"context"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// Payment terms per billing account (issue 12): how many days an invoice
// paid by transfer stays open (0: due on issue), the buyer's purchase order
// number, printed on its invoices, whether it must be given before paying
// by invoice (a "PO required" account), and further recipients of billing
// mail.

// MaxTermsDays bounds payment terms: beyond a year is a mistake.
const MaxTermsDays = 365

// MaxBillingCC bounds the extra billing recipients of an account.
const MaxBillingCC = 10

// PaymentTermsInput is what UpdatePaymentTerms changes; a nil field stays.
type PaymentTermsInput struct {
	TermsDays  *int
	PONumber   *string
	PORequired *bool
	BillingCC  []string // nil: unchanged; empty: none
}

// checkPO refuses to pay by invoice on an account that requires a purchase
// order number and has none.
func checkPO(cust *fulfill.Customer, paymentMethod string) error {
	if paymentMethod == PayByInvoice && cust.PORequired && strings.TrimSpace(cust.PONumber) == "" {
		return fulfill.FieldError(fulfill.EPONumberRequired, "po_number",
			"Billing account %s requires a purchase order number before paying by invoice: set po_number in its payment terms.", cust.ID)
	}
	return nil
}

// BillingRecipients is who billing mail goes to: the billing contact, then
// the account's extra recipients, each once.
func BillingRecipients(cust *fulfill.Customer) []string {
	out := []string{cust.BillingEmail}
	seen := map[string]bool{strings.ToLower(cust.BillingEmail): true}
	for _, a := range strings.Split(cust.BillingCC, ",") {
		if a = strings.TrimSpace(a); a != "" && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			out = append(out, a)
		}
	}
	return out
}

func checkPaymentTerms(in *PaymentTermsInput) error {
	if in.TermsDays != nil && (*in.TermsDays < 0 || *in.TermsDays > MaxTermsDays) {
		return fulfill.FieldError(fulfill.EOutOfRange, "payment_terms_days", "payment_terms_days must be between 0 (due on issue) and %d.", MaxTermsDays)
	}
	if in.PONumber != nil {
		v := strings.TrimSpace(*in.PONumber)
		if err := fulfill.CheckText("po_number", v, 100); err != nil {
			return err
		}
		in.PONumber = &v
	}
	if in.BillingCC != nil {
		if len(in.BillingCC) > MaxBillingCC {
			return fulfill.FieldError(fulfill.EOutOfRange, "billing_cc", "At most %d extra billing recipients.", MaxBillingCC)
		}
		for i, a := range in.BillingCC {
			a = strings.TrimSpace(a)
			if !emailRE.MatchString(a) || fulfill.TextLen(a) > 254 || strings.Contains(a, ",") {
				return fulfill.FieldError(fulfill.EInvalid, "billing_cc", "%q is not an email address.", a)
			}
			in.BillingCC[i] = a
		}
	}
	return nil
}

// UpdatePaymentTerms changes a billing account's payment terms, PO number
// and extra billing recipients, in one transaction with its audit entry and
// a "customer.updated" event. Invoices already issued keep their due date
// and PO number.
func (s *Service) UpdatePaymentTerms(ctx context.Context, actor Actor, remote, customerID string, in PaymentTermsInput) (*fulfill.Customer, error) {
	if err := checkPaymentTerms(&in); err != nil {
		return nil, err
	}
	var c *fulfill.Customer
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if c, err = tx.Customer(customerID); err != nil {
			return err
		}
		before := *c
		if in.TermsDays != nil {
			c.TermsDays = *in.TermsDays
		}
		if in.PONumber != nil {
			c.PONumber = *in.PONumber
		}
		if in.PORequired != nil {
			c.PORequired = *in.PORequired
		}
		if in.BillingCC != nil {
			c.BillingCC = strings.Join(in.BillingCC, ",")
		}
		if err := tx.UpdatePaymentTerms(c); err != nil {
			return err
		}
		detail := map[string]any{}
		if before.TermsDays != c.TermsDays {
			detail["payment_terms_days"] = [2]int{before.TermsDays, c.TermsDays}
		}
		if before.PONumber != c.PONumber {
			detail["po_number"] = [2]string{before.PONumber, c.PONumber}
		}
		if before.PORequired != c.PORequired {
			detail["po_required"] = [2]bool{before.PORequired, c.PORequired}
		}
		if before.BillingCC != c.BillingCC {
			detail["billing_cc"] = [2]string{before.BillingCC, c.BillingCC}
		}
		if err := s.audit(tx, actor, "customer.payment_terms", "customer", c.ID, detail, remote); err != nil {
			return err
		}
		return s.emit(tx, "customer.updated", c.ID, c.ID, c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
