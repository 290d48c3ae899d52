package commerce

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// RetryDays are the days after a failed automatic payment on which it is
// retried (Kill Bill-style: retrying is separate from the overdue state).
var RetryDays = []int{1, 3, 5, 7}

// bookInvoice posts a finalized invoice: receivable the total, deferred
// revenue the subtotal, tax payable the tax.
func (s *Service) bookInvoice(tx *store.Tx, inv *fulfill.Invoice) error {
	inv.NetRevenue = inv.Subtotal
	if err := s.bookDiscount(tx, inv); err != nil {
		return err
	}
	return tx.Post(&store.LedgerTransaction{Kind: "invoice.finalized", ReferenceType: "invoice", ReferenceID: inv.ID,
		Currency: inv.Currency, Memo: "Invoice " + inv.Number, EffectiveOn: inv.IssuedOn, CreatedAt: s.now(),
		Postings: []store.Posting{
			{Account: store.AccountReceivables, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: inv.Total},
			{Account: store.AccountDeferredRevenue, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: -inv.Subtotal},
			{Account: store.AccountTaxPayable, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: -inv.Tax},
		}})
}

// applyCredit pays what it can of an invoice from the account's credit.
func (s *Service) applyCredit(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	due := store.DueOf(inv)
	use := min(cust.Credit, due)
	if use <= 0 {
		return nil
	}
	cust.Credit -= use
	if err := tx.SetCustomerCredit(cust.ID, cust.Credit); err != nil {
		return err
	}
	return s.recordPayment(tx, cust, inv, use, "account_credit", "", store.AccountCustomerCredit)
}

// recordPayment applies money received to an invoice: cash (or account
// credit) in, receivable out; anything beyond the amount due becomes account
// credit. A fully paid invoice turns paid.
func (s *Service) recordPayment(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice, amount int64, provider, ref, from string) error {
	now := s.now()
	due := store.DueOf(inv)
	applied := min(amount, due)
	over := amount - applied
	if err := tx.InsertPayment(&fulfill.Payment{ID: fulfill.NewID("pay"), InvoiceID: inv.ID, Provider: provider, ProviderRef: ref,
		Amount: amount, Currency: inv.Currency, Status: "succeeded", CreatedAt: now}); err != nil {
		return err
	}
	postings := []store.Posting{
		{Account: from, CustomerID: cust.ID, InvoiceID: inv.ID, Amount: amount},
		{Account: store.AccountReceivables, CustomerID: cust.ID, InvoiceID: inv.ID, Amount: -applied},
	}
	if over > 0 {
		postings = append(postings, store.Posting{Account: store.AccountCustomerCredit, CustomerID: cust.ID, InvoiceID: inv.ID, Amount: -over})
		cust.Credit += over
		if err := tx.SetCustomerCredit(cust.ID, cust.Credit); err != nil {
			return err
		}
	}
	if err := tx.Post(&store.LedgerTransaction{Kind: "payment", ReferenceType: "invoice", ReferenceID: inv.ID, Currency: inv.Currency,
		Memo: fmt.Sprintf("Payment (%s) for %s", provider, inv.Number), EffectiveOn: fulfill.DateOf(now), CreatedAt: now,
		Postings: postings}); err != nil {
		return err
	}
	inv.AmountPaid += applied
	if store.DueOf(inv) == 0 && inv.Status == fulfill.InvoiceOpen {
		inv.Status = fulfill.InvoicePaid
		inv.PaidAt = &now
		if err := tx.SaveInvoiceAmounts(inv); err != nil {
			return err
		}
		return s.invoicePaid(tx, cust, inv)
	}
	return tx.SaveInvoiceAmounts(inv)
}

// invoicePaid runs what follows full payment: the event, and for a
// subscription past due on this invoice, its restoration and new license.
func (s *Service) invoicePaid(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	if err := s.emit(tx, "invoice.paid", inv.ID, cust.ID, inv); err != nil {
		return err
	}
	d, err := tx.DunningFor(inv.ID)
	if err != nil || d == nil || d.State != "active" {
		return err
	}
	d.State = "resolved"
	d.NextAttemptOn = fulfill.Date{}
	if err := tx.PutDunning(d); err != nil {
		return err
	}
	sub, err := tx.Subscription(d.SubscriptionID)
	if err != nil {
		return err
	}
	if sub.State != fulfill.StatePastDue {
		return nil
	}
	sub.State = fulfill.StateActive
	if err := tx.UpdateSubscription(sub, store.Change{Action: "payment_recovered", Actor: string(System), InvoiceID: &inv.ID,
		Reason: "renewal invoice paid", At: s.now()}); err != nil {
		return err
	}
	t := licenseTerms{reason: "auto_renew", previousUserCount: d.PrevSeats, trueUp: d.TrueUp, email: true}
	if d.TrueUp > 0 {
		t.trueUpFrom, t.trueUpTo, t.trueUpPeriodSeats = d.TrueUpFrom, d.TrueUpTo, d.PrevSeats
	}
	if _, err := s.issueLicense(tx, sub, cust, t); err != nil {
		return err
	}
	return s.emit(tx, "subscription.restored", sub.ID, cust.ID, sub)
}

// unbook reverses revenue and tax of part of an invoice (a credit note or a
// void): the revenue already recognised comes back out of revenue, the rest
// out of deferred revenue, so each keeps matching the days served.
func (s *Service) unbook(tx *store.Tx, inv *fulfill.Invoice, subtotal, tax int64, kind, refType, refID, memo string,
	credit []store.Posting) error {
	f := s.elapsed(inv)
	newNet := inv.NetRevenue - subtotal
	target := billing.Prorate(newNet, f[0], f[1])
	r := min(max(0, inv.Recognized-target), subtotal)
	d := subtotal - r
	postings := append([]store.Posting{
		{Account: store.AccountDeferredRevenue, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: d},
		{Account: store.AccountRevenue, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: r},
		{Account: store.AccountTaxPayable, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: tax},
	}, credit...)
	inv.Recognized -= r
	inv.NetRevenue = newNet
	return tx.Post(&store.LedgerTransaction{Kind: kind, ReferenceType: refType, ReferenceID: refID, Currency: inv.Currency,
		Memo: memo, EffectiveOn: s.today(), CreatedAt: s.now(), Postings: postings})
}

// elapsed is the served fraction of an invoice's period today, as
// numerator and denominator in days.
func (s *Service) elapsed(inv *fulfill.Invoice) [2]int64 {
	start, end := inv.PeriodStart, inv.PeriodEnd
	if start.IsZero() || end.IsZero() || !start.Before(end) {
		return [2]int64{1, 1}
	}
	total := billing.DaysBetween(start.Time(), end.Time())
	today := s.today()
	switch {
	case today.Before(start):
		return [2]int64{0, total}
	case !today.Before(end):
		return [2]int64{total, total}
	}
	return [2]int64{billing.DaysBetween(start.Time(), today.Time()), total}
}

// RecognizeRevenue moves deferred revenue to revenue for the days served up
// to today, invoice by invoice; it can run any day and catches up.
func (s *Service) RecognizeRevenue(ctx context.Context) (int, error) {
	ids, err := s.DB.InvoicesToRecognize(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	// In bounded batches, never one transaction over the whole book: a
	// batch posts only what is not yet recognised, so a rerun after a
	// failure part way posts nothing twice.
	for len(ids) > 0 {
		chunk := ids[:min(RecognizeBatch, len(ids))]
		ids = ids[len(chunk):]
		k, err := s.recognizeBatch(ctx, chunk)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// RecognizeBatch is how many invoices one transaction of revenue
// recognition posts.
const RecognizeBatch = 500

func (s *Service) recognizeBatch(ctx context.Context, ids []string) (int, error) {
	n := 0
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		n = 0 // a rerun of the transaction counts anew
		invs, err := tx.InvoicesForRecognition(ids)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			f := s.elapsed(inv)
			diff := billing.Prorate(inv.NetRevenue, f[0], f[1]) - inv.Recognized
			if diff == 0 {
				continue
			}
			if err := tx.Post(&store.LedgerTransaction{Kind: "revenue.recognized", ReferenceType: "invoice", ReferenceID: inv.ID,
				Currency: inv.Currency, Memo: fmt.Sprintf("Revenue of %s, %d/%d days", inv.Number, f[0], f[1]),
				EffectiveOn: s.today(), CreatedAt: s.now(), Postings: []store.Posting{
					{Account: store.AccountDeferredRevenue, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: diff},
					{Account: store.AccountRevenue, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: -diff},
				}}); err != nil {
				return err
			}
			inv.Recognized += diff
			if err := tx.SetRecognized(inv.ID, inv.Recognized); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// CreditNoteInput is a credit note request. Amount includes tax; the tax
// share is computed from the invoice's own proportions.
type CreditNoteInput struct {
	Amount *int64
	Reason string
	Refund bool // paid invoices: refund to the original payment instead of account credit
}

// IssueCreditNote reduces an invoice in part or whole. On an open invoice
// it lowers the amount due; on a paid one it refunds the payment or adds
// account credit. An invoice never goes below zero.
func (s *Service) IssueCreditNote(ctx context.Context, actor Actor, invoiceID string, in CreditNoteInput) (*store.CreditNote, error) {
	if err := checkCreditNoteInput(in); err != nil {
		return nil, err
	}
	attemptID := fulfill.NewIDFor(ctx, "pat")
	if a, err := s.startedAttempt(ctx, attemptID); a != nil {
		return asResult[*store.CreditNote](s.resume(ctx, a))
	} else if err != nil {
		return nil, err
	}
	var cn *store.CreditNote
	var pending *store.PaymentAttempt
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		inv, err := tx.Invoice(invoiceID)
		if err != nil {
			return err
		}
		cust, err := tx.Customer(inv.CustomerID)
		if err != nil {
			return err
		}
		if cn, err = s.draftCreditNote(ctx, tx, inv, cust, in); err != nil {
			return err
		}
		amount := cn.Total
		if cn.Method == "refund" {
			if ref, err := s.refundable(tx, inv, amount); err != nil {
				return err
			} else if ref != "" {
				// A refund at the provider: in atomic phases, like a charge.
				pending, err = s.refundIntent(tx, attemptID, actor, cust, cn, ref)
				return err
			}
		}
		return s.recordCreditNote(tx, actor, cust, inv, cn, "manual")
	})
	if err != nil {
		return nil, err
	}
	if pending != nil {
		s.failpointAt("after-phase1", pending)
		return asResult[*store.CreditNote](s.settle(ctx, pending))
	}
	return cn, nil
}

// refundIntent is what phase 3 of a refund stores.
type refundIntent struct {
	Actor      Actor             `json:"actor"`
	CreditNote *store.CreditNote `json:"credit_note"`
}

// refundIntent is phase 1 of a refund at the provider: the credit note to
// store, the charge to refund (kept as the attempt's payment method) and
// the provider's idempotency key, derived from the credit note's id.
func (s *Service) refundIntent(tx *store.Tx, id string, actor Actor, cust *fulfill.Customer, cn *store.CreditNote,
	chargeRef string) (*store.PaymentAttempt, error) {
	intent, err := json.Marshal(refundIntent{Actor: actor, CreditNote: cn})
	if err != nil {
		return nil, err
	}
	return s.recordIntent(tx, &store.PaymentAttempt{ID: id, Kind: "refund", CustomerID: cust.ID, InvoiceID: cn.InvoiceID,
		Amount: cn.Total, Currency: cn.Currency, PaymentMethod: chargeRef, ProviderKey: "fulfill-refund-" + cn.ID, Intent: intent})
}

// recordCreditNote stores a credit note and all that follows, with the
// request's answer; refundRef is the provider's refund, for a refund.
func (s *Service) recordCreditNote(tx *store.Tx, actor Actor, cust *fulfill.Customer, inv *fulfill.Invoice, cn *store.CreditNote,
	refundRef string) error {
	account := map[string]string{"reduce_due": store.AccountReceivables, "account_credit": store.AccountCustomerCredit,
		"refund": store.AccountCash}[cn.Method]
	amount := cn.Total
	if err := tx.InsertCreditNote(cn); err != nil {
		return err
	}
	if err := s.unbook(tx, inv, cn.Subtotal, cn.Tax, "credit_note", "credit_note", cn.ID, "Credit note "+cn.Number+" on "+inv.Number,
		[]store.Posting{{Account: account, CustomerID: cust.ID, InvoiceID: inv.ID, Amount: -amount}}); err != nil {
		return err
	}
	inv.AmountCredited += amount
	switch cn.Method {
	case "refund":
		if err := tx.InsertPayment(&fulfill.Payment{ID: fulfill.NewID("pay"), InvoiceID: inv.ID, Provider: s.Payments.Name(),
			ProviderRef: refundRef, Amount: -amount, Currency: inv.Currency, Status: "refunded", CreatedAt: s.now()}); err != nil {
			return err
		}
		inv.AmountRefunded += amount
	case "account_credit":
		cust.Credit += amount
		if err := tx.SetCustomerCredit(cust.ID, cust.Credit); err != nil {
			return err
		}
	}
	wasOpen := inv.Status == fulfill.InvoiceOpen
	if wasOpen && store.DueOf(inv) == 0 {
		now := s.now()
		inv.Status, inv.PaidAt = fulfill.InvoicePaid, &now
	}
	if err := tx.SaveInvoiceAmounts(inv); err != nil {
		return err
	}
	if err := s.audit(tx, actor, "credit_note.issue", "invoice", inv.ID, cn, ""); err != nil {
		return err
	}
	if err := s.emit(tx, "credit_note.issued", cn.ID, cust.ID, cn); err != nil {
		return err
	}
	if err := s.mailCreditNote(tx, cust, inv, cn); err != nil {
		return err
	}
	if wasOpen && inv.Status == fulfill.InvoicePaid {
		if err := s.invoicePaid(tx, cust, inv); err != nil {
			return err
		}
	}
	return s.finish(tx, cn)
}

// Refunder is a payment provider that can give money back.
type Refunder interface {
	Refund(ctx context.Context, chargeRef string, amount int64, idempotencyKey string) (string, error)
}

// refundable is the provider's charge a refund of amount on the invoice
// goes back to (its card payments, newest first), or "" when the provider
// can not refund or no card payment covers it: the refund is then manual.
// It reads in the caller's transaction.
func (s *Service) refundable(tx *store.Tx, inv *fulfill.Invoice, amount int64) (string, error) {
	if _, ok := s.Payments.(Refunder); !ok {
		return "", nil
	}
	pays, err := tx.Payments(inv.ID)
	if err != nil {
		return "", err
	}
	for i := len(pays) - 1; i >= 0; i-- {
		if pays[i].Status == "succeeded" && pays[i].Provider == s.Payments.Name() && pays[i].Amount >= amount {
			return pays[i].ProviderRef, nil
		}
	}
	return "", nil
}

// VoidInvoice cancels an open invoice that nothing was paid or credited on.
func (s *Service) VoidInvoice(ctx context.Context, actor Actor, invoiceID, reason string) (*fulfill.Invoice, error) {
	if fulfill.TextLen(reason) > 1000 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "reason", "At most 1000 characters.")
	}
	var inv *fulfill.Invoice
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if inv, err = tx.Invoice(invoiceID); err != nil {
			return err
		}
		if inv.Status != fulfill.InvoiceOpen || inv.AmountPaid > 0 {
			return fulfill.Errorf(fulfill.EConflict, "Only an open invoice with no payment can be voided; %s is %s with %d paid: issue a credit note instead.",
				inv.Number, inv.Status, inv.AmountPaid)
		}
		rest := inv.Total - inv.AmountCredited
		tax := billing.Prorate(rest, inv.Tax, inv.Total)
		if err := s.unbook(tx, inv, rest-tax, tax, "invoice.voided", "invoice", inv.ID, "Void "+inv.Number,
			[]store.Posting{{Account: store.AccountReceivables, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: -rest}}); err != nil {
			return err
		}
		inv.Status = fulfill.InvoiceVoid
		if err := tx.SaveInvoiceAmounts(inv); err != nil {
			return err
		}
		if err := s.audit(tx, actor, "invoice.void", "invoice", inv.ID, map[string]string{"reason": reason}, ""); err != nil {
			return err
		}
		return s.emit(tx, "invoice.voided", inv.ID, inv.CustomerID, inv)
	})
	return inv, err
}

// WriteOff marks an open invoice uncollectible: what is still due goes to
// write-offs; the revenue stays invoiced.
func (s *Service) WriteOff(ctx context.Context, actor Actor, invoiceID, reason string) (*fulfill.Invoice, error) {
	if fulfill.TextLen(reason) > 1000 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "reason", "At most 1000 characters.")
	}
	var inv *fulfill.Invoice
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if inv, _, err = openInvoice(tx, invoiceID, "only open invoices can be written off"); err != nil {
			return err
		}
		due := store.DueOf(inv)
		if err := tx.Post(&store.LedgerTransaction{Kind: "invoice.written_off", ReferenceType: "invoice", ReferenceID: inv.ID,
			Currency: inv.Currency, Memo: "Write-off of " + inv.Number, EffectiveOn: s.today(), CreatedAt: s.now(),
			Postings: []store.Posting{
				{Account: store.AccountWriteOffs, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: due},
				{Account: store.AccountReceivables, CustomerID: inv.CustomerID, InvoiceID: inv.ID, Amount: -due},
			}}); err != nil {
			return err
		}
		inv.Status = fulfill.InvoiceUncollectible
		if err := tx.SaveInvoiceAmounts(inv); err != nil {
			return err
		}
		if err := s.audit(tx, actor, "invoice.write_off", "invoice", inv.ID, map[string]any{"amount": due, "reason": reason}, ""); err != nil {
			return err
		}
		return s.emit(tx, "invoice.uncollectible", inv.ID, inv.CustomerID, inv)
	})
	return inv, err
}

// openInvoice locks an invoice that must be open, with its customer; the
// refusal says why, in the words of the caller.
func openInvoice(tx *store.Tx, id, otherwise string) (*fulfill.Invoice, *fulfill.Customer, error) {
	inv, err := tx.Invoice(id)
	if err != nil {
		return nil, nil, err
	}
	if inv.Status != fulfill.InvoiceOpen {
		return nil, nil, fulfill.Errorf(fulfill.EConflict, "Invoice %s is %s: %s.", inv.Number, inv.Status, otherwise)
	}
	cust, err := tx.Customer(inv.CustomerID)
	return inv, cust, err
}

// PayInvoice charges what is due on an open invoice to a card.
func (s *Service) PayInvoice(ctx context.Context, actor Actor, invoiceID, paymentMethod string) (*fulfill.Invoice, error) {
	if paymentMethod == "" || paymentMethod == PayByInvoice {
		return nil, fulfill.FieldError(fulfill.ERequired, "payment_method", "A card payment method is required.")
	}
	if err := s.checkPaymentMethod(paymentMethod); err != nil {
		return nil, err
	}
	attemptID := fulfill.NewIDFor(ctx, "pat")
	if a, err := s.startedAttempt(ctx, attemptID); a != nil {
		return asResult[*fulfill.Invoice](s.resume(ctx, a))
	} else if err != nil {
		return nil, err
	}
	var pending *store.PaymentAttempt
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		inv, cust, err := openInvoice(tx, invoiceID, "nothing to pay")
		if err != nil {
			return err
		}
		pending, err = s.paymentIntent(tx, attemptID, cust, inv, paymentMethod, payIntent{Actor: actor, Purpose: "pay"})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.failpointAt("after-phase1", pending)
	return asResult[*fulfill.Invoice](s.settle(ctx, pending))
}

// payIntent is what phase 3 of a payment of an open invoice needs.
type payIntent struct {
	Actor   Actor  `json:"actor"`
	Purpose string `json:"purpose"` // pay (a customer's request), dunning (a retry), reconciliation (a quarter's charge)
}

// paymentIntent is phase 1 of a card payment of an open invoice: one
// pending charge per invoice, for what is due now.
func (s *Service) paymentIntent(tx *store.Tx, id string, cust *fulfill.Customer, inv *fulfill.Invoice, pm string,
	in payIntent) (*store.PaymentAttempt, error) {
	if busy, err := tx.PendingPaymentForInvoice(inv.ID); err != nil {
		return nil, err
	} else if busy {
		return nil, fulfill.Errorf(fulfill.EConflict, "A payment of invoice %s is still being processed; retry in a minute.", inv.Number)
	}
	intent, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var subID string
	if inv.SubscriptionID != nil {
		subID = *inv.SubscriptionID
	}
	// An invoice may see several attempts (a declined card, then another):
	// each has its own provider key, derived from the attempt's id.
	return s.recordIntent(tx, &store.PaymentAttempt{ID: id, Kind: "payment", CustomerID: cust.ID, SubscriptionID: subID,
		InvoiceID: inv.ID, Amount: store.DueOf(inv), Currency: inv.Currency, PaymentMethod: pm, ProviderKey: "fulfill-" + id,
		Intent: intent})
}

// RecordWirePayment records money received by bank transfer, in part or in
// full; an overpayment becomes account credit.
func (s *Service) RecordWirePayment(ctx context.Context, actor Actor, invoiceID string, amount *int64, reference string) (*fulfill.Invoice, error) {
	if amount == nil {
		return nil, fulfill.FieldError(fulfill.ERequired, "amount", "amount (minor units) is required.")
	}
	if *amount <= 0 || *amount > 1_000_000_000_00 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "amount", "amount must be positive.")
	}
	if strings.TrimSpace(reference) == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "reference", "The bank reference of the transfer is required.")
	}
	if fulfill.TextLen(reference) > 200 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "reference", "At most 200 characters.")
	}
	var inv *fulfill.Invoice
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		var cust *fulfill.Customer
		if inv, cust, err = openInvoice(tx, invoiceID, "record the transfer as account credit instead"); err != nil {
			return err
		}
		if err := s.recordPayment(tx, cust, inv, *amount, "wire", reference, store.AccountCash); err != nil {
			return err
		}
		return s.audit(tx, actor, "payment.wire", "invoice", inv.ID, map[string]any{"amount": *amount, "reference": reference}, "")
	})
	return inv, err
}

// SetPaymentMethod changes the payment method future charges of a
// subscription use (renewals, retries).
func (s *Service) SetPaymentMethod(ctx context.Context, actor Actor, subscriptionID, pm string) (*fulfill.Subscription, error) {
	if err := s.checkPaymentMethod(pm); err != nil {
		return nil, err
	}
	var sub *fulfill.Subscription
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if sub, err = tx.Subscription(subscriptionID); err != nil {
			return err
		}
		sub.PaymentMethod = pm
		return tx.UpdateSubscription(sub, store.Change{Action: "payment_method", Actor: string(actor), At: s.now()})
	})
	return sub, err
}

// ---- dunning ----

// DunningArgs is the job that retries a failed automatic payment.
type DunningArgs struct {
	InvoiceID string `json:"invoice_id" river:"unique"`
	Day       string `json:"day" river:"unique"`
}

// Kind names the job.
func (DunningArgs) Kind() string { return "invoice.dunning" }

// InsertOpts makes each attempt unique.
func (DunningArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// startDunning opens the retry schedule of a declined automatic payment and
// tells the billing contact how to pay.
func (s *Service) startDunning(tx *store.Tx, cust *fulfill.Customer, sub *fulfill.Subscription, inv *fulfill.Invoice, d *store.Dunning, code string) error {
	today := s.today()
	d.InvoiceID, d.SubscriptionID, d.StartedOn, d.State = inv.ID, sub.ID, today, "active"
	d.NextAttemptOn = today.AddDays(RetryDays[0])
	if err := tx.PutDunning(d); err != nil {
		return err
	}
	return s.dunningEmail(tx, cust, inv, code, 0)
}

func (s *Service) dunningEmail(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice, code string, attempt int) error {
	lapse := inv.IssuedOn.AddDays(LapseDays)
	return s.queueEmail(tx, &fulfill.Email{Kind: "payment.failed", To: cust.BillingEmail, CustomerID: &cust.ID,
		Subject: fmt.Sprintf("Payment failed for invoice %s", inv.Number),
		Body: fmt.Sprintf("Hello %s,\n\nWe could not charge %s for invoice %s (%s, attempt %d).\n"+
			"Pay it here: %s/invoices/%s\n\nWe will retry automatically. If it is not paid by %s, the subscription lapses and its license is not renewed.\n",
			cust.BillingName, billing.FormatAmount(store.DueOf(inv), inv.Currency), inv.Number, code, attempt+1, s.PublicURL, inv.ID, lapse)})
}

// ProcessDunning retries the payment of one invoice in dunning, in atomic
// phases: the attempt (and the dunning's attempt count) is recorded first,
// the card charged outside any transaction, the outcome recorded last.
func (s *Service) ProcessDunning(ctx context.Context, invoiceID string) error {
	var pending *store.PaymentAttempt
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		d, err := tx.DunningFor(invoiceID)
		if err != nil || d == nil || d.State != "active" || s.today().Before(d.NextAttemptOn) {
			return err
		}
		if busy, err := tx.PendingPaymentForInvoice(invoiceID); err != nil || busy {
			return err // a retry is under way; its completer finishes it
		}
		inv, err := tx.Invoice(invoiceID)
		if err != nil {
			return err
		}
		sub, err := tx.Subscription(d.SubscriptionID)
		if err != nil {
			return err
		}
		cust, err := tx.Customer(inv.CustomerID)
		if err != nil {
			return err
		}
		if inv.Status != fulfill.InvoiceOpen || sub.State == fulfill.StateExpired {
			d.State, d.NextAttemptOn = "resolved", fulfill.Date{}
			if sub.State == fulfill.StateExpired {
				d.State = "lapsed"
			}
			return tx.PutDunning(d)
		}
		d.Attempts++
		if err := tx.PutDunning(d); err != nil {
			return err
		}
		pending, err = s.paymentIntent(tx, fulfill.NewIDFor(ctx, "pat"), cust, inv, sub.PaymentMethod, payIntent{Actor: System, Purpose: "dunning"})
		return err
	})
	if err != nil || pending == nil {
		return err
	}
	_, err = s.settle(ctx, pending)
	return err
}

// recordDunningDecline records a declined retry: the failed payment, the
// next attempt (or the end of the schedule), the event and the email.
func (s *Service) recordDunningDecline(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice, fe *fulfill.Error) error {
	d, err := tx.DunningFor(inv.ID)
	if err != nil {
		return err
	}
	if err := tx.InsertPayment(&fulfill.Payment{ID: fulfill.NewID("pay"), InvoiceID: inv.ID, Provider: s.Payments.Name(),
		Amount: store.DueOf(inv), Currency: inv.Currency, Status: "failed", FailureCode: fe.Code, CreatedAt: s.now()}); err != nil {
		return err
	}
	if d == nil {
		return nil
	}
	if d.Attempts < len(RetryDays) {
		d.NextAttemptOn = d.StartedOn.AddDays(RetryDays[d.Attempts])
	} else {
		d.State, d.NextAttemptOn = "exhausted", fulfill.Date{}
	}
	if err := tx.PutDunning(d); err != nil {
		return err
	}
	if err := s.emit(tx, "payment.failed", inv.ID, cust.ID, map[string]any{"invoice": inv, "code": fe.Code, "attempt": d.Attempts}); err != nil {
		return err
	}
	return s.dunningEmail(tx, cust, inv, fe.Code, d.Attempts)
}

// ---- receivables ----

// AgingRow is one customer's open receivables by age past due.
type AgingRow struct {
	CustomerID string `json:"customer_id"`
	Company    string `json:"company"`
	Currency   string `json:"currency"`
	Current    int64  `json:"current"`
	Days1to30  int64  `json:"days_1_30"`
	Days31to60 int64  `json:"days_31_60"`
	Days61to90 int64  `json:"days_61_90"`
	Over90     int64  `json:"over_90"`
	Total      int64  `json:"total"`
}

// Aging is the receivables aging report as of a day.
type Aging struct {
	AsOf   fulfill.Date `json:"as_of"`
	Rows   []AgingRow   `json:"customers"`
	Totals []AgingRow   `json:"totals"` // one per currency
}

// AgingReport buckets what is due on open invoices by days past due.
func (s *Service) AgingReport(ctx context.Context) (*Aging, error) {
	invs, err := s.DB.OpenInvoices(ctx)
	if err != nil {
		return nil, err
	}
	today := s.today()
	rep := &Aging{AsOf: today, Rows: []AgingRow{}, Totals: []AgingRow{}}
	rows := map[string]*AgingRow{}
	totals := map[string]*AgingRow{}
	var order, curOrder []string
	for _, inv := range invs {
		due := store.DueOf(inv)
		if due == 0 {
			continue
		}
		key := inv.CustomerID + "/" + inv.Currency
		r, ok := rows[key]
		if !ok {
			c, err := s.DB.Customer(ctx, inv.CustomerID)
			if err != nil {
				return nil, err
			}
			r = &AgingRow{CustomerID: c.ID, Company: or(c.Company, c.Name), Currency: inv.Currency}
			rows[key] = r
			order = append(order, key)
		}
		t, ok := totals[inv.Currency]
		if !ok {
			t = &AgingRow{Currency: inv.Currency}
			totals[inv.Currency] = t
			curOrder = append(curOrder, inv.Currency)
		}
		late := billing.DaysBetween(inv.DueOn.Time(), today.Time())
		for _, x := range []*AgingRow{r, t} {
			switch {
			case late <= 0:
				x.Current += due
			case late <= 30:
				x.Days1to30 += due
			case late <= 60:
				x.Days31to60 += due
			case late <= 90:
				x.Days61to90 += due
			default:
				x.Over90 += due
			}
			x.Total += due
		}
	}
	for _, k := range order {
		rep.Rows = append(rep.Rows, *rows[k])
	}
	for _, c := range curOrder {
		rep.Totals = append(rep.Totals, *totals[c])
	}
	return rep, nil
}

// RecognizeArgs is the job that recognises revenue up to a day.
type RecognizeArgs struct {
	Day string `json:"day" river:"unique"`
}

// Kind names the job.
func (RecognizeArgs) Kind() string { return "revenue.recognize" }

// InsertOpts makes it unique per day.
func (RecognizeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
