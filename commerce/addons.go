package commerce

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/license"
	"github.com/fulfillhq/fulfill/store"
)

// actionAddOn is the version-history action (and intent action) of an
// add-on quantity change.
const actionAddOn = "add_on_changed"

// SetAddOn sets the total quantity of an add-on on a subscription mid-term,
// priced like seats: a recurring add-on's added units are charged prorated
// to the term's end (added × price × remaining_days / term_days, rounded
// once), a one-off add-on's in full. Quantities only grow mid-term: a lower
// one is refused (422), reductions happen at renewal. A per-seat add-on can
// not exceed the subscription's seats. With preview, it only prices the
// change; otherwise it invoices and collects it like a seat addition
// (by card in atomic phases) and issues a new license.
func (s *Service) SetAddOn(ctx context.Context, actor Actor, id, code string, quantity int64, preview bool) (*Preview, *ChangeResult, error) {
	if strings.TrimSpace(code) == "" {
		return nil, nil, fulfill.FieldError(fulfill.ERequired, "add_on", "add_on (an add-on code) is required.")
	}
	if err := checkSeats(quantity, "quantity"); err != nil {
		return nil, nil, fulfill.FieldError(fulfill.EOutOfRange, "quantity", "quantity must be between 1 and %d.", MaxSeats)
	}
	return s.change(ctx, id, preview, func(tx *store.Tx, sub *fulfill.Subscription) ([]billing.Line, string, error) {
		line, err := s.addOnChange(tx, sub, code, quantity)
		if err != nil {
			return nil, "", err
		}
		return []billing.Line{line}, actionAddOn, nil
	}, actor)
}

// addOnChange prices setting add-on code to quantity on sub and records the
// new add-on set on sub.AddOns (stored by recordChange).
func (s *Service) addOnChange(tx *store.Tx, sub *fulfill.Subscription, code string, quantity int64) (billing.Line, error) {
	a, err := tx.AddOn(code)
	if err != nil {
		return billing.Line{}, fulfill.NotFoundAs(err, fulfill.FieldError(fulfill.EUnknownAddOn, "add_on", "No add-on %q in the catalog.", code))
	}
	if !a.Fits(sub.Kind) {
		return billing.Line{}, fulfill.FieldError(fulfill.EInvalid, "add_on", "Add-on %q is not sold with %s plans.", code, sub.Kind)
	}
	price, ok := a.Prices[sub.Currency]
	if !ok {
		return billing.Line{}, fulfill.FieldError(fulfill.EInvalid, "add_on", "Add-on %q has no price in %s, the subscription's currency.", code, sub.Currency)
	}
	i := slices.IndexFunc(sub.AddOns, func(x fulfill.SubscriptionAddOn) bool { return x.Code == code })
	var have int64
	if i >= 0 {
		have = sub.AddOns[i].Quantity
		if a.Pricing != fulfill.PricingOneOff {
			price = sub.AddOns[i].UnitAmount // the price bought with holds until renewal
		}
	}
	switch {
	case quantity == have:
		return billing.Line{}, fulfill.FieldError(fulfill.EInvalid, "quantity", "The subscription already has %d of %q.", quantity, code)
	case quantity < have:
		return billing.Line{}, fulfill.FieldError(fulfill.EInvalid, "quantity",
			"Add-on quantities can only be reduced at renewal (now %d of %q, asked %d).", have, code, quantity)
	case a.Pricing == fulfill.PricingPerSeat && quantity > sub.Seats:
		return billing.Line{}, fulfill.FieldError(fulfill.EOutOfRange, "quantity",
			"%q is sold per seat: at most the subscription's %d seats, not %d.", code, sub.Seats, quantity)
	}
	added := quantity - have
	day := s.changeDay(sub)
	var line billing.Line
	if a.Pricing == fulfill.PricingOneOff {
		line = billing.FullTerm(billing.KindAddon, fmt.Sprintf("%s × %d", a.Name, added), added, price, day.Time(), sub.EndsOn.Time())
	} else {
		line, err = billing.SeatAddition(added, price, day.Time(), sub.StartsOn.Time(), sub.EndsOn.Time())
		if err != nil {
			return billing.Line{}, err
		}
		rem, term := billing.DaysBetween(day.Time(), sub.EndsOn.Time()), billing.DaysBetween(sub.StartsOn.Time(), sub.EndsOn.Time())
		line.Kind = billing.KindAddon
		line.Description = fmt.Sprintf("%s, %d added, prorated %d/%d days", a.Name, added, rem, term)
	}
	next := fulfill.SubscriptionAddOn{Code: a.Code, Name: a.Name, Quantity: quantity, UnitAmount: price, Pricing: a.Pricing,
		Entitlements: a.Entitlements, UpdatedAt: s.now()}
	addOns := slices.Clone(sub.AddOns)
	if i >= 0 {
		next.Entitlements = addOns[i].Entitlements
		addOns[i] = next
	} else {
		addOns = append(addOns, next)
		slices.SortFunc(addOns, func(x, y fulfill.SubscriptionAddOn) int { return strings.Compare(x.Code, y.Code) })
	}
	sub.AddOns = addOns
	return line, nil
}

// renewalAddOns prices a subscription's add-ons for its next term at the
// catalog's current prices and entitlements: recurring add-ons renew (a
// per-seat one capped at the new seats), one-off add-ons end with the term.
// It returns the invoice lines and the add-on set of the new term.
func renewalAddOns(tx *store.Tx, sub *fulfill.Subscription, seats int64, start, end fulfill.Date) ([]billing.Line, []fulfill.SubscriptionAddOn, error) {
	var lines []billing.Line
	next := []fulfill.SubscriptionAddOn{}
	for _, have := range sub.AddOns {
		if have.Pricing == fulfill.PricingOneOff {
			continue
		}
		cur := have
		a, err := tx.AddOn(have.Code)
		if err != nil {
			return nil, nil, err
		}
		if price, ok := a.Prices[sub.Currency]; ok {
			cur.UnitAmount = price
		}
		cur.Name, cur.Entitlements = a.Name, a.Entitlements
		if cur.Pricing == fulfill.PricingPerSeat {
			cur.Quantity = min(cur.Quantity, seats)
		}
		lines = append(lines, billing.FullTerm(billing.KindAddon, fmt.Sprintf("%s renewal, %d", cur.Name, cur.Quantity),
			cur.Quantity, cur.UnitAmount, start.Time(), end.Time()))
		next = append(next, cur)
	}
	return lines, next, nil
}

// entitlementsOf resolves what a subscription grants: its plan version's
// entitlements, then each add-on's; the larger limit wins.
func entitlementsOf(plan *fulfill.Plan, addOns []fulfill.SubscriptionAddOn) fulfill.Entitlements {
	e := plan.Entitlements
	for _, a := range addOns {
		e = e.Merge(a.Entitlements)
	}
	return e
}

// AddOnQuantities maps each add-on of a subscription to its quantity, as
// licenses and SaaS provisioning carry them.
func AddOnQuantities(addOns []fulfill.SubscriptionAddOn) map[string]int {
	m := make(map[string]int, len(addOns))
	for _, a := range addOns {
		m[a.Code] = int(a.Quantity)
	}
	return m
}

// addOnsIf is the add-on set a change intent carries: only an add-on
// change has one to apply.
func addOnsIf(action string, sub *fulfill.Subscription) []fulfill.SubscriptionAddOn {
	if action == actionAddOn {
		return sub.AddOns
	}
	return nil
}

// licenseGrants is what a subscription's license carries beside its seats:
// its add-ons and its resolved entitlements, read in the caller's
// transaction (so a change made in it is included).
func (s *Service) licenseGrants(tx *store.Tx, sub *fulfill.Subscription) (license.Payload, error) {
	addOns, err := tx.SubscriptionAddOns(sub.ID)
	if err != nil {
		return license.Payload{}, err
	}
	plan, err := tx.PlanByID(sub.PlanID)
	if err != nil {
		return license.Payload{}, err
	}
	return planGrants(plan, addOns), nil
}

// planGrants is what a license carries beside its seats for a plan and
// add-ons (licenseGrants).
func planGrants(plan *fulfill.Plan, addOns []fulfill.SubscriptionAddOn) license.Payload {
	e := entitlementsOf(plan, addOns)
	return license.Payload{AddOns: AddOnQuantities(addOns), Features: e.Flags, Limits: e.Limits}
}

// AddOnInput is a new catalog add-on.
type AddOnInput struct {
	Code         string
	Name         string
	Pricing      string // PricingPerSeat, PricingPerUnit, PricingOneOff
	Kinds        []string
	Prices       map[string]int64
	Entitlements fulfill.Entitlements
}

// CreateAddOn adds an add-on to the catalog. Its price and entitlements
// reach a subscription when it buys the add-on and hold until renewal.
func (s *Service) CreateAddOn(ctx context.Context, actor Actor, in AddOnInput) (*fulfill.AddOn, error) {
	a, err := newAddOn(in)
	if err != nil {
		return nil, err
	}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertAddOn(a, s.now()); err != nil {
			return err
		}
		return s.audit(tx, actor, "add_on.create", "add_on", a.Code, map[string]any{"pricing": a.Pricing, "kinds": a.Kinds,
			"prices": a.Prices, "entitlements": a.Entitlements}, "")
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func newAddOn(in AddOnInput) (*fulfill.AddOn, error) {
	if !codeRE.MatchString(in.Code) {
		return nil, fulfill.FieldError(fulfill.EInvalid, "code", "An add-on code is 1 to 63 lower-case letters, digits and dashes.")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "name", "An add-on needs a name.")
	}
	if fulfill.TextLen(name) > 200 {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "name", "At most 200 characters.")
	}
	switch in.Pricing {
	case fulfill.PricingPerSeat, fulfill.PricingPerUnit, fulfill.PricingOneOff:
	default:
		return nil, fulfill.FieldError(fulfill.EInvalid, "pricing", "Pricing must be %q, %q or %q.",
			fulfill.PricingPerSeat, fulfill.PricingPerUnit, fulfill.PricingOneOff)
	}
	kinds := in.Kinds
	if len(kinds) == 0 {
		kinds = []string{fulfill.KindSelfManaged, fulfill.KindSaaS}
	}
	for _, k := range kinds {
		if k != fulfill.KindSelfManaged && k != fulfill.KindSaaS {
			return nil, fulfill.FieldError(fulfill.EInvalid, "kinds", "A kind is %q or %q.", fulfill.KindSelfManaged, fulfill.KindSaaS)
		}
	}
	kinds = slices.Compact(slices.Sorted(slices.Values(kinds)))
	if err := checkPrices("An add-on", in.Prices); err != nil {
		return nil, err
	}
	if err := in.Entitlements.Validate("entitlements"); err != nil {
		return nil, err
	}
	a := &fulfill.AddOn{Code: in.Code, Name: name, Recurring: in.Pricing != fulfill.PricingOneOff, Prices: in.Prices,
		Pricing: in.Pricing, Kinds: kinds, Entitlements: in.Entitlements}
	if a.Recurring {
		a.TermMonths = 12 // informative: a recurring add-on follows its subscription's term
	}
	return a, nil
}
