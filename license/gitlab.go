package license

import "errors"

// GitLab's license model (ee/app/models/license.rb at
// pavankalisetti009/gitlab@09c0307, and the gitlab-license gem 2.4.0), as
// functions of a payload and the day. FORMAT.md §7 lists each rule with
// its source. Check (§6) stays Fulfill's summary; these answer GitLab's
// own questions one by one.

// UnlimitedSeats as Seats says the license has no seat limit (GitLab: no
// active_user_count restriction): the seat checks never fail.
const UnlimitedSeats = -1

// UnlimitedSeats reports whether p has no seat limit.
func (p *Payload) UnlimitedSeats() bool { return p.Seats == UnlimitedSeats }

// ExpiredOn is the gem's expired?: today >= expires_at; never without one.
func (p *Payload) ExpiredOn(today Date) bool {
	return !p.ExpiresAt.IsZero() && !today.Before(p.ExpiresAt)
}

// NotifyAdminsOn is GitLab's notify_admins?: always once expired, else from
// expires_at − 15 days (trials − 7). It ignores notify_admins_at.
func (p *Payload) NotifyAdminsOn(today Date) bool {
	if p.ExpiresAt.IsZero() {
		return false
	}
	if p.ExpiredOn(today) {
		return true
	}
	days := AdminNoticeDays
	if p.Trial {
		days = TrialNoticeDays
	}
	return !today.Before(p.ExpiresAt.AddDays(-days))
}

// NotifyUsersOn is GitLab's notify_users?: trials from expires_at − 7 days,
// paid licenses from block_changes_at. It ignores notify_users_at.
func (p *Payload) NotifyUsersOn(today Date) bool {
	if p.Trial {
		return !p.ExpiresAt.IsZero() && !today.Before(p.ExpiresAt.AddDays(-TrialNoticeDays))
	}
	return !p.BlockChangesAt.IsZero() && !today.Before(p.BlockChangesAt)
}

// ReadOnlyOn is the gem's block_changes?: today >= block_changes_at. A trial
// is never read-only (GitLab's trial licenses have no block_changes_at): it
// only expires.
func (p *Payload) ReadOnlyOn(today Date) bool {
	return !p.Trial && !p.BlockChangesAt.IsZero() && !today.Before(p.BlockChangesAt)
}

// GracePeriodExpiredOn is GitLab's grace_period_expired?:
// (expires_at + 14 days).past?, so true from day 15 after expiry.
func (p *Payload) GracePeriodExpiredOn(today Date) bool {
	return !p.ExpiresAt.IsZero() && today.After(p.ExpiresAt.AddDays(GracePeriodDays))
}

// SeatsWithThreshold is GitLab's seats_with_threshold: (seats × 1.1).to_i,
// in integers.
func (p *Payload) SeatsWithThreshold() int {
	return p.Seats * (100 + SeatTolerancePercent) / 100
}

// OnlineCloud reports whether p is an online cloud license (cloud, not
// offline cloud).
func (p *Payload) OnlineCloud() bool { return p.CloudLicensing && !p.OfflineCloudLicensing }

// Upload is what the product knows when a license is installed.
type Upload struct {
	Today Date
	// Billable is the billable users now.
	Billable int
	// PriorHistoricalMax is the most users during the previous term
	// (GitLab's prior_historical_max).
	PriorHistoricalMax int
	// TrueUpHistoricalMax is the most users over trueup_from..trueup_to.
	TrueUpHistoricalMax int
}

// Errors of CheckUpload.
var (
	ErrUploadExpired = errors.New("license: the license has expired")
	ErrUploadSeats   = errors.New("license: more users than the license allows")
	ErrUploadTrueUp  = errors.New("license: the true-up does not cover the users over the previous term")
)

// CheckUpload applies GitLab's validations of a newly installed license:
// not expired (unless an online license generated_from_cancellation); for
// licenses other than cloud ones with a seat limit, check_trueup when the
// true-up period is set, check_users_limit otherwise, and only the seat
// check once reconciliation_completed. previous_user_count is always
// present in a Fulfill payload, so it always counts as set, 0 included.
func (p *Payload) CheckUpload(in Upload) error {
	if p.ExpiredOn(in.Today) && !(p.OnlineCloud() && p.GeneratedFromCancellation) {
		return ErrUploadExpired
	}
	if p.CloudLicensing || p.UnlimitedSeats() {
		return nil
	}
	switch {
	case p.ReconciliationCompleted:
		return p.checkRestrictedUserCount(in)
	case !p.TrueUpFrom.IsZero() && !p.TrueUpTo.IsZero():
		return p.checkTrueUp(in)
	}
	return p.checkUsersLimit(in)
}

// checkUsersLimit is check_users_limit (l.511-527).
func (p *Payload) checkUsersLimit(in Upload) error {
	need := in.PriorHistoricalMax
	if in.PriorHistoricalMax <= p.PreviousUserCount {
		need = in.Billable
	}
	if p.SeatsWithThreshold() < need {
		return ErrUploadSeats
	}
	return nil
}

// checkTrueUp is check_trueup (l.542-561): the users over the previous
// count (trueup_period_seat_count when set) must be covered by
// floor(trueup_quantity × 1.1); then the seat check.
func (p *Payload) checkTrueUp(in Upload) error {
	base := p.PreviousUserCount
	if p.TrueUpPeriodSeatCount != 0 {
		base = p.TrueUpPeriodSeatCount
	}
	if p.TrueUpQuantity*(100+SeatTolerancePercent)/100 < in.TrueUpHistoricalMax-base {
		return ErrUploadTrueUp
	}
	return p.checkRestrictedUserCount(in)
}

// checkRestrictedUserCount is the seat check: no more billable users than
// seats.
func (p *Payload) checkRestrictedUserCount(in Upload) error {
	if p.Seats < in.Billable {
		return ErrUploadSeats
	}
	return nil
}
