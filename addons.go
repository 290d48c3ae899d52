package fulfill

import (
	"slices"
	"time"
)

// Add-on pricing.
const (
	PricingPerSeat = "per_seat" // per seat per term; at most the subscription's seats
	PricingPerUnit = "per_unit" // per unit per term
	PricingOneOff  = "one_off"  // charged once, in full
)

// Fits reports whether the add-on can be sold with a plan of this kind.
func (a *AddOn) Fits(kind string) bool { return slices.Contains(a.Kinds, kind) }

// SubscriptionAddOn is an add-on on a subscription: its total quantity, and
// the price and entitlements it was bought with (kept until renewal, as a
// plan's price is).
type SubscriptionAddOn struct {
	Code         string       `json:"add_on"`
	Name         string       `json:"name"`
	Quantity     int64        `json:"quantity"`
	UnitAmount   int64        `json:"unit_amount"`
	Pricing      string       `json:"pricing"`
	Entitlements Entitlements `json:"entitlements"`
	UpdatedAt    time.Time    `json:"updated_at"`
}
