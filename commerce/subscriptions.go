package commerce

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// PurchaseInput is a purchase request.
type PurchaseInput struct {
	CustomerID         string
	Plan               string
	Seats              int64
	StartsOn           *fulfill.Date
	PaymentMethod      string
	SeatReconciliation bool
	Namespace          string // SaaS: the namespace to provision; defaults to the customer id
	// Coupon, UnitAmount (a contract seat price) and TrialID (a running
	// trial this purchase converts): see purchaseTerms.
	Coupon     string
	UnitAmount *int64
	TrialID    string
}

var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]{0,254}$`)

// PurchaseResult is a new subscription with its first invoice and, for
// self-managed plans, its activation code (shown once; only its hash is kept).
type PurchaseResult struct {
	Subscription   *fulfill.Subscription
	Invoice        *fulfill.Invoice
	ActivationCode string
}

func (s *Service) checkPaymentMethod(pm string) error {
	if pm == "" {
		return fulfill.FieldError(fulfill.ERequired, "payment_method", "A payment method is required: a card payment method id or \"invoice\".")
	}
	if pm != PayByInvoice && !s.Payments.ValidMethod(pm) {
		return fulfill.FieldError(fulfill.EInvalid, "payment_method", "Unknown payment method %q for provider %s.", pm, s.Payments.Name())
	}
	return nil
}

// Purchase buys a plan: subscription, invoice, payment, license and
// activation code. Paid by card, it runs in atomic phases (see
// chargePurchase): the charge happens outside any transaction, and a
// declined card leaves nothing active behind.
func (s *Service) Purchase(ctx context.Context, actor Actor, in PurchaseInput) (*PurchaseResult, error) {
	if in.CustomerID == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "customer_id", "customer_id is required.")
	}
	if in.Plan == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "plan", "plan is required.")
	}
	if err := checkSeats(in.Seats, "seats"); err != nil {
		return nil, err
	}
	if err := s.checkPaymentMethod(in.PaymentMethod); err != nil {
		return nil, err
	}
	if in.Namespace != "" && !namespaceRE.MatchString(in.Namespace) {
		return nil, fulfill.FieldError(fulfill.EInvalid, "namespace", "A namespace is 1 to 255 letters, digits, '-', '_', '.' and '/'.")
	}
	if err := checkPurchaseTerms(in); err != nil {
		return nil, err
	}
	today := s.today()
	start := today
	if in.StartsOn != nil {
		start = *in.StartsOn
		if start.Before(today) {
			return nil, fulfill.FieldError(fulfill.EOutOfRange, "starts_on", "starts_on %s is in the past (today is %s).", start, today)
		}
		if start.After(today.AddDays(365)) {
			return nil, fulfill.FieldError(fulfill.EOutOfRange, "starts_on", "starts_on may be at most a year ahead.")
		}
	}
	// The attempt id comes first from the request's seed: a retry with the
	// same Idempotency-Key finds the attempt its first run recorded.
	attemptID := fulfill.NewIDFor(ctx, "pat")
	if a, err := s.startedAttempt(ctx, attemptID); a != nil {
		return asResult[*PurchaseResult](s.resume(ctx, a))
	} else if err != nil {
		return nil, err
	}
	var res PurchaseResult
	var pending *store.PaymentAttempt
	s.failpoint("purchase-begins")
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		cust, err := tx.Customer(in.CustomerID)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ENotFound, "customer_id", "No customer %q.", in.CustomerID))
		}
		if err := checkPO(cust, in.PaymentMethod); err != nil {
			return err
		}
		plan, err := tx.PlanByCode(in.Plan)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plan", "No plan %q in the catalog.", in.Plan))
		}
		price, err := purchasePrice(plan, cust.Currency, in.UnitAmount)
		if err != nil {
			return err
		}
		end := fulfill.DateOf(billing.AddMonths(start.Time(), plan.TermMonths))
		now := s.now()
		sub := &fulfill.Subscription{ID: fulfill.NewIDFor(ctx, "sub"), CustomerID: cust.ID, PlanID: plan.ID, Plan: plan.Code,
			PlanVersion: plan.Version, Kind: plan.Kind, State: fulfill.StateActive, Seats: in.Seats, StartsOn: start, EndsOn: end,
			AutoRenew: true, Currency: cust.Currency, UnitAmount: price, PaymentMethod: in.PaymentMethod,
			SeatReconciliation: in.SeatReconciliation, CreatedAt: now, UpdatedAt: now}
		if plan.Kind == fulfill.KindSaaS {
			sub.Namespace = or(in.Namespace, cust.ID)
		}
		x, err := s.purchaseTerms(tx, in, cust, plan, sub)
		if err != nil {
			return err
		}
		start, end := sub.StartsOn, sub.EndsOn // a converted trial is paid from today
		line := billing.FullTerm(billing.KindSubscription, fmt.Sprintf("%s, %s", plan.Name, plural(in.Seats, "seat")),
			in.Seats, price, start.Time(), end.Time())
		lines, c, err := s.redeemCoupon(tx, in.Coupon, plan.Code, cust.Currency, []billing.Line{line}, start, end, true)
		if err != nil {
			return err
		}
		x.Terms = purchasedTerms(sub.ID, c, in.UnitAmount, now)
		inv, err := s.newInvoice(tx, cust, &sub.ID, lines, start, end, in.PaymentMethod)
		if err != nil {
			return err
		}
		if credit := min(cust.Credit, inv.Total); in.PaymentMethod != PayByInvoice && inv.Total > credit {
			// A card charge: phase 1 records the intent (the coupon's
			// redemption counted with it); the charge runs after this
			// transaction commits.
			pending, err = s.purchaseIntent(tx, actor, attemptID, cust, sub, inv, credit, x)
			return err
		}
		// Nothing to charge now (paid by invoice, by account credit, or
		// free): one transaction, with its answer.
		return s.recordPurchase(tx, actor, cust, sub, inv, nil, &res, x)
	})
	if err != nil {
		return nil, err
	}
	if pending != nil {
		s.failpointAt("after-phase1", pending)
		return asResult[*PurchaseResult](s.settle(ctx, pending))
	}
	return &res, nil
}

// newInvoice assembles an invoice (lines, tax, totals) for a customer. It
// stores nothing but the account credit a negative total leaves: finalize
// stores the invoice.
func (s *Service) newInvoice(tx *store.Tx, cust *fulfill.Customer, subID *string, lines []billing.Line,
	start, end fulfill.Date, paymentMethod string) (*fulfill.Invoice, error) {
	inv, excess, err := s.buildInvoice(tx.Context(), cust, subID, lines, start, end, paymentMethod)
	if err != nil {
		return nil, err
	}
	if excess > 0 {
		if err := tx.SetCustomerCredit(cust.ID, cust.Credit+excess); err != nil {
			return nil, err
		}
		cust.Credit += excess
	}
	return inv, nil
}

// buildInvoice computes an invoice in memory, and the account credit left
// over when its lines add up to less than nothing.
func (s *Service) buildInvoice(ctx context.Context, cust *fulfill.Customer, subID *string, lines []billing.Line,
	start, end fulfill.Date, paymentMethod string) (*fulfill.Invoice, int64, error) {
	decision := s.Tax.Decide(cust.Country, cust.TaxID)
	b, err := billing.Build(cust.Currency, lines, decision, start.Time(), end.Time())
	if err != nil {
		return nil, 0, err
	}
	today := s.today()
	inv := &fulfill.Invoice{ID: fulfill.NewIDFor(ctx, "inv"), CustomerID: cust.ID, SubscriptionID: subID, Status: fulfill.InvoiceOpen,
		Currency: cust.Currency, Subtotal: b.Totals.Subtotal, Tax: b.Totals.Tax, Total: b.Totals.Total,
		TaxRateBP: decision.RateBasisPoints, ReverseCharge: decision.ReverseCharge, TaxNote: decision.Note,
		IssuedOn: today, DueOn: today, PaymentMethod: paymentMethod, CreatedAt: s.now()}
	if paymentMethod == PayByInvoice {
		inv.DueOn, inv.PONumber = today.AddDays(cust.TermsDays), cust.PONumber
	}
	inv.PeriodStart, inv.PeriodEnd, inv.NetRevenue = start, end, inv.Subtotal
	for _, l := range append(b.Lines, b.Tax) {
		inv.Lines = append(inv.Lines, fulfill.InvoiceLine{Kind: l.Kind, Description: l.Description, Quantity: l.Quantity,
			UnitAmount: l.UnitAmount, Amount: l.Amount, PeriodStart: fulfill.DateOf(l.PeriodStart),
			PeriodEnd: fulfill.DateOf(l.PeriodEnd), Proration: l.Proration})
	}
	inv.AmountDue = inv.Total
	return inv, b.CreditExcess, nil
}

// finalize numbers and stores the invoice, then collects it: a zero invoice is
// paid at once, a card is charged now, an invoice payment stays open.
func (s *Service) finalize(ctx context.Context, tx *store.Tx, cust *fulfill.Customer, inv *fulfill.Invoice) error {
	if err := tx.InsertInvoice(inv); err != nil {
		return err
	}
	if err := s.emit(tx, "invoice.finalized", inv.ID, cust.ID, inv); err != nil {
		return err
	}
	if err := s.bookInvoice(tx, inv); err != nil {
		return err
	}
	if err := s.applyCredit(tx, cust, inv); err != nil {
		return err
	}
	switch {
	case inv.Status != fulfill.InvoiceOpen:
		return nil // the account credit paid it
	case store.DueOf(inv) == 0:
		now := s.now()
		inv.Status, inv.PaidAt = fulfill.InvoicePaid, &now
		if err := tx.SaveInvoiceAmounts(inv); err != nil {
			return err
		}
		return s.invoicePaid(tx, cust, inv)
	case inv.PaymentMethod == PayByInvoice:
		return s.mailInvoice(tx, cust, inv)
	}
	// Due by card: charged in atomic phases after this transaction commits
	// (paymentIntent, settle), never inside it.
	return nil
}

// Preview is what a change would cost, without making it.
type Preview struct {
	AmountDue int64                 `json:"amount_due"`
	Currency  string                `json:"currency"`
	Lines     []fulfill.InvoiceLine `json:"lines"`
}

// ChangeResult is a changed subscription and the invoice for the change.
type ChangeResult struct {
	Subscription *fulfill.Subscription `json:"subscription"`
	Invoice      *fulfill.Invoice      `json:"invoice"`
}

// changeable loads a subscription that may still be changed mid-term.
func (s *Service) changeable(tx *store.Tx, id string) (*fulfill.Subscription, *fulfill.Customer, error) {
	sub, err := tx.Subscription(id)
	if err != nil {
		return nil, nil, err
	}
	if sub.State == fulfill.StateExpired {
		return nil, nil, fulfill.Errorf(fulfill.EConflict, "Subscription %s has expired; renew it first.", id)
	}
	if !s.today().Before(sub.EndsOn) {
		return nil, nil, fulfill.Errorf(fulfill.EConflict, "Subscription %s's term ended on %s; renew it first.", id, sub.EndsOn)
	}
	if err := refuseCustom(tx, sub); err != nil {
		return nil, nil, err
	}
	cust, err := tx.Customer(sub.CustomerID)
	return sub, cust, err
}

// changeDay is the day a mid-term change takes effect: today, or the start
// of a term that has not begun.
func (s *Service) changeDay(sub *fulfill.Subscription) fulfill.Date {
	if d := s.today(); d.After(sub.StartsOn) {
		return d
	}
	return sub.StartsOn
}

// ChangeSeats sets a new seat total mid-term, charging the added seats
// prorated. With preview, it only computes the price.
func (s *Service) ChangeSeats(ctx context.Context, actor Actor, id string, seats int64, preview bool) (*Preview, *ChangeResult, error) {
	if err := checkSeats(seats, "seats"); err != nil {
		return nil, nil, err
	}
	return s.change(ctx, id, preview, func(tx *store.Tx, sub *fulfill.Subscription) ([]billing.Line, string, error) {
		if seats == sub.Seats {
			return nil, "", fulfill.FieldError(fulfill.EInvalid, "seats", "The subscription already has %d seats.", seats)
		}
		if seats < sub.Seats {
			return nil, "", fulfill.FieldError(fulfill.EInvalid, "seats", "Seats can only be reduced at renewal (now %d, asked %d).", sub.Seats, seats)
		}
		line, err := billing.SeatAddition(seats-sub.Seats, sub.UnitAmount, s.changeDay(sub).Time(), sub.StartsOn.Time(), sub.EndsOn.Time())
		if err != nil {
			return nil, "", err
		}
		sub.Seats = seats
		lines, err := s.termDiscount(tx, sub, []billing.Line{line}, s.changeDay(sub), sub.EndsOn)
		return lines, "seats_added", err
	}, actor)
}

// ChangePlan upgrades the tier mid-term: the unused part of the old plan is
// credited and the unused part of the new plan charged, for the same seats.
func (s *Service) ChangePlan(ctx context.Context, actor Actor, id, code string, preview bool) (*Preview, *ChangeResult, error) {
	if code == "" {
		return nil, nil, fulfill.FieldError(fulfill.ERequired, "plan", "plan is required.")
	}
	return s.change(ctx, id, preview, func(tx *store.Tx, sub *fulfill.Subscription) ([]billing.Line, string, error) {
		plan, err := tx.PlanByCode(code)
		if err != nil {
			return nil, "", fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plan", "No plan %q in the catalog.", code))
		}
		if plan.Code == sub.Plan {
			return nil, "", fulfill.FieldError(fulfill.EInvalid, "plan", "The subscription is already on %q.", code)
		}
		if plan.Kind != sub.Kind {
			return nil, "", fulfill.FieldError(fulfill.EInvalid, "plan", "Plan %q is %s; the subscription is %s.", code, plan.Kind, sub.Kind)
		}
		price, err := priceIn(plan, sub.Currency)
		if err != nil {
			return nil, "", err
		}
		if price <= sub.UnitAmount {
			return nil, "", fulfill.FieldError(fulfill.EDowngradeNotAllowed, "plan", "Plan %q does not cost more per seat; a downgrade takes effect at renewal.", code)
		}
		credit, charge, err := billing.Upgrade(sub.Seats, sub.UnitAmount, price, s.changeDay(sub).Time(), sub.StartsOn.Time(), sub.EndsOn.Time())
		if err != nil {
			return nil, "", err
		}
		sub.PlanID, sub.Plan, sub.PlanVersion, sub.UnitAmount = plan.ID, plan.Code, plan.Version, price
		return []billing.Line{credit, charge}, "plan_changed", nil
	}, actor)
}

// change runs a mid-term change: price it, and unless previewing, store it,
// invoice it and collect. A preview prices the change in a read-only
// transaction, in memory: it takes no lock and never waits for the writer.
// Collected by card, it runs in atomic phases (see settle): phase 1 records
// the priced change as the attempt's intent.
func (s *Service) change(ctx context.Context, id string, preview bool,
	apply func(*store.Tx, *fulfill.Subscription) ([]billing.Line, string, error), actor Actor) (*Preview, *ChangeResult, error) {
	if preview {
		pv, err := s.previewChange(ctx, id, apply)
		return pv, nil, err
	}
	attemptID := fulfill.NewIDFor(ctx, "pat")
	if a, err := s.startedAttempt(ctx, attemptID); a != nil {
		res, err := asResult[*ChangeResult](s.resume(ctx, a))
		return nil, res, err
	} else if err != nil {
		return nil, nil, err
	}
	var res *ChangeResult
	var pending *store.PaymentAttempt
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, cust, err := s.changeable(tx, id)
		if err != nil {
			return err
		}
		day := s.changeDay(sub)
		lines, action, err := apply(tx, sub)
		if err != nil {
			return err
		}
		inv, err := s.newInvoice(tx, cust, &sub.ID, lines, day, sub.EndsOn, sub.PaymentMethod)
		if err != nil {
			return err
		}
		// One charge at a time per subscription: phase 3 applies the change
		// to the subscription as it then is.
		if busy, err := tx.PendingPaymentFor(sub.ID); err != nil {
			return err
		} else if busy {
			return fulfill.Errorf(fulfill.EConflict, "A payment for subscription %s is still being processed; retry in a minute.", sub.ID)
		}
		if credit := min(cust.Credit, inv.Total); sub.PaymentMethod != PayByInvoice && inv.Total > credit {
			pending, err = s.changeIntent(tx, actor, attemptID, cust, sub, inv, action, credit)
			return err
		}
		res, err = s.recordChange(tx, actor, cust, sub, inv, action, nil)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if pending != nil {
		s.failpointAt("after-phase1", pending)
		res, err := asResult[*ChangeResult](s.settle(ctx, pending))
		return nil, res, err
	}
	return nil, res, nil
}

// previewChange prices a mid-term change as change would invoice it, reading
// in a read-only transaction and storing nothing.
func (s *Service) previewChange(ctx context.Context, id string,
	apply func(*store.Tx, *fulfill.Subscription) ([]billing.Line, string, error)) (*Preview, error) {
	var pv *Preview
	err := s.DB.ReadTx(ctx, func(tx *store.Tx) error {
		sub, cust, err := s.changeable(tx, id)
		if err != nil {
			return err
		}
		day := s.changeDay(sub)
		lines, _, err := apply(tx, sub)
		if err != nil {
			return err
		}
		inv, _, err := s.buildInvoice(ctx, cust, &sub.ID, lines, day, sub.EndsOn, sub.PaymentMethod)
		if err != nil {
			return err
		}
		pv = &Preview{AmountDue: inv.Total, Currency: inv.Currency, Lines: inv.Lines}
		return nil
	})
	return pv, err
}

// changeIntent is what phase 3 of a mid-term change applies: the changed
// fields, and the invoice for them.
type changeIntent struct {
	Actor       Actor            `json:"actor"`
	Action      string           `json:"action"` // seats_added, plan_changed
	Seats       int64            `json:"seats"`
	PlanID      string           `json:"plan_id"`
	Plan        string           `json:"plan"`
	PlanVersion int              `json:"plan_version"`
	UnitAmount  int64            `json:"unit_amount"`
	Invoice     *fulfill.Invoice `json:"invoice"`
	// AddOns is the subscription's new add-on set (add_on_changed).
	AddOns []fulfill.SubscriptionAddOn `json:"add_ons,omitempty"`
}

// apply makes the change on the subscription as phase 3 finds it.
func (in *changeIntent) apply(sub *fulfill.Subscription) {
	switch in.Action {
	case "seats_added":
		sub.Seats = in.Seats
	case "plan_changed":
		sub.PlanID, sub.Plan, sub.PlanVersion, sub.UnitAmount = in.PlanID, in.Plan, in.PlanVersion, in.UnitAmount
	case actionAddOn:
		sub.AddOns = in.AddOns
	}
}

// changeIntent is phase 1 of a change collected by card.
func (s *Service) changeIntent(tx *store.Tx, actor Actor, id string, cust *fulfill.Customer, sub *fulfill.Subscription,
	inv *fulfill.Invoice, action string, credit int64) (*store.PaymentAttempt, error) {
	if credit > 0 {
		cust.Credit -= credit
		if err := tx.SetCustomerCredit(cust.ID, cust.Credit); err != nil {
			return nil, err
		}
	}
	intent, err := json.Marshal(changeIntent{Actor: actor, Action: action, Seats: sub.Seats, PlanID: sub.PlanID, Plan: sub.Plan,
		PlanVersion: sub.PlanVersion, UnitAmount: sub.UnitAmount, Invoice: inv, AddOns: addOnsIf(action, sub)})
	if err != nil {
		return nil, err
	}
	return s.recordIntent(tx, &store.PaymentAttempt{ID: id, Kind: "change", CustomerID: cust.ID, SubscriptionID: sub.ID,
		InvoiceID: inv.ID, Amount: inv.Total - credit, Currency: inv.Currency, PaymentMethod: sub.PaymentMethod,
		CreditReserved: credit, Intent: intent})
}

// recordChange stores a change and all that follows from it, with the
// request's answer: the single transaction of a change with nothing to
// charge now, or phase 3 of one charged by card (p is the charge taken).
func (s *Service) recordChange(tx *store.Tx, actor Actor, cust *fulfill.Customer, sub *fulfill.Subscription, inv *fulfill.Invoice,
	action string, p *paid) (*ChangeResult, error) {
	if p == nil {
		if err := s.finalize(tx.Context(), tx, cust, inv); err != nil {
			return nil, err
		}
	} else if err := s.finalizeCharged(tx, cust, inv, p); err != nil {
		return nil, err
	}
	if err := tx.UpdateSubscription(sub, store.Change{Action: action, Actor: string(actor), InvoiceID: &inv.ID, At: s.now()}); err != nil {
		return nil, err
	}
	if action == actionAddOn {
		if err := tx.SetSubscriptionAddOns(sub.ID, sub.AddOns, s.now()); err != nil {
			return nil, err
		}
	}
	if _, err := s.issueLicense(tx, sub, cust, licenseTerms{reason: action, email: true}); err != nil {
		return nil, err
	}
	res := &ChangeResult{Subscription: sub, Invoice: inv}
	event := map[string]string{"seats_added": "subscription.seats_changed", "plan_changed": "subscription.plan_changed",
		actionAddOn: "subscription.add_ons_changed"}[action]
	if err := s.audit(tx, actor, event, "subscription", sub.ID, map[string]any{"seats": sub.Seats, "plan": sub.Plan,
		"add_ons": AddOnQuantities(sub.AddOns), "invoice": inv.Number, "total": inv.Total}, ""); err != nil {
		return nil, err
	}
	if err := s.emit(tx, event, sub.ID, cust.ID, res); err != nil {
		return nil, err
	}
	return res, s.finish(tx, res)
}

// changeOutcome is the change of a finished attempt, with the request's
// answer written.
func (s *Service) changeOutcome(tx *store.Tx, a *store.PaymentAttempt) (*ChangeResult, error) {
	sub, err := tx.Subscription(a.SubscriptionID)
	if err != nil {
		return nil, err
	}
	inv, err := tx.Invoice(a.InvoiceID)
	if err != nil {
		return nil, err
	}
	res := &ChangeResult{Subscription: sub, Invoice: inv}
	return res, s.finish(tx, res)
}
