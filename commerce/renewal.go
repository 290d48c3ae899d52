package commerce

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// RenewInput is a manual renewal. Seats defaults to the larger of the
// current seats and the billable users last reported.
type RenewInput struct {
	Seats         *int64
	PaymentMethod string
}

// Renew renews a subscription now for its next term, with the true-up for
// users over license during the term that ends.
func (s *Service) Renew(ctx context.Context, actor Actor, id string, in RenewInput) (*ChangeResult, error) {
	if in.Seats != nil {
		if err := checkSeats(*in.Seats, "seats"); err != nil {
			return nil, err
		}
	}
	if in.PaymentMethod != "" {
		if err := s.checkPaymentMethod(in.PaymentMethod); err != nil {
			return nil, err
		}
	}
	attemptID := fulfill.NewIDFor(ctx, "pat")
	if a, err := s.startedAttempt(ctx, attemptID); a != nil {
		return asResult[*ChangeResult](s.resume(ctx, a))
	} else if err != nil {
		return nil, err
	}
	var res *ChangeResult
	var pending *store.PaymentAttempt
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(id)
		if err != nil {
			return err
		}
		today := s.today()
		if sub.Trial {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s is a trial: purchase a subscription instead of renewing it.", id)
		}
		if err := refuseCustom(tx, sub); err != nil {
			return err
		}
		if today.Before(sub.StartsOn) {
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s is already renewed until %s.", id, sub.EndsOn)
		}
		if busy, err := tx.PendingPaymentFor(sub.ID); err != nil {
			return err
		} else if busy {
			return fulfill.Errorf(fulfill.EConflict, "A payment for subscription %s is still being processed; retry in a minute.", sub.ID)
		}
		res, pending, err = s.renew(tx, sub, actor, "renew", in.Seats, in.PaymentMethod, false, attemptID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if pending != nil {
		s.failpointAt("after-phase1", pending)
		return asResult[*ChangeResult](s.settle(ctx, pending))
	}
	return res, nil
}

// renewal is a priced renewal: what it changes on the subscription, and
// its invoice. A renewal charged by card keeps it as its attempt's intent.
type renewal struct {
	Actor         Actor            `json:"actor"`
	Action        string           `json:"action"` // renew, auto_renew
	Auto          bool             `json:"auto"`   // a decline leaves the subscription past due
	PlanID        string           `json:"plan_id"`
	Plan          string           `json:"plan"`
	PlanVersion   int              `json:"plan_version"`
	UnitAmount    int64            `json:"unit_amount"`
	Seats         int64            `json:"seats"`
	StartsOn      fulfill.Date     `json:"starts_on"`
	EndsOn        fulfill.Date     `json:"ends_on"`
	PaymentMethod string           `json:"payment_method"`
	OldSeats      int64            `json:"old_seats"`
	OldStart      fulfill.Date     `json:"old_start"`
	OldEnd        fulfill.Date     `json:"old_end"`
	TrueUp        int64            `json:"trueup"`
	Invoice       *fulfill.Invoice `json:"invoice"`
	// AddOns are the add-ons of the new term (renewalAddOns).
	AddOns []fulfill.SubscriptionAddOn `json:"add_ons"`
	// Terms are the subscription's terms after the renewal (contract
	// price, discount terms left, scheduled change used up).
	Terms *store.SubscriptionTerms `json:"terms,omitempty"`
}

// renew prices a subscription's next term and invoices it. Paid by card, it
// records the intent (phase 1) and returns the pending attempt, for settle;
// otherwise it stores the renewal now. With auto, a declined card leaves the
// invoice open and the subscription past due instead of failing.
func (s *Service) renew(tx *store.Tx, sub *fulfill.Subscription, actor Actor, action string,
	seats *int64, paymentMethod string, auto bool, attemptID string) (*ChangeResult, *store.PaymentAttempt, error) {
	cust, err := tx.Customer(sub.CustomerID)
	if err != nil {
		return nil, nil, err
	}
	// Seats, plan, contract price, discount and change scheduled for
	// renewal: see priceRenewal.
	pr, err := s.priceRenewal(tx, sub, seats, auto)
	if err != nil {
		return nil, nil, err
	}
	plan, price, newSeats, start, end, trueUp, lines := pr.plan, pr.price, pr.seats, pr.start, pr.end, pr.trueUp, pr.lines
	addOns := pr.addOns
	pm := sub.PaymentMethod
	if paymentMethod != "" {
		pm = paymentMethod
	}
	if err := checkPO(cust, pm); err != nil && !auto {
		return nil, nil, err
	}
	inv, err := s.newInvoice(tx, cust, &sub.ID, lines, start, end, pm)
	if err != nil {
		return nil, nil, err
	}
	if auto && pm != PayByInvoice {
		inv.DueOn = s.today().AddDays(LapseDays) // if the card fails, it lapses then
	}
	r := &renewal{Actor: actor, Action: action, Auto: auto, PlanID: plan.ID, Plan: plan.Code, PlanVersion: plan.Version, UnitAmount: price,
		Seats: newSeats, StartsOn: start, EndsOn: end, PaymentMethod: pm, OldSeats: sub.Seats, OldStart: sub.StartsOn, OldEnd: sub.EndsOn,
		TrueUp: trueUp, Invoice: inv, AddOns: addOns, Terms: pr.terms}
	if credit := min(cust.Credit, inv.Total); pm != PayByInvoice && inv.Total > credit {
		if credit > 0 {
			cust.Credit -= credit
			if err := tx.SetCustomerCredit(cust.ID, cust.Credit); err != nil {
				return nil, nil, err
			}
		}
		intent, err := json.Marshal(r)
		if err != nil {
			return nil, nil, err
		}
		a, err := s.recordIntent(tx, &store.PaymentAttempt{ID: attemptID, Kind: "renewal", CustomerID: cust.ID, SubscriptionID: sub.ID,
			InvoiceID: inv.ID, Amount: inv.Total - credit, Currency: inv.Currency, PaymentMethod: pm, CreditReserved: credit, Intent: intent})
		return nil, a, err
	}
	res, err := s.recordRenewal(tx, cust, sub, r, nil, nil)
	return res, nil, err
}

// recordRenewal stores a renewal and all that follows, with the request's
// answer: in the single transaction of a renewal with nothing to charge now,
// or in phase 3 of one charged by card (p, the charge taken; with declined,
// the attempt the provider refused, for an automatic renewal).
func (s *Service) recordRenewal(tx *store.Tx, cust *fulfill.Customer, sub *fulfill.Subscription, r *renewal, p *paid,
	declined *fulfill.Error) (*ChangeResult, error) {
	inv := r.Invoice
	state := fulfill.StateActive
	switch {
	case p != nil && declined == nil:
		if err := s.finalizeCharged(tx, cust, inv, p); err != nil {
			return nil, err
		}
	case declined != nil:
		if err := s.finalizeUncharged(tx, cust, inv, p.attempt.CreditReserved); err != nil {
			return nil, err
		}
		// The card was declined: the invoice stays open, the failed attempt is
		// kept, and the subscription is past due until paid or lapsed.
		if err := tx.InsertPayment(&fulfill.Payment{ID: fulfill.NewID("pay"), InvoiceID: inv.ID, Provider: s.Payments.Name(),
			Amount: store.DueOf(inv), Currency: inv.Currency, Status: "failed", FailureCode: declined.Code, CreatedAt: s.now()}); err != nil {
			return nil, err
		}
		if err := s.emit(tx, "payment.failed", inv.ID, cust.ID, map[string]any{"invoice": inv, "code": declined.Code, "message": declined.Message}); err != nil {
			return nil, err
		}
		d := &store.Dunning{PrevSeats: r.OldSeats, TrueUp: r.TrueUp}
		if r.TrueUp > 0 {
			d.TrueUpFrom, d.TrueUpTo = r.OldStart, r.OldEnd
		}
		if err := s.startDunning(tx, cust, sub, inv, d, declined.Code); err != nil {
			return nil, err
		}
		state = fulfill.StatePastDue
	default:
		if err := s.finalize(tx.Context(), tx, cust, inv); err != nil {
			return nil, err
		}
	}
	sub.PlanID, sub.Plan, sub.PlanVersion, sub.UnitAmount = r.PlanID, r.Plan, r.PlanVersion, r.UnitAmount
	sub.Seats, sub.StartsOn, sub.EndsOn, sub.State, sub.PaymentMethod = r.Seats, r.StartsOn, r.EndsOn, state, r.PaymentMethod
	sub.AutoRenew, sub.CancelReason = true, ""
	reason := ""
	if r.TrueUp > 0 {
		reason = fmt.Sprintf("true-up of %s", plural(r.TrueUp, "user"))
	}
	if err := tx.UpdateSubscription(sub, store.Change{Action: r.Action, Actor: string(r.Actor), Reason: reason, InvoiceID: &inv.ID, At: s.now()}); err != nil {
		return nil, err
	}
	if r.AddOns != nil { // nil: an intent recorded before add-ons renewed
		sub.AddOns = r.AddOns
		if err := tx.SetSubscriptionAddOns(sub.ID, r.AddOns, s.now()); err != nil {
			return nil, err
		}
	}
	if r.Terms != nil {
		if err := tx.SaveSubscriptionTerms(r.Terms); err != nil {
			return nil, err
		}
	}
	// An unpaid automatic renewal gets no new license: the old one runs out.
	if state == fulfill.StateActive {
		t := licenseTerms{reason: r.Action, previousUserCount: r.OldSeats, trueUp: r.TrueUp, email: true}
		if r.TrueUp > 0 {
			t.trueUpFrom, t.trueUpTo, t.trueUpPeriodSeats = r.OldStart, r.OldEnd, r.OldSeats
		}
		if _, err := s.issueLicense(tx, sub, cust, t); err != nil {
			return nil, err
		}
	}
	res := &ChangeResult{Subscription: sub, Invoice: inv}
	if err := s.audit(tx, r.Actor, "subscription."+r.Action, "subscription", sub.ID, map[string]any{"seats": sub.Seats,
		"trueup": r.TrueUp, "invoice": inv.Number, "total": inv.Total, "state": sub.State}, ""); err != nil {
		return nil, err
	}
	if err := s.emit(tx, "subscription.renewed", sub.ID, cust.ID, res); err != nil {
		return nil, err
	}
	return res, s.finish(tx, res)
}

// Cancel turns auto-renew off: the subscription runs to the end of its term.
func (s *Service) Cancel(ctx context.Context, actor Actor, id, reason string) (*fulfill.Subscription, error) {
	if fulfill.TextLen(reason) > 1000 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "reason", "At most 1000 characters.")
	}
	return s.setAutoRenew(ctx, actor, id, false, reason)
}

// Resume turns auto-renew back on.
func (s *Service) Resume(ctx context.Context, actor Actor, id string) (*fulfill.Subscription, error) {
	return s.setAutoRenew(ctx, actor, id, true, "")
}

func (s *Service) setAutoRenew(ctx context.Context, actor Actor, id string, on bool, reason string) (*fulfill.Subscription, error) {
	var sub *fulfill.Subscription
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		sub, err = tx.Subscription(id)
		if err != nil {
			return err
		}
		switch {
		case sub.State == fulfill.StateExpired:
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s has expired.", id)
		case on && sub.AutoRenew:
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s already renews automatically.", id)
		case !on && !sub.AutoRenew:
			return fulfill.Errorf(fulfill.EConflict, "Subscription %s is already canceled.", id)
		}
		if on {
			if err := refuseCustom(tx, sub); err != nil {
				return err
			}
		}
		action := "cancel"
		sub.AutoRenew, sub.CancelReason = on, reason
		if on {
			action = "resume"
			sub.State = fulfill.StateActive
		} else {
			sub.State = fulfill.StateCanceled
		}
		if err := tx.UpdateSubscription(sub, store.Change{Action: action, Actor: string(actor), Reason: reason, At: s.now()}); err != nil {
			return err
		}
		event := map[bool]string{true: "subscription.resumed", false: "subscription.canceled"}[on]
		return s.emit(tx, event, sub.ID, sub.CustomerID, sub)
	})
	return sub, err
}

// SeatReportInput is one day's usage as the vendor reports it.
type SeatReportInput struct {
	SubscriptionID string
	Date           *fulfill.Date
	MaxUsers       *int64
	BillableUsers  *int64
	Source         string
}

// RecordSeatReport stores a day's usage; a second report for the same day and
// source replaces the first.
func (s *Service) RecordSeatReport(ctx context.Context, in SeatReportInput) (*fulfill.SeatReport, error) {
	switch {
	case in.SubscriptionID == "":
		return nil, fulfill.FieldError(fulfill.ERequired, "subscription_id", "subscription_id is required.")
	case in.MaxUsers == nil:
		return nil, fulfill.FieldError(fulfill.ERequired, "max_users", "max_users is required.")
	case in.BillableUsers == nil:
		return nil, fulfill.FieldError(fulfill.ERequired, "billable_users", "billable_users is required.")
	case *in.MaxUsers < 0 || *in.MaxUsers > 100*MaxSeats:
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "max_users", "max_users must be between 0 and %d.", 100*MaxSeats)
	case *in.BillableUsers < 0 || *in.BillableUsers > 100*MaxSeats:
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "billable_users", "billable_users must be between 0 and %d.", 100*MaxSeats)
	case *in.BillableUsers > *in.MaxUsers:
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "billable_users", "billable_users (%d) can not exceed max_users (%d).", *in.BillableUsers, *in.MaxUsers)
	}
	today := s.today()
	day := today
	if in.Date != nil {
		day = *in.Date
	}
	if day.After(today) {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "date", "date %s is in the future (today is %s).", day, today)
	}
	if in.Source == "" {
		in.Source = "vendor"
	}
	r := &fulfill.SeatReport{SubscriptionID: in.SubscriptionID, Date: day, MaxUsers: *in.MaxUsers,
		BillableUsers: *in.BillableUsers, Source: in.Source, CreatedAt: s.now()}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(in.SubscriptionID)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.ENotFound, "subscription_id", "No subscription %q.", in.SubscriptionID))
		}
		if day.Before(fulfill.DateOf(sub.CreatedAt)) {
			return fulfill.FieldError(fulfill.EOutOfRange, "date", "date %s is before the subscription began.", day)
		}
		return tx.UpsertSeatReport(r)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ProcessDueArgs is the job that renews, expires or lapses one subscription
// whose term ended on or before Day.
type ProcessDueArgs struct {
	SubscriptionID string `json:"subscription_id" river:"unique"`
	Day            string `json:"day" river:"unique"`
}

// Kind names the job.
func (ProcessDueArgs) Kind() string { return "subscription.process_due" }

// InsertOpts makes the job unique per subscription and day, so a second
// billing run on the same day adds nothing.
func (ProcessDueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// EnqueueDue enqueues the day's work as jobs, the subscriptions that fall
// due on or before day in ProcessDueBatch jobs of DefaultRunBatch, and
// returns how many items of work there were.
func (s *Service) EnqueueDue(ctx context.Context, day fulfill.Date) (int, error) {
	work, err := s.dueWork(ctx, day)
	if err != nil || len(work) == 0 {
		return 0, err
	}
	// In bounded transactions: the jobs are unique per subscription and
	// day, so a rerun after a failure part way adds only what is missing.
	for chunk := range slices.Chunk(batchDue(work), 1000) {
		if err := s.DB.InTx(ctx, func(tx *store.Tx) error {
			for _, a := range chunk {
				if err := tx.Enqueue(a, nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, err
		}
	}
	return len(work), nil
}

// dueWork lists, in the order it must run, what falls due on day: renewals,
// expiries and lapses, quarterly reconciliations, payment retries and, at a
// month end, revenue recognition. The scheduler enqueues it as jobs; a
// billing run by hand does it at once.
func (s *Service) dueWork(ctx context.Context, day fulfill.Date) ([]river.JobArgs, error) {
	subs, err := s.DB.DueSubscriptions(ctx, day)
	if err != nil {
		return nil, err
	}
	recs, err := s.dueReconciliations(ctx, day)
	if err != nil {
		return nil, err
	}
	retries, err := s.DB.DueDunning(ctx, day)
	if err != nil {
		return nil, err
	}
	var work []river.JobArgs
	for _, id := range subs {
		work = append(work, ProcessDueArgs{SubscriptionID: id, Day: day.String()})
	}
	for _, a := range recs {
		work = append(work, a)
	}
	for _, id := range retries {
		work = append(work, DunningArgs{InvoiceID: id, Day: day.String()})
	}
	notices, err := s.dueNotices(ctx, day)
	if err != nil {
		return nil, err
	}
	for _, a := range notices {
		work = append(work, a)
	}
	cards, err := s.dueCardNotices(ctx, day)
	if err != nil {
		return nil, err
	}
	for _, a := range cards {
		work = append(work, a)
	}
	// Revenue is recognised day by day; posting it at each month end (and
	// on demand) keeps the ledger small.
	if day.AddDays(1).Time().Day() == 1 {
		work = append(work, RecognizeArgs{Day: day.String()})
	}
	if stale, err := s.DB.StaleInstances(ctx, s.now().Add(-fulfill.StaleAfter)); err != nil {
		return nil, err
	} else if len(stale) > 0 {
		work = append(work, StaleInstancesArgs{Day: day.String()})
	}
	return work, nil
}

// ProcessDue renews a subscription whose term has ended (auto-renew on), or
// expires it (auto-renew off), and lapses one past due for too long. A
// charge of the subscription still awaiting its outcome (its process died
// between the phases) is finished first, as its completer would: the day's
// work then sees the subscription as that charge left it, and a renewal is
// neither skipped nor done twice.
func (s *Service) ProcessDue(ctx context.Context, id string) error {
	waiting, err := s.DB.PendingAttemptsFor(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range waiting {
		if err := s.CompletePayment(ctx, a); err != nil {
			return err
		}
	}
	var pending *store.PaymentAttempt
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		pending, err = s.processDueIn(tx, id)
		return err
	})
	if err != nil || pending == nil {
		return err
	}
	_, err = s.settle(ctx, pending)
	return err
}

// processDueIn is ProcessDue's transaction: it renews, expires or lapses
// the subscription in tx, or leaves it as it is when that is already done
// (its term runs past today), so a rerun of the day renews nothing twice.
// A renewal to charge by card is returned, for settle after the commit.
func (s *Service) processDueIn(tx *store.Tx, id string) (*store.PaymentAttempt, error) {
	var pending *store.PaymentAttempt
	err := func() error {
		sub, err := tx.Subscription(id)
		if err != nil {
			return err
		}
		today := s.today()
		switch {
		case sub.State == fulfill.StateExpired:
			return nil // already handled
		case sub.State == fulfill.StatePastDue:
			overdue, err := tx.OverdueInvoices(sub.ID, today)
			if err != nil || overdue == 0 {
				return err
			}
			// The renewal was not paid in time: it lapses, and is not renewed.
			sub.State, sub.AutoRenew = fulfill.StateExpired, false
			if err := tx.UpdateSubscription(sub, store.Change{Action: "lapse", Actor: string(System), Reason: "renewal invoice unpaid", At: s.now()}); err != nil {
				return err
			}
			return s.emit(tx, "subscription.lapsed", sub.ID, sub.CustomerID, sub)
		case today.Before(sub.EndsOn):
			return nil // already renewed
		case !sub.AutoRenew || sub.State == fulfill.StateCanceled:
			sub.State = fulfill.StateExpired
			if err := tx.UpdateSubscription(sub, store.Change{Action: "expire", Actor: string(System), Reason: sub.CancelReason, At: s.now()}); err != nil {
				return err
			}
			return s.emit(tx, "subscription.expired", sub.ID, sub.CustomerID, sub)
		}
		if busy, err := tx.PendingPaymentFor(sub.ID); err != nil || busy {
			return err // the renewal's charge is under way; its completer finishes it
		}
		_, pending, err = s.renew(tx, sub, System, "auto_renew", nil, "", true, fulfill.NewIDFor(tx.Context(), "pat"))
		return err
	}()
	return pending, err
}
