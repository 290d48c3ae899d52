package commerce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// A card purchase runs in atomic phases (Brandur Leach's idempotency keys,
// Stripe's own design), so that no transaction is open while the provider
// answers:
//
//  1. one transaction records the intent: a pending payment attempt that
//     holds the subscription and invoice to create, the provider's
//     idempotency key (derived from our invoice id), the account credit it
//     uses, the request's recovery point, and the completer job;
//  2. the provider call, outside any transaction;
//  3. one transaction records the outcome and all that follows (invoice,
//     ledger, subscription, license, activation code, events, emails, jobs
//     and the request's answer), or a decline: the attempt is marked
//     declined and its credit given back, nothing else was ever stored.
//
// A request that dies between phases is finished by its retry (same
// Idempotency-Key, same seed, same attempt id) or by the completer job,
// which asks the provider again with the same key: the provider returns the
// first charge, never a second one.

// RecoveryIntent is the recovery point of a request whose intent is
// recorded: its retry resumes the attempt rather than starting anew.
const RecoveryIntent = "payment_attempt"

// CompleteAttemptAfter is how long a pending attempt is left to its request
// before the completer job finishes it, unless Service.CompleteAfter says.
const CompleteAttemptAfter = time.Minute

// purchaseIntent is what phase 3 of a purchase stores on success.
type purchaseIntent struct {
	Actor        Actor                 `json:"actor"`
	Subscription *fulfill.Subscription `json:"subscription"`
	Invoice      *fulfill.Invoice      `json:"invoice"`
	// Terms and ConvertsTrial: see purchaseExtras.
	Terms         *store.SubscriptionTerms `json:"terms,omitempty"`
	ConvertsTrial bool                     `json:"converts_trial,omitempty"`
}

// CompletePaymentArgs is the completer job of a payment attempt.
type CompletePaymentArgs struct {
	AttemptID string `json:"attempt_id"`
}

// Kind names the job.
func (CompletePaymentArgs) Kind() string { return "payment.complete" }

// InsertOpts puts the job on the billing queue. It is not unique: it is
// enqueued only with its attempt, whose id is the attempt table's key, so
// at most one per attempt exists; River's unique insert would cost a
// statement of its own in every card purchase.
func (CompletePaymentArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 25}
}

func (s *Service) wall() fulfill.Clock {
	if s.Wall != nil {
		return s.Wall
	}
	return s.Clock
}

// purchaseIntent is phase 1 of a card purchase, in the caller's
// transaction: it reserves the account credit the invoice uses and records
// the attempt, its recovery point and its completer.
func (s *Service) purchaseIntent(tx *store.Tx, actor Actor, id string, cust *fulfill.Customer, sub *fulfill.Subscription,
	inv *fulfill.Invoice, credit int64, x purchaseExtras) (*store.PaymentAttempt, error) {
	if credit > 0 {
		cust.Credit -= credit
		if err := tx.SetCustomerCredit(cust.ID, cust.Credit); err != nil {
			return nil, err
		}
	}
	intent, err := json.Marshal(purchaseIntent{Actor: actor, Subscription: sub, Invoice: inv, Terms: x.Terms, ConvertsTrial: x.ConvertsTrial})
	if err != nil {
		return nil, err
	}
	return s.recordIntent(tx, &store.PaymentAttempt{ID: id, Kind: "purchase", CustomerID: cust.ID, SubscriptionID: sub.ID,
		InvoiceID: inv.ID, Amount: inv.Total - credit, Currency: inv.Currency, PaymentMethod: inv.PaymentMethod,
		CreditReserved: credit, Intent: intent})
}

// recordIntent stores a pending attempt with its completer job and the
// request's recovery point.
func (s *Service) recordIntent(tx *store.Tx, a *store.PaymentAttempt) (*store.PaymentAttempt, error) {
	// The key derives from the invoice id (or the attempt's), itself
	// derived from the request's seed: identical across retries and restarts.
	if a.ProviderKey == "" {
		a.ProviderKey = "fulfill-" + a.InvoiceID
	}
	a.State, a.CreatedAt = store.AttemptPending, s.now()
	if err := tx.InsertPaymentAttempt(a); err != nil {
		return nil, err
	}
	after := s.CompleteAfter
	if after <= 0 {
		after = CompleteAttemptAfter
	}
	if err := tx.Enqueue(CompletePaymentArgs{AttemptID: a.ID}, &river.InsertOpts{ScheduledAt: s.wall().Now().Add(after)}); err != nil {
		return nil, err
	}
	return a, s.recovery(tx, RecoveryIntent)
}

// settle runs phases 2 and 3 of a pending attempt and returns what the use
// case returns (*PurchaseResult, *ChangeResult). A failure that is not the
// provider's answer (a network error, a crash) leaves the attempt pending,
// for a retry or the completer.
func (s *Service) settle(ctx context.Context, a *store.PaymentAttempt) (any, error) {
	charge, err := s.callProvider(ctx, a)
	if err != nil {
		// Counted when the provider answers (or fails to): the refusal
		// happened whatever phase 3 records.
		s.Metrics.PaymentFailed(ctx, a.InvoiceID, or(fulfill.ErrorCode(err), "provider_error"))
	}
	var declined *fulfill.Error
	if err != nil && !errors.As(err, &declined) {
		return nil, fmt.Errorf("charge for payment attempt %s: %w", a.ID, err)
	}
	s.failpointAt("after-charge", a)
	// The outcome is known: record it even if the client has gone.
	ctx = context.WithoutCancel(ctx)
	var res any
	var refusal error
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		cur, cust, err := tx.PaymentAttemptAndCustomer(a.ID)
		if err != nil {
			return err
		}
		if cur.State != store.AttemptPending { // another process recorded it first
			res, refusal, err = s.settled(tx, cur)
			return err
		}
		if declined != nil {
			res, refusal, err = s.decline(tx, cur, cust, declined)
			return err
		}
		cur.State, cur.ProviderRef = store.AttemptSucceeded, charge.Ref
		if err := tx.FinishPaymentAttempt(cur, s.now()); err != nil {
			return err
		}
		p := &paid{attempt: cur, provider: charge.Provider}
		switch cur.Kind {
		case "purchase":
			in, err := intentOf[purchaseIntent](cur)
			if err != nil {
				return err
			}
			r := &PurchaseResult{}
			res = r
			return s.recordPurchase(tx, in.Actor, cust, in.Subscription, in.Invoice, p, r,
				purchaseExtras{Terms: in.Terms, ConvertsTrial: in.ConvertsTrial})
		case "change":
			in, err := intentOf[changeIntent](cur)
			if err != nil {
				return err
			}
			sub, err := tx.Subscription(cur.SubscriptionID)
			if err != nil {
				return err
			}
			in.apply(sub)
			r, err := s.recordChange(tx, in.Actor, cust, sub, in.Invoice, in.Action, p)
			res = r
			return err
		case "renewal":
			in, err := intentOf[renewal](cur)
			if err != nil {
				return err
			}
			sub, err := tx.Subscription(cur.SubscriptionID)
			if err != nil {
				return err
			}
			r, err := s.recordRenewal(tx, cust, sub, &in, p, nil)
			res = r
			return err
		case "refund":
			in, err := intentOf[refundIntent](cur)
			if err != nil {
				return err
			}
			inv, err := tx.Invoice(cur.InvoiceID)
			if err != nil {
				return err
			}
			res = in.CreditNote
			return s.recordCreditNote(tx, in.Actor, cust, inv, in.CreditNote, charge.Ref)
		case "payment":
			inv, err := tx.Invoice(cur.InvoiceID)
			if err != nil {
				return err
			}
			// Paid meanwhile (a wire transfer)? recordPayment turns the
			// charge into account credit: never an invoice paid twice.
			res = inv
			return s.recordCardPayment(tx, cust, inv, p)
		}
		return fmt.Errorf("payment attempt %s: unknown kind %q", cur.ID, cur.Kind)
	})
	if err != nil {
		return nil, err
	}
	s.failpointAt("after-phase3", a)
	if refusal != nil {
		return nil, refusal
	}
	return res, nil
}

// decline records the provider's refusal of a pending attempt: a clean
// decline for a request (refusal), or, for an automatic renewal, the
// renewal left past due with its invoice open.
func (s *Service) decline(tx *store.Tx, a *store.PaymentAttempt, cust *fulfill.Customer, why *fulfill.Error) (any, error, error) {
	if a.Kind == "renewal" {
		in, err := intentOf[renewal](a)
		if err != nil {
			return nil, nil, err
		}
		if in.Auto {
			a.State, a.FailureCode, a.FailureMessage = store.AttemptDeclined, why.Code, why.Message
			if err := tx.FinishPaymentAttempt(a, s.now()); err != nil {
				return nil, nil, err
			}
			sub, err := tx.Subscription(a.SubscriptionID)
			if err != nil {
				return nil, nil, err
			}
			res, err := s.recordRenewal(tx, cust, sub, &in, &paid{attempt: a}, why)
			return res, nil, err
		}
	}
	if a.Kind == "payment" {
		in, err := intentOf[payIntent](a)
		if err != nil {
			return nil, nil, err
		}
		if in.Purpose == "reconciliation" {
			// The seats are owed whatever the card says: the invoice stays
			// open, with the failed payment on record.
			a.State, a.FailureCode, a.FailureMessage = store.AttemptDeclined, why.Code, why.Message
			if err := tx.FinishPaymentAttempt(a, s.now()); err != nil {
				return nil, nil, err
			}
			inv, err := tx.Invoice(a.InvoiceID)
			if err != nil {
				return nil, nil, err
			}
			return inv, nil, tx.InsertPayment(&fulfill.Payment{ID: "pay_" + a.ID, InvoiceID: inv.ID, Provider: s.Payments.Name(),
				Amount: a.Amount, Currency: inv.Currency, Status: "failed", FailureCode: why.Code, CreatedAt: s.now()})
		}
		if in.Purpose == "dunning" {
			a.State, a.FailureCode, a.FailureMessage = store.AttemptDeclined, why.Code, why.Message
			if err := tx.FinishPaymentAttempt(a, s.now()); err != nil {
				return nil, nil, err
			}
			inv, err := tx.Invoice(a.InvoiceID)
			if err != nil {
				return nil, nil, err
			}
			return inv, nil, s.recordDunningDecline(tx, cust, inv, why)
		}
	}
	return nil, why, s.declineAttempt(tx, a, why)
}

// declineIsOutcome reports whether a declined attempt is recorded as a
// result, not refused: an automatic renewal (left past due) or a dunning
// retry (scheduled again).
func (s *Service) declineIsOutcome(a *store.PaymentAttempt) bool {
	switch a.Kind {
	case "renewal":
		var in renewal
		return json.Unmarshal(a.Intent, &in) == nil && in.Auto
	case "payment":
		var in payIntent
		return json.Unmarshal(a.Intent, &in) == nil && (in.Purpose == "dunning" || in.Purpose == "reconciliation")
	}
	return false
}

// settled is the answer to a request whose attempt is finished: the
// decline, or the result, with the request's answer written.
func (s *Service) settled(tx *store.Tx, a *store.PaymentAttempt) (any, error, error) {
	if a.State == store.AttemptDeclined && !s.declineIsOutcome(a) {
		return nil, &fulfill.Error{Code: a.FailureCode, Message: a.FailureMessage, Field: "payment_method"}, nil
	}
	switch a.Kind {
	case "purchase":
		res, err := s.purchaseOutcome(tx, a)
		return res, nil, err
	case "change", "renewal":
		res, err := s.changeOutcome(tx, a)
		return res, nil, err
	case "payment":
		inv, err := tx.Invoice(a.InvoiceID)
		if err != nil {
			return nil, nil, err
		}
		return inv, nil, s.finish(tx, inv)
	case "refund":
		in, err := intentOf[refundIntent](a)
		if err != nil {
			return nil, nil, err
		}
		cn, err := tx.CreditNote(in.CreditNote.ID)
		if err != nil {
			return nil, nil, err
		}
		return cn, nil, s.finish(tx, cn)
	}
	return nil, nil, fmt.Errorf("payment attempt %s: unknown kind %q", a.ID, a.Kind)
}

// resume continues a request whose first run recorded its attempt and then
// died (a retry with the same Idempotency-Key).
func (s *Service) resume(ctx context.Context, a *store.PaymentAttempt) (any, error) {
	if a.State == store.AttemptPending {
		return s.settle(ctx, a)
	}
	var res any
	var refusal error
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.PaymentAttempt(a.ID)
		if err != nil {
			return err
		}
		res, refusal, err = s.settled(tx, cur)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, refusal
}

// callProvider is phase 2: the charge (or, for a refund, the refund) at
// the provider, with the attempt's idempotency key.
func (s *Service) callProvider(ctx context.Context, a *store.PaymentAttempt) (fulfill.ChargeResult, error) {
	if a.Kind == "refund" {
		rf, ok := s.Payments.(Refunder)
		if !ok {
			return fulfill.ChargeResult{}, fmt.Errorf("payment attempt %s: provider %s can not refund", a.ID, s.Payments.Name())
		}
		ref, err := rf.Refund(ctx, a.PaymentMethod, a.Amount, a.ProviderKey)
		return fulfill.ChargeResult{Provider: s.Payments.Name(), Ref: ref}, err
	}
	return s.Payments.Charge(ctx, fulfill.ChargeRequest{CustomerID: a.CustomerID, InvoiceID: a.InvoiceID, Amount: a.Amount,
		Currency: a.Currency, PaymentMethod: a.PaymentMethod, IdempotencyKey: a.ProviderKey, Description: "Invoice " + a.InvoiceID})
}

// paid is a charge the provider took, for phase 3.
type paid struct {
	attempt  *store.PaymentAttempt
	provider string
}

// recordPurchase stores a purchase and all that follows from it, with the
// request's answer: the single transaction of a purchase with nothing to
// charge, or phase 3 of a card purchase (p is the charge taken).
func (s *Service) recordPurchase(tx *store.Tx, actor Actor, cust *fulfill.Customer, sub *fulfill.Subscription, inv *fulfill.Invoice,
	p *paid, res *PurchaseResult, x purchaseExtras) error {
	now := s.now()
	// The invoice is numbered with the commit (store.NumberInvoicesAtCommit):
	// nothing below renders its number but into what the transaction writes
	// and answers.
	tx.NumberInvoicesAtCommit()
	if err := s.storePurchased(tx, actor, sub, inv, x); err != nil {
		return err
	}
	if _, err := s.issueLicense(tx, sub, cust, licenseTerms{reason: "purchase", email: true}); err != nil {
		return err
	}
	if err := s.saveCheckoutCard(tx, actor, cust, sub.PaymentMethod); err != nil {
		return err
	}
	// A converted trial keeps its activation: its instance gets the paid
	// license at its next sync, with no new code.
	if sub.Kind == fulfill.KindSelfManaged && !x.ConvertsTrial {
		res.ActivationCode = fulfill.NewActivationCode()
		if err := tx.InsertActivationCode(sub.ID, HashSecret(res.ActivationCode), now); err != nil {
			return err
		}
	}
	if err := s.emit(tx, "subscription.created", sub.ID, cust.ID, map[string]any{"subscription": sub, "invoice_id": inv.ID}); err != nil {
		return err
	}
	// The invoice number last: the gapless counter is one row that every
	// invoicing transaction takes in turn and holds until it commits. A
	// sample of PostgreSQL's waits under 32 buyers found nearly all of
	// them on it when it was taken first; from here on only what names
	// the number is written (the invoice, its ledger postings, payment,
	// mail, audit entry and the answer).
	if p == nil {
		if err := s.finalize(tx.Context(), tx, cust, inv); err != nil {
			return err
		}
	} else if err := s.finalizeCharged(tx, cust, inv, p); err != nil {
		return err
	}
	res.Subscription, res.Invoice = sub, inv
	tx.AfterCommit(func() { s.Metrics.Purchase(tx.Context(), sub.Plan) })
	if err := s.audit(tx, actor, "subscription.purchase", "subscription", sub.ID, map[string]any{"plan": sub.Plan,
		"seats": sub.Seats, "invoice": inv.Number, "total": inv.Total, "payment_method": sub.PaymentMethod}, ""); err != nil {
		return err
	}
	return s.finish(tx, res)
}

// finalizeCharged numbers, stores and books an invoice whose charge the
// provider has taken, and applies the credit phase 1 reserved and the charge.
func (s *Service) finalizeCharged(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice, p *paid) error {
	inv.DueOn = inv.IssuedOn // paid when issued: nothing is left to be due later
	if err := tx.InsertInvoice(inv); err != nil {
		return err
	}
	if err := s.emit(tx, "invoice.finalized", inv.ID, cust.ID, inv); err != nil {
		return err
	}
	if err := s.bookInvoice(tx, inv); err != nil {
		return err
	}
	if c := p.attempt.CreditReserved; c > 0 {
		// The credit left the balance in phase 1; now it pays the invoice.
		if err := s.recordPayment(tx, cust, inv, c, "account_credit", "", store.AccountCustomerCredit); err != nil {
			return err
		}
	}
	if err := s.recordPayment(tx, cust, inv, p.attempt.Amount, p.provider, p.attempt.ProviderRef, store.AccountCash); err != nil {
		return err
	}
	return s.mailReceipt(tx, cust, inv)
}

// recordCardPayment applies a charge the provider took to an open invoice,
// with the request's answer.
func (s *Service) recordCardPayment(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice, p *paid) error {
	if err := s.recordPayment(tx, cust, inv, p.attempt.Amount, p.provider, p.attempt.ProviderRef, store.AccountCash); err != nil {
		return err
	}
	if err := s.mailReceipt(tx, cust, inv); err != nil {
		return err
	}
	return s.finish(tx, inv)
}

// finalizeUncharged numbers, stores and books an invoice whose charge the
// provider declined, leaving it open less the credit phase 1 reserved.
func (s *Service) finalizeUncharged(tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice, credit int64) error {
	if err := tx.InsertInvoice(inv); err != nil {
		return err
	}
	if err := s.emit(tx, "invoice.finalized", inv.ID, cust.ID, inv); err != nil {
		return err
	}
	if err := s.bookInvoice(tx, inv); err != nil {
		return err
	}
	if credit > 0 {
		return s.recordPayment(tx, cust, inv, credit, "account_credit", "", store.AccountCustomerCredit)
	}
	return nil
}

// declineAttempt rolls a pending attempt back to a clean decline: the
// reserved credit returns to the balance; nothing else was stored.
func (s *Service) declineAttempt(tx *store.Tx, a *store.PaymentAttempt, why *fulfill.Error) error {
	if err := s.releaseRedemption(tx, a); err != nil {
		return err
	}
	if a.CreditReserved > 0 {
		cust, err := tx.Customer(a.CustomerID)
		if err != nil {
			return err
		}
		if err := tx.SetCustomerCredit(cust.ID, cust.Credit+a.CreditReserved); err != nil {
			return err
		}
	}
	a.State, a.FailureCode, a.FailureMessage = store.AttemptDeclined, why.Code, why.Message
	return tx.FinishPaymentAttempt(a, s.now())
}

// purchaseOutcome is the purchase of a finished attempt, with a new
// activation code (the first one was never shown to anyone: its request
// died before answering), and the request's answer written.
func (s *Service) purchaseOutcome(tx *store.Tx, a *store.PaymentAttempt) (*PurchaseResult, error) {
	sub, err := tx.Subscription(a.SubscriptionID)
	if err != nil {
		return nil, err
	}
	inv, err := tx.Invoice(a.InvoiceID)
	if err != nil {
		return nil, err
	}
	res := &PurchaseResult{Subscription: sub, Invoice: inv}
	if answerOf(tx.Context()) == nil {
		return res, nil // the completer: nobody to answer
	}
	if sub.Kind == fulfill.KindSelfManaged {
		res.ActivationCode = fulfill.NewActivationCode()
		if err := tx.InsertActivationCode(sub.ID, HashSecret(res.ActivationCode), s.now()); err != nil {
			return nil, err
		}
	}
	return res, s.finish(tx, res)
}

// CompletePayment is the completer: it finishes a payment attempt whose
// request died between phases and was not retried, by asking the provider
// again with the attempt's idempotency key (which returns the first charge,
// or takes it now if the first call never reached the provider), then
// recording the outcome. A finished attempt is left alone.
func (s *Service) CompletePayment(ctx context.Context, attemptID string) error {
	a, err := s.DB.PaymentAttempt(ctx, attemptID)
	if err != nil {
		return err
	}
	if a.State != store.AttemptPending {
		return nil
	}
	_, err = s.settle(ctx, a)
	var fe *fulfill.Error
	if errors.As(err, &fe) {
		return nil // a decline is an outcome, recorded
	}
	return err
}

// startedAttempt is the attempt a retried request's first run recorded
// under id (derived from the request's seed), or nil. A request without an
// Idempotency-Key has a random id: there is nothing to look up.
func (s *Service) startedAttempt(ctx context.Context, id string) (*store.PaymentAttempt, error) {
	if a := answerOf(ctx); a == nil || !a.Claimed() {
		// No key, or a key that had no record: its seed is new, and no
		// attempt has an id derived from it.
		return nil, nil
	}
	a, err := s.DB.PaymentAttempt(ctx, id)
	if fulfill.ErrorCode(err) == fulfill.ENotFound {
		return nil, nil
	}
	return a, err
}

// asResult types what settle or resume returned for the use case.
func asResult[T any](v any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("payment attempt: result %T, want %T", v, zero)
	}
	return t, nil
}

// intentOf reads what phase 1 recorded for phase 3 of the attempt.
func intentOf[T any](a *store.PaymentAttempt) (T, error) {
	var in T
	if err := json.Unmarshal(a.Intent, &in); err != nil {
		return in, fmt.Errorf("payment attempt %s: intent: %w", a.ID, err)
	}
	return in, nil
}
