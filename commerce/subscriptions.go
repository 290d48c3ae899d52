package commerce

import (
	"context"
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

// Purchase buys a plan: subscription, invoice and payment in one transaction.
// A declined card rolls everything back.
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
	var res PurchaseResult
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		cust, err := tx.Customer(in.CustomerID)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ENotFound, "customer_id", "No customer %q.", in.CustomerID))
		}
		plan, err := tx.PlanByCode(in.Plan)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plan", "No plan %q in the catalog.", in.Plan))
		}
		price, err := priceIn(plan, cust.Currency)
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
		line := billing.FullTerm(billing.KindSubscription, fmt.Sprintf("%s, %s", plan.Name, plural(in.Seats, "seat")),
			in.Seats, price, start.Time(), end.Time())
		inv, err := s.newInvoice(tx, cust, &sub.ID, []billing.Line{line}, start, end, in.PaymentMethod)
		if err != nil {
			return err
		}
		if err := tx.InsertSubscription(sub, store.Change{Action: "purchase", Actor: string(actor), InvoiceID: &inv.ID, At: now}); err != nil {
			return err
		}
		if err := s.finalize(ctx, tx, cust, inv); err != nil {
			return err
		}
		if _, err := s.issueLicense(tx, sub, cust, licenseTerms{reason: "purchase", email: true}); err != nil {
			return err
		}
		if plan.Kind == fulfill.KindSelfManaged {
			res.ActivationCode = fulfill.NewActivationCode()
			if err := tx.InsertActivationCode(sub.ID, HashSecret(res.ActivationCode), now); err != nil {
				return err
			}
		}
		res.Subscription, res.Invoice = sub, inv
		if err := s.audit(tx, actor, "subscription.purchase", "subscription", sub.ID, map[string]any{"plan": sub.Plan,
			"seats": sub.Seats, "invoice": inv.Number, "total": inv.Total, "payment_method": in.PaymentMethod}, ""); err != nil {
			return err
		}
		return s.emit(tx, "subscription.created", sub.ID, cust.ID, map[string]any{"subscription": sub, "invoice_id": inv.ID})
	})
	if err != nil {
		return nil, err
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
		inv.DueOn = today.AddDays(InvoiceTermsDays)
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
		return nil
	}
	// The key is derived from the invoice, so a retried charge is one charge.
	return s.charge(ctx, tx, cust, inv, inv.PaymentMethod, "fulfill-"+inv.ID)
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
		return []billing.Line{line}, "seats_added", nil
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
func (s *Service) change(ctx context.Context, id string, preview bool,
	apply func(*store.Tx, *fulfill.Subscription) ([]billing.Line, string, error), actor Actor) (*Preview, *ChangeResult, error) {
	if preview {
		pv, err := s.previewChange(ctx, id, apply)
		return pv, nil, err
	}
	var res *ChangeResult
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
		if err := s.finalize(ctx, tx, cust, inv); err != nil {
			return err
		}
		if err := tx.UpdateSubscription(sub, store.Change{Action: action, Actor: string(actor), InvoiceID: &inv.ID, At: s.now()}); err != nil {
			return err
		}
		if _, err := s.issueLicense(tx, sub, cust, licenseTerms{reason: action, email: true}); err != nil {
			return err
		}
		res = &ChangeResult{Subscription: sub, Invoice: inv}
		event := map[string]string{"seats_added": "subscription.seats_changed", "plan_changed": "subscription.plan_changed"}[action]
		if err := s.audit(tx, actor, event, "subscription", sub.ID, map[string]any{"seats": sub.Seats, "plan": sub.Plan,
			"invoice": inv.Number, "total": inv.Total}, ""); err != nil {
			return err
		}
		return s.emit(tx, event, sub.ID, cust.ID, res)
	})
	if err != nil {
		return nil, nil, err
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
