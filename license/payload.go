package license

import "time"

// PayloadVersion is the only payload version this package understands. A
// newer server may add fields without bumping it; it bumps it only when an
// older product would misread the license.
const PayloadVersion = 1

// Payload is the signed content of a license: who may use the product, on
// which plan, with how many seats, and for which dates. Field names follow
// GitLab's license attributes in snake_case.
type Payload struct {
	ID       string   `json:"id"`
	Version  int      `json:"version"`
	Licensee Licensee `json:"licensee"`
	Plan     string   `json:"plan"`

	// Seats is the number of users paid for (GitLab's active_user_count).
	Seats int `json:"seats"`
	// PreviousUserCount is the seat count of the previous term, for renewals.
	PreviousUserCount int `json:"previous_user_count"`
	// TrueUpQuantity is the number of users over PreviousUserCount paid for
	// at renewal, covering TrueUpFrom..TrueUpTo.
	TrueUpQuantity int  `json:"trueup_quantity"`
	TrueUpFrom     Date `json:"trueup_from"`
	TrueUpTo       Date `json:"trueup_to"`

	StartsAt  Date `json:"starts_at"`
	ExpiresAt Date `json:"expires_at"` // zero: never expires
	// NotifyAdminsAt overrides the default notice start (ExpiresAt minus 15
	// days, or 7 days for trials).
	NotifyAdminsAt Date `json:"notify_admins_at"`
	NotifyUsersAt  Date `json:"notify_users_at"`
	// BlockChangesAt is when the product turns read-only; zero means
	// ExpiresAt plus the 14-day grace period.
	BlockChangesAt Date `json:"block_changes_at"`

	// IssuedAt is when the server signed the license; Verify refuses files
	// issued more than MaxClockSkew after the verifier's clock.
	IssuedAt       time.Time      `json:"issued_at"`
	SubscriptionID string         `json:"subscription_id"`
	AddOns         map[string]int `json:"add_ons,omitempty"`

	Trial                 bool `json:"trial"`
	CloudLicensing        bool `json:"cloud_licensing"`
	OfflineCloudLicensing bool `json:"offline_cloud_licensing"`
	AutoRenew             bool `json:"auto_renew"`
	SeatReconciliation    bool `json:"seat_reconciliation"`

	// GitLab's restrictions (ee/app/models/license.rb), absent when unset so
	// that licenses without them encode as before.
	SubscriptionName string `json:"subscription_name,omitempty"`
	// TrueUpPeriodSeatCount is the seats the true-up period was billed for;
	// when set it replaces PreviousUserCount in the true-up check.
	TrueUpPeriodSeatCount int `json:"trueup_period_seat_count,omitempty"`
	// ReconciliationCompleted: the true-up was settled by seat
	// reconciliation; only the seat check applies at upload.
	ReconciliationCompleted bool `json:"reconciliation_completed,omitempty"`
	// GeneratedFromCancellation marks the final license issued after a term
	// ended without renewal; such an online license installs though expired.
	GeneratedFromCancellation bool `json:"generated_from_cancellation,omitempty"`
	// Entitlements are named flags (true) and limits (numbers) the license
	// grants; absent when none.
	Entitlements map[string]any `json:"entitlements,omitempty"`
}

// Licensee is the customer a license is issued to. It is never edited: a
// change of contact issues a new license.
type Licensee struct {
	Name    string `json:"name"`
	Company string `json:"company"`
	Email   string `json:"email"`
}
