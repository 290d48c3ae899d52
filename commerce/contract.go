package commerce

import (
	"context"
	"fmt"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// pricedRenewal is a subscription's next term priced: the plan and seat
// price it renews at, the seats, the term, the true-up, the invoice lines
// (discount included) and the subscription's terms as the renewal leaves
// them (one discounted term fewer, the next contract price in force, the
// scheduled change used up).
type pricedRenewal struct {
	plan       *fulfill.Plan
	price      int64
	seats      int64
	start, end fulfill.Date
	trueUp     int64
	maxUsers   int64
	lines      []billing.Line
	addOns     []fulfill.SubscriptionAddOn // of the new term (renewalAddOns)
	terms      *store.SubscriptionTerms
}

// priceRenewal prices the next term of sub, reading only. Seats are, in
// order: those asked for (never below the billable users last reported),
// max(scheduled seats, billable users) when a change is scheduled, or
// max(current seats, billable users). The plan is the scheduled one or the
// current version of the subscription's; the seat price is the contract
// price in force after the renewal, or the catalog's.
func (s *Service) priceRenewal(tx *store.Tx, sub *fulfill.Subscription, seats *int64, auto bool) (*pricedRenewal, error) {
	terms, err := tx.SubscriptionTerms(sub.ID)
	if err != nil {
		return nil, err
	}
	return s.priceRenewalWith(tx, sub, terms, seats, auto)
}

// priceRenewalWith is priceRenewal with the subscription's terms given (a
// preview of a change not yet scheduled).
func (s *Service) priceRenewalWith(tx *store.Tx, sub *fulfill.Subscription, terms *store.SubscriptionTerms, seats *int64,
	auto bool) (*pricedRenewal, error) {
	usage, err := tx.SeatUsage(sub.ID, sub.StartsOn, sub.EndsOn)
	if err != nil {
		return nil, err
	}
	r := &pricedRenewal{seats: billing.RenewalSeats(sub.Seats, usage.BillableUsers), maxUsers: usage.MaxUsers}
	if terms.RenewalSeats != nil {
		r.seats = max(*terms.RenewalSeats, usage.BillableUsers)
	}
	if seats != nil {
		if *seats < usage.BillableUsers {
			return nil, fulfill.FieldError(fulfill.EOutOfRange, "seats",
				"Seats can not be reduced below the %d billable users last reported.", usage.BillableUsers)
		}
		r.seats = *seats
	}
	if r.plan, err = s.renewalPlan(tx, sub, terms); err != nil {
		return nil, err
	}
	after := *terms
	after.RenewalSeats, after.RenewalPlan = nil, ""
	if terms.NextPriceSet {
		after.ContractPrice, after.NextPriceSet, after.NextPrice = terms.NextPrice, false, nil
	}
	if after.ContractPrice != nil {
		r.price = *after.ContractPrice
	} else if r.price, err = priceIn(r.plan, sub.Currency); err != nil {
		return nil, err
	}
	r.start = sub.EndsOn
	if today := s.today(); r.start.Before(today) && !auto {
		r.start = today // a lapsed subscription starts again today
	}
	r.end = fulfill.DateOf(billing.AddMonths(r.start.Time(), r.plan.TermMonths))
	r.lines = []billing.Line{billing.FullTerm(billing.KindRenewal,
		fmt.Sprintf("%s renewal, %s", r.plan.Name, plural(r.seats, "seat")), r.seats, r.price, r.start.Time(), r.end.Time())}
	r.trueUp = billing.TrueUpQuantity(usage.MaxUsers, sub.Seats)
	if r.trueUp > 0 {
		// At the renewal price; but users over license on another plan
		// (a tier change scheduled for renewal) are priced at the price of
		// the plan they used, as it renews.
		trueUpPrice := r.price
		if r.plan.Code != sub.Plan {
			if trueUpPrice, err = s.endingPlanPrice(tx, sub, terms); err != nil {
				return nil, err
			}
		}
		r.lines = append(r.lines, billing.FullTerm(billing.KindTrueUp,
			fmt.Sprintf("True-up: %s over license (%d max users, %d seats) from %s to %s",
				plural(r.trueUp, "user"), usage.MaxUsers, sub.Seats, sub.StartsOn, sub.EndsOn),
			r.trueUp, trueUpPrice, sub.StartsOn.Time(), sub.EndsOn.Time()))
	}
	addOnLines, addOns, err := renewalAddOns(tx, sub, r.seats, r.start, r.end)
	if err != nil {
		return nil, err
	}
	r.lines, r.addOns = append(r.lines, addOnLines...), addOns
	// The term that ends used one discounted term; the next is discounted
	// if any are left.
	if after.DiscountTermsLeft > 0 {
		after.DiscountTermsLeft--
	}
	if after.CouponCode != "" && after.DiscountTermsLeft != 0 {
		c, err := tx.Coupon(after.CouponCode)
		if err != nil {
			return nil, err
		}
		if couponFitsPlan(c, r.plan.Code) {
			if r.lines, err = withCoupon(c, sub.Currency, r.lines, r.start, r.end); err != nil {
				return nil, err
			}
		}
	}
	after.UpdatedAt = s.now()
	r.terms = &after
	return r, nil
}

// endingPlanPrice is the seat price of the plan whose term ends: its
// contract price, else its current catalog price.
func (s *Service) endingPlanPrice(tx *store.Tx, sub *fulfill.Subscription, terms *store.SubscriptionTerms) (int64, error) {
	if terms.ContractPrice != nil {
		return *terms.ContractPrice, nil
	}
	cur, err := s.renewalPlan(tx, sub, &store.SubscriptionTerms{})
	if err != nil {
		return 0, err
	}
	return priceIn(cur, sub.Currency)
}

// renewalPlan is the plan a renewal uses: the scheduled one, else the
// current version of the subscription's plan.
func (s *Service) renewalPlan(tx *store.Tx, sub *fulfill.Subscription, terms *store.SubscriptionTerms) (*fulfill.Plan, error) {
	if terms.RenewalPlan != "" {
		return tx.PlanByCode(terms.RenewalPlan)
	}
	plan, err := tx.PlanByID(sub.PlanID)
	if err != nil {
		return nil, err
	}
	if cur, err := tx.PlanByCode(plan.Code); err == nil {
		return cur, nil
	} else if fulfill.ErrorCode(err) != fulfill.ENotFound {
		return nil, err
	}
	return plan, nil
}

// RenewalPreview is what the next renewal would invoice, priced now.
type RenewalPreview struct {
	SubscriptionID string                `json:"subscription_id"`
	RenewsOn       fulfill.Date          `json:"renews_on"`
	EndsOn         fulfill.Date          `json:"ends_on"`
	Plan           string                `json:"plan"`
	PlanName       string                `json:"plan_name"`
	Seats          int64                 `json:"seats"`
	UnitAmount     int64                 `json:"unit_amount"`
	TrueUp         int64                 `json:"trueup"`
	Subtotal       int64                 `json:"subtotal"`
	Tax            int64                 `json:"tax"`
	Total          int64                 `json:"total"`
	Currency       string                `json:"currency"`
	PaymentMethod  string                `json:"payment_method"`
	Lines          []fulfill.InvoiceLine `json:"lines"`
}

// PreviewRenewal prices the next renewal (seats nil: as it would renew by
// itself) without storing anything.
func (s *Service) PreviewRenewal(ctx context.Context, id string, seats *int64) (*RenewalPreview, error) {
	if seats != nil {
		if err := checkSeats(*seats, "seats"); err != nil {
			return nil, err
		}
	}
	return s.previewRenewal(ctx, id, seats, nil)
}

// PreviewSchedule prices the next renewal as it would be with the change
// in scheduled, without scheduling it.
func (s *Service) PreviewSchedule(ctx context.Context, id string, in ScheduleInput) (*RenewalPreview, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	return s.previewRenewal(ctx, id, nil, &in)
}

func (s *Service) previewRenewal(ctx context.Context, id string, seats *int64, change *ScheduleInput) (*RenewalPreview, error) {
	var pv *RenewalPreview
	err := s.DB.ReadTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(id)
		if err != nil {
			return err
		}
		if sub.Trial {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s is a trial: it is bought, not renewed.", id)
		}
		cust, err := tx.Customer(sub.CustomerID)
		if err != nil {
			return err
		}
		terms, err := tx.SubscriptionTerms(sub.ID)
		if err != nil {
			return err
		}
		if change != nil {
			if err := s.scheduleOn(tx, sub, terms, *change); err != nil {
				return err
			}
		}
		r, err := s.priceRenewalWith(tx, sub, terms, seats, false)
		if err != nil {
			return err
		}
		inv, _, err := s.buildInvoice(ctx, cust, &sub.ID, r.lines, r.start, r.end, sub.PaymentMethod)
		if err != nil {
			return err
		}
		pv = &RenewalPreview{SubscriptionID: sub.ID, RenewsOn: r.start, EndsOn: r.end, Plan: r.plan.Code, PlanName: r.plan.Name,
			Seats: r.seats, UnitAmount: r.price, TrueUp: r.trueUp, Subtotal: inv.Subtotal, Tax: inv.Tax, Total: inv.Total,
			Currency: inv.Currency, PaymentMethod: sub.PaymentMethod, Lines: inv.Lines}
		return nil
	})
	return pv, err
}

// RenewalSchedule is the change scheduled for a subscription's next
// renewal, with what that renewal is expected to cost.
type RenewalSchedule struct {
	SubscriptionID string          `json:"subscription_id"`
	Seats          *int64          `json:"seats"`
	Plan           string          `json:"plan,omitempty"`
	ContractPrice  *int64          `json:"contract_price"`
	NextPriceSet   bool            `json:"next_price_set"`
	NextPrice      *int64          `json:"next_price"`
	Coupon         string          `json:"coupon,omitempty"`
	Expected       *RenewalPreview `json:"expected"`
}

// ScheduleInput is a change for the next renewal: seats, a plan (a lower
// tier included), or both.
type ScheduleInput struct {
	Seats *int64
	Plan  string
}

// ScheduleRenewal records what the next renewal uses. At renewal the seats
// are max(scheduled seats, billable users of the latest report), and the
// true-up is billed as always.
func (s *Service) ScheduleRenewal(ctx context.Context, actor Actor, id string, in ScheduleInput) (*RenewalSchedule, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	return s.changeTerms(ctx, actor, id, "subscription.renewal_scheduled", func(tx *store.Tx, sub *fulfill.Subscription, t *store.SubscriptionTerms) error {
		return s.scheduleOn(tx, sub, t, in)
	})
}

func (in *ScheduleInput) check() error {
	if in.Seats == nil && in.Plan == "" {
		return fulfill.FieldError(fulfill.ERequired, "seats", "Schedule seats, a plan, or both.")
	}
	if in.Seats != nil {
		return checkSeats(*in.Seats, "seats")
	}
	return nil
}

// scheduleOn sets the change on a subscription's terms (in memory), after
// checking its plan: in the catalog, of the subscription's kind, priced in
// its currency (unless it has a contract price).
func (s *Service) scheduleOn(tx *store.Tx, sub *fulfill.Subscription, t *store.SubscriptionTerms, in ScheduleInput) error {
	if in.Plan != "" {
		plan, err := tx.PlanByCode(in.Plan)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownPlan, "plan", "No plan %q in the catalog.", in.Plan))
		}
		if plan.Kind != sub.Kind {
			return fulfill.FieldError(fulfill.EInvalid, "plan", "Plan %q is %s; the subscription is %s.", in.Plan, plan.Kind, sub.Kind)
		}
		if _, err := priceIn(plan, sub.Currency); err != nil && t.ContractPrice == nil {
			return err
		}
		if plan.Code == sub.Plan {
			in.Plan = ""
		}
	}
	t.RenewalSeats, t.RenewalPlan = in.Seats, in.Plan
	return nil
}

// ClearRenewal removes the change scheduled for the next renewal; with
// none scheduled it changes nothing.
func (s *Service) ClearRenewal(ctx context.Context, actor Actor, id string) (*RenewalSchedule, error) {
	t, err := s.DB.SubscriptionTerms(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.RenewalSeats == nil && t.RenewalPlan == "" {
		return s.Renewal(ctx, id)
	}
	return s.changeTerms(ctx, actor, id, "subscription.renewal_cleared", func(tx *store.Tx, sub *fulfill.Subscription, t *store.SubscriptionTerms) error {
		t.RenewalSeats, t.RenewalPlan = nil, ""
		return nil
	})
}

// Renewal shows the change scheduled for the next renewal and the amount
// that renewal is expected to cost.
func (s *Service) Renewal(ctx context.Context, id string) (*RenewalSchedule, error) {
	sub, err := s.DB.Subscription(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := s.DB.SubscriptionTerms(ctx, sub.ID)
	if err != nil {
		return nil, err
	}
	return s.schedule(ctx, sub, t)
}

func (s *Service) schedule(ctx context.Context, sub *fulfill.Subscription, t *store.SubscriptionTerms) (*RenewalSchedule, error) {
	out := &RenewalSchedule{SubscriptionID: sub.ID, Seats: t.RenewalSeats, Plan: t.RenewalPlan, ContractPrice: t.ContractPrice,
		NextPriceSet: t.NextPriceSet, NextPrice: t.NextPrice, Coupon: t.CouponCode}
	if sub.Trial || sub.State == fulfill.StateExpired {
		return out, nil
	}
	pv, err := s.PreviewRenewal(ctx, sub.ID, nil)
	if err != nil {
		return nil, err
	}
	out.Expected = pv
	return out, nil
}

// ContractPriceInput sets (UnitAmount) or removes (nil) a subscription's
// own seat price from its next renewal, with the reason.
type ContractPriceInput struct {
	UnitAmount *int64
	Reason     string
}

// SetContractPrice sets the seat price the subscription renews at, from
// its next renewal on, instead of the catalog's; nil goes back to the
// catalog's. It is audited with the reason.
func (s *Service) SetContractPrice(ctx context.Context, actor Actor, id string, in ContractPriceInput) (*RenewalSchedule, error) {
	if err := checkUnitAmount(in.UnitAmount, "unit_amount"); err != nil {
		return nil, err
	}
	reason, err := trimmed(in.Reason, "reason", 1000)
	if err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "reason", "Say why the subscription gets its own price.")
	}
	return s.changeTerms(ctx, actor, id, "subscription.contract_price", func(tx *store.Tx, sub *fulfill.Subscription, t *store.SubscriptionTerms) error {
		if in.UnitAmount == nil && t.ContractPrice == nil && !t.NextPriceSet {
			return fulfill.FieldError(fulfill.EInvalid, "unit_amount", "Subscription %s has no contract price to remove.", sub.ID)
		}
		t.NextPriceSet, t.NextPrice, t.PriceReason = true, in.UnitAmount, reason
		return nil
	})
}

// changeTerms is one change of a subscription's terms, in one transaction
// with its audit entry and event.
func (s *Service) changeTerms(ctx context.Context, actor Actor, id, action string,
	change func(*store.Tx, *fulfill.Subscription, *store.SubscriptionTerms) error) (*RenewalSchedule, error) {
	var sub *fulfill.Subscription
	var terms *store.SubscriptionTerms
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if sub, err = tx.Subscription(id); err != nil {
			return err
		}
		if sub.Trial {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s is a trial: it is bought, not renewed.", id)
		}
		if sub.State == fulfill.StateExpired {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s has expired.", id)
		}
		if terms, err = tx.SubscriptionTerms(sub.ID); err != nil {
			return err
		}
		before := *terms
		if err := change(tx, sub, terms); err != nil {
			return err
		}
		terms.UpdatedAt = s.now()
		if err := tx.SaveSubscriptionTerms(terms); err != nil {
			return err
		}
		detail := map[string]any{"from": termsDetail(&before), "to": termsDetail(terms)}
		if err := s.audit(tx, actor, action, "subscription", sub.ID, detail, ""); err != nil {
			return err
		}
		return s.emit(tx, action, sub.ID, sub.CustomerID, map[string]any{"subscription_id": sub.ID, "terms": terms})
	})
	if err != nil {
		return nil, err
	}
	return s.schedule(ctx, sub, terms)
}

func termsDetail(t *store.SubscriptionTerms) map[string]any {
	return map[string]any{"renewal_seats": t.RenewalSeats, "renewal_plan": t.RenewalPlan, "contract_price": t.ContractPrice,
		"next_price_set": t.NextPriceSet, "next_price": t.NextPrice, "reason": t.PriceReason}
}

// RenewalSentence says what a renewal will be, for the portal and the
// renewal notice mail: "At renewal on 2027-01-01: 72 seats of Premium
// (self-managed), about USD 25,056.00."
func RenewalSentence(pv *RenewalPreview) string {
	return fmt.Sprintf("At renewal on %s: %s of %s, about %s.", pv.RenewsOn.Time().Format("2 Jan 2006"), plural(pv.Seats, "seat"),
		pv.PlanName, billing.FormatAmount(pv.Total, pv.Currency))
}
