package commerce

import (
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// purchaseExtras is what a purchase stores beyond its subscription and
// invoice: its terms (coupon, contract price), and whether it converts a
// running trial (the same subscription, made paid) instead of creating one.
type purchaseExtras struct {
	Terms         *store.SubscriptionTerms
	ConvertsTrial bool
}

// checkPurchaseTerms checks a purchase's coupon code, contract price and
// trial id before any transaction.
func checkPurchaseTerms(in PurchaseInput) error {
	if in.Coupon != "" && !couponCodeRE.MatchString(in.Coupon) {
		return fulfill.FieldError(fulfill.ECouponInvalid, "coupon", "No coupon %q.", in.Coupon)
	}
	if err := checkUnitAmount(in.UnitAmount, "unit_amount"); err != nil {
		return err
	}
	if err := fulfill.CheckText("trial_id", in.TrialID, 100); err != nil {
		return err
	}
	return nil
}

// purchasePrice is the seat price of a purchase: the contract price asked
// for, or the catalog's in the customer's currency.
func purchasePrice(plan *fulfill.Plan, currency string, unitAmount *int64) (int64, error) {
	price, err := priceIn(plan, currency)
	if unitAmount != nil {
		return *unitAmount, nil
	}
	return price, err
}

// purchasedTerms are the terms a purchase leaves on its subscription, or
// nil when it has none.
func purchasedTerms(subID string, c *store.Coupon, unitAmount *int64, now time.Time) *store.SubscriptionTerms {
	if c == nil && unitAmount == nil {
		return nil
	}
	t := &store.SubscriptionTerms{SubscriptionID: subID, ContractPrice: unitAmount, UpdatedAt: now}
	if c != nil {
		t.CouponCode, t.DiscountTermsLeft = c.Code, couponTerms(c)
	}
	if unitAmount != nil {
		t.PriceReason = "price at purchase"
	}
	return t
}

// purchaseTerms turns the new subscription of a purchase naming a trial
// into that trial, made paid: same id, activation and license history,
// paid from today for a full term of the plan bought. The trial must be the
// customer's, still running, and of the same kind as the plan.
func (s *Service) purchaseTerms(tx *store.Tx, in PurchaseInput, cust *fulfill.Customer, plan *fulfill.Plan,
	sub *fulfill.Subscription) (purchaseExtras, error) {
	if in.TrialID == "" {
		return purchaseExtras{}, nil
	}
	notFound := fulfill.FieldError(fulfill.ENotFound, "trial_id", "No trial %q for this customer.", in.TrialID)
	trial, err := tx.Subscription(in.TrialID)
	if err != nil {
		return purchaseExtras{}, fulfill.NotFoundAs(err, notFound)
	}
	today := s.today()
	switch {
	case trial.CustomerID != cust.ID:
		return purchaseExtras{}, notFound // another customer's is not found
	case !trial.Trial:
		return purchaseExtras{}, fulfill.FieldError(fulfill.EConflict, "trial_id", "Subscription %s is not a trial (already converted?).", trial.ID)
	case trial.State == fulfill.StateExpired || !today.Before(trial.EndsOn):
		return purchaseExtras{}, fulfill.FieldError(fulfill.EConflict, "trial_id", "Trial %s ended on %s; buy without trial_id.", trial.ID, trial.EndsOn)
	case trial.Kind != plan.Kind:
		return purchaseExtras{}, fulfill.FieldError(fulfill.EInvalid, "trial_id", "Trial %s is %s; plan %q is %s.", trial.ID, trial.Kind, plan.Code, plan.Kind)
	case in.StartsOn != nil && in.StartsOn.String() != today.String():
		return purchaseExtras{}, fulfill.FieldError(fulfill.EInvalid, "starts_on", "A trial converts today: leave starts_on out.")
	}
	if busy, err := tx.PendingPaymentFor(trial.ID); err != nil {
		return purchaseExtras{}, err
	} else if busy {
		return purchaseExtras{}, fulfill.Errorf(fulfill.EConflict, "A purchase of trial %s is still being processed; retry in a minute.", trial.ID)
	}
	sub.ID, sub.Version, sub.LicenseID, sub.CreatedAt = trial.ID, trial.Version, trial.LicenseID, trial.CreatedAt
	sub.StartsOn = today
	sub.EndsOn = fulfill.DateOf(billing.AddMonths(today.Time(), plan.TermMonths))
	if sub.Kind == fulfill.KindSaaS {
		sub.Namespace = trial.Namespace
	}
	return purchaseExtras{ConvertsTrial: true}, nil
}

// storePurchased stores a purchase's subscription (a new one, or its trial
// made paid) and its terms.
func (s *Service) storePurchased(tx *store.Tx, actor Actor, sub *fulfill.Subscription, inv *fulfill.Invoice, x purchaseExtras) error {
	now := s.now()
	if x.ConvertsTrial {
		if err := tx.ConvertTrial(sub.ID); err != nil {
			return err
		}
		if err := tx.UpdateSubscription(sub, store.Change{Action: "trial_converted", Actor: string(actor), InvoiceID: &inv.ID, At: now}); err != nil {
			return err
		}
		if err := s.emit(tx, "trial.converted", sub.ID, sub.CustomerID, sub); err != nil {
			return err
		}
	} else if err := tx.InsertSubscription(sub, store.Change{Action: "purchase", Actor: string(actor), InvoiceID: &inv.ID, At: now}); err != nil {
		return err
	}
	if x.Terms != nil {
		x.Terms.SubscriptionID = sub.ID
		return tx.SaveSubscriptionTerms(x.Terms)
	}
	return nil
}
