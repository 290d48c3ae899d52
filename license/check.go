package license

import (
	"fmt"
	"time"
)

// GitLab's license rules (ee/app/models/license.rb), the ones DESIGN.md adopts.
const (
	// SeatTolerancePercent is the overage allowed before a license counts as
	// over seats: floor(seats × 1.1) users are fine.
	SeatTolerancePercent = 10
	// AdminNoticeDays is how long before expiry admins are warned.
	AdminNoticeDays = 15
	// TrialNoticeDays replaces AdminNoticeDays for trial licenses.
	TrialNoticeDays = 7
	// GracePeriodDays is how long an expired license keeps working before the
	// product turns read-only, unless block_changes_at says otherwise.
	GracePeriodDays = 14
)

// State summarises a Status in one value. Larger values are more severe;
// when several conditions hold the State is the most severe one:
// Blocked > GracePeriod > NotStarted > TrueUpInsufficient > OverSeats >
// NotifyAdmins > Valid.
type State int

// The States, least severe first.
const (
	Valid State = iota
	NotifyAdmins
	OverSeats
	TrueUpInsufficient
	NotStarted
	GracePeriod
	Blocked
)

var stateNames = [...]string{"valid", "notify_admins", "over_seats", "trueup_insufficient", "not_started", "grace_period", "blocked"}

// String returns the snake_case name, e.g. "grace_period".
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText writes the String form, so a State reads well in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Status is what a license means for a product on a given day. State is the
// single most severe condition; the booleans let a product show every warning
// that applies at once.
type Status struct {
	State State
	Today Date // the UTC day the rules were applied to

	NotStarted         bool // today < starts_at
	NotifyAdmins       bool // today >= NoticeFrom (also after expiry)
	NotifyUsers        bool // today >= notify_users_at, if set
	OverSeats          bool // billable users > SeatLimit
	TrueUpInsufficient bool // trueup_quantity, with tolerance, < TrueUpRequired
	Expired            bool // today >= expires_at
	GracePeriod        bool // expired, not yet blocked
	Blocked            bool // today >= BlockedFrom: read-only

	DaysLeft       int  // days from today to expires_at (<= 0 once expired; 0 if it never expires)
	NoticeFrom     Date // first day of admin notices; zero if the license never expires
	BlockedFrom    Date // first read-only day; zero if never
	SeatLimit      int  // floor(seats × 1.1)
	Overage        int  // users over the paid seats, GitLab's max(billable − seats, 0)
	TrueUpRequired int  // max(historicalMax − previous_user_count, 0); 0 if not a renewal
}

// Check applies the license rules on the UTC day of now.
//
// billableUsers is the product's current billable user count; historicalMax
// is the highest daily count over the true-up period (trueup_from..trueup_to,
// or the previous term).
//
// Rules, all on whole UTC days:
//   - NotStarted: today < starts_at.
//   - NotifyAdmins: today >= notify_admins_at, or when that is unset,
//     today >= expires_at − 15 days (7 for trials).
//   - NotifyUsers: today >= notify_users_at, when set.
//   - OverSeats: billableUsers > floor(seats × 1.1), computed as seats*11/10.
//   - TrueUpInsufficient, for renewals (previous_user_count > 0):
//     floor(trueup_quantity × 1.1) < historicalMax − previous_user_count.
//     The 10% tolerance on the true-up is GitLab's check_trueup rule.
//   - GracePeriod: expires_at <= today < BlockedFrom.
//   - Blocked: today >= BlockedFrom, which is block_changes_at when set,
//     else expires_at + 14 days.
//
// A zero expires_at means the license never expires (GitLab allows this for
// its own team licenses); then there is no notice, grace or block unless
// block_changes_at is set.
func (p *Payload) Check(now time.Time, billableUsers, historicalMax int) Status {
	today := DateOf(now)
	st := Status{Today: today}

	if !p.StartsAt.IsZero() && today.Before(p.StartsAt) {
		st.NotStarted = true
	}

	if !p.ExpiresAt.IsZero() {
		st.DaysLeft = today.DaysUntil(p.ExpiresAt)
		st.Expired = !today.Before(p.ExpiresAt)
		days := AdminNoticeDays
		if p.Trial {
			days = TrialNoticeDays
		}
		st.NoticeFrom = p.ExpiresAt.AddDays(-days)
		st.BlockedFrom = p.ExpiresAt.AddDays(GracePeriodDays)
	}
	if !p.NotifyAdminsAt.IsZero() {
		st.NoticeFrom = p.NotifyAdminsAt
	}
	if !p.BlockChangesAt.IsZero() {
		st.BlockedFrom = p.BlockChangesAt
	}
	st.NotifyAdmins = !st.NoticeFrom.IsZero() && !today.Before(st.NoticeFrom)
	st.NotifyUsers = !p.NotifyUsersAt.IsZero() && !today.Before(p.NotifyUsersAt)
	st.Blocked = !st.BlockedFrom.IsZero() && !today.Before(st.BlockedFrom)
	st.GracePeriod = st.Expired && !st.Blocked

	// Integer math: floor(n × 1.1) without floating point surprises.
	st.SeatLimit = p.Seats * (100 + SeatTolerancePercent) / 100
	st.OverSeats = billableUsers > st.SeatLimit
	st.Overage = max(billableUsers-p.Seats, 0)
	if p.UnlimitedSeats() {
		st.OverSeats, st.Overage = false, 0
	}

	if p.PreviousUserCount > 0 {
		st.TrueUpRequired = max(historicalMax-p.PreviousUserCount, 0)
		covered := p.TrueUpQuantity * (100 + SeatTolerancePercent) / 100
		st.TrueUpInsufficient = covered < st.TrueUpRequired
	}

	// Most severe first; see State.
	switch {
	case st.Blocked:
		st.State = Blocked
	case st.GracePeriod:
		st.State = GracePeriod
	case st.NotStarted:
		st.State = NotStarted
	case st.TrueUpInsufficient:
		st.State = TrueUpInsufficient
	case st.OverSeats:
		st.State = OverSeats
	case st.NotifyAdmins:
		st.State = NotifyAdmins
	default:
		st.State = Valid
	}
	return st
}
