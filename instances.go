package fulfill

import "time"

// AddOnMetric is one add-on's seats as an instance reports them in its Seat
// Link, in GitLab's names (gitlab_subscriptions/add_on_metrics.rb).
type AddOnMetric struct {
	AddOnType      string `json:"add_on_type"`
	PurchasedSeats int64  `json:"purchased_seats"`
	AssignedSeats  int64  `json:"assigned_seats"`
}

// StaleAfter is how long an active instance may go without a sync before it
// is marked stale (and instance.stale is sent, once per lapse).
const StaleAfter = 3 * 24 * time.Hour

// Instance is one product instance that activated (or synced) under a
// subscription.
type Instance struct {
	SubscriptionID   string `json:"subscription_id"`
	InstanceID       string `json:"instance_id"`
	UniqueInstanceID string `json:"unique_instance_id,omitempty"`
	Hostname         string `json:"hostname"`
	Version          string `json:"version"`
	// ActivatedAt is the first activation (or sync); LastSeenAt the latest.
	ActivatedAt time.Time `json:"activated_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	// MaxUsers and BillableUsers are the counts of its latest report (nil
	// until it reports them).
	MaxUsers      *int64        `json:"max_historical_user_count"`
	BillableUsers *int64        `json:"billable_users_count"`
	AddOnMetrics  []AddOnMetric `json:"add_on_metrics"`
	// DeactivatedAt is set once the vendor or the customer deactivated it.
	DeactivatedAt *time.Time `json:"deactivated_at"`
	// StaleNotifiedAt is when its latest lapse was announced.
	StaleNotifiedAt *time.Time `json:"stale_notified_at,omitempty"`
	// Stale is computed when read: active and not synced for StaleAfter.
	Stale bool `json:"stale"`
}

// Active reports whether the instance has not been deactivated.
func (i *Instance) Active() bool { return i.DeactivatedAt == nil }

// Custom license kinds: licenses staff issue at no charge.
const (
	CustomNFR     = "nfr"     // not for resale
	CustomPOC     = "poc"     // proof of concept
	CustomPartner = "partner" // a partner's own use
)

// CustomLicense says why a subscription carries a staff-issued, no-charge
// license: it is never invoiced and is left out of every KPI.
type CustomLicense struct {
	SubscriptionID string       `json:"subscription_id"`
	Kind           string       `json:"kind"`
	Reason         string       `json:"reason"`
	Entitlements   Entitlements `json:"entitlements"`
	IssuedBy       string       `json:"issued_by"`
	CreatedAt      time.Time    `json:"created_at"`
}
