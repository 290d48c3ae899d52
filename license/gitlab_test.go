package license

import (
	"errors"
	"testing"
	"time"
)

// TestGitLabLicenseRules: each case cites the GitLab source it follows
// (license.rb = ee/app/models/license.rb @09c0307; gem = gitlab-license
// 2.4.0 lib/license.rb; factory = ee/spec/factories/gitlab_licenses.rb).
func TestGitLabLicenseRules(t *testing.T) {
	t.Parallel()
	d := func(s string) Date {
		tm, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return DateOf(tm)
	}
	exp := d("2026-06-30")
	paid := func() *Payload {
		return &Payload{Seats: 100, StartsAt: d("2025-07-01"), ExpiresAt: exp, BlockChangesAt: exp.AddDays(14)}
	}
	trial := func() *Payload {
		return &Payload{Seats: 10, Trial: true, StartsAt: d("2026-06-01"), ExpiresAt: exp, BlockChangesAt: exp.AddDays(14)}
	}
	with := func(p *Payload, f func(*Payload)) *Payload { f(p); return p }
	up := func(p *Payload, in Upload) error { in.Today = d("2026-01-01"); return p.CheckUpload(in) }
	cases := []struct {
		source string
		got    bool
		want   bool
	}{
		// Notices.
		{"license.rb:20,436-443 notify_admins? 16 days before expiry: no", paid().NotifyAdminsOn(exp.AddDays(-16)), false},
		{"license.rb:20,436-443 notify_admins? 15 days before expiry: yes", paid().NotifyAdminsOn(exp.AddDays(-15)), true},
		{"license.rb:436-443 notify_admins? ignores notify_admins_at", with(paid(), func(p *Payload) { p.NotifyAdminsAt = exp.AddDays(-60) }).NotifyAdminsOn(exp.AddDays(-30)), false},
		{"license.rb:436-443 notify_admins? true once expired", paid().NotifyAdminsOn(exp.AddDays(100)), true},
		{"license.rb:19,436-443 trial notify_admins? 8 days before: no", trial().NotifyAdminsOn(exp.AddDays(-8)), false},
		{"license.rb:19,436-443 trial notify_admins? 7 days before: yes", trial().NotifyAdminsOn(exp.AddDays(-7)), true},
		{"license.rb:436-443 no expires_at: no admin notice", with(paid(), func(p *Payload) { p.ExpiresAt = Date{} }).NotifyAdminsOn(exp), false},
		{"license.rb:446-451 notify_users? paid: not before block_changes_at", paid().NotifyUsersOn(exp.AddDays(13)), false},
		{"license.rb:446-451 notify_users? paid: from block_changes_at", paid().NotifyUsersOn(exp.AddDays(14)), true},
		{"license.rb:446-451 notify_users? ignores notify_users_at", with(paid(), func(p *Payload) { p.NotifyUsersAt = exp.AddDays(-30) }).NotifyUsersOn(exp.AddDays(-1)), false},
		{"license.rb:446-451 notify_users? paid without block_changes_at: never", with(paid(), func(p *Payload) { p.BlockChangesAt = Date{} }).NotifyUsersOn(exp.AddDays(400)), false},
		{"license.rb:19,446-451 trial notify_users? 8 days before: no", trial().NotifyUsersOn(exp.AddDays(-8)), false},
		{"license.rb:19,446-451 trial notify_users? from expires_at − 7", trial().NotifyUsersOn(exp.AddDays(-7)), true},
		// Expiry, grace, read-only.
		{"gem l.149-163 expired? the day before: no", paid().ExpiredOn(exp.AddDays(-1)), false},
		{"gem l.149-163 expired? on expires_at: yes", paid().ExpiredOn(exp), true},
		{"gem l.149-163 expired? false without expires_at", with(paid(), func(p *Payload) { p.ExpiresAt = Date{} }).ExpiredOn(exp.AddDays(1000)), false},
		{"license.rb:21,393-397 grace_period_expired? day 14: no", paid().GracePeriodExpiredOn(exp.AddDays(14)), false},
		{"license.rb:21,393-397 grace_period_expired? day 15: yes", paid().GracePeriodExpiredOn(exp.AddDays(15)), true},
		{"gem l.149-163 block_changes? before block_changes_at: no", paid().ReadOnlyOn(exp.AddDays(13)), false},
		{"gem l.149-163 block_changes? from block_changes_at (factory:8 expires_at + 2 weeks)", paid().ReadOnlyOn(exp.AddDays(14)), true},
		{"gem l.149-163 block_changes? false when unset", with(paid(), func(p *Payload) { p.BlockChangesAt = Date{} }).ReadOnlyOn(exp.AddDays(400)), false},
		{"factory:49 trials have no block_changes_at: never read-only", trial().ReadOnlyOn(exp.AddDays(400)), false},
		{"license.rb:262 an expired trial is expired (loses features), not read-only", trial().ExpiredOn(exp.AddDays(1)) && !trial().ReadOnlyOn(exp.AddDays(1)), true},
		// Overage threshold.
		{"license.rb:17,507 seats_with_threshold 100 → 110", paid().SeatsWithThreshold() == 110, true},
		{"license.rb:507 (seats × 1.1).to_i floors: 15 → 16", with(paid(), func(p *Payload) { p.Seats = 15 }).SeatsWithThreshold() == 16, true},
		{"license.rb:507 floor: 9 → 9", with(paid(), func(p *Payload) { p.Seats = 9 }).SeatsWithThreshold() == 9, true},
		// check_users_limit.
		{"license.rb:511-527 previous count set, max ≤ previous: billable 110 within threshold", up(with(paid(), func(p *Payload) { p.PreviousUserCount = 90 }), Upload{Billable: 110, PriorHistoricalMax: 90}) == nil, true},
		{"license.rb:511-527 previous count set, max ≤ previous: billable 111 over", errors.Is(up(with(paid(), func(p *Payload) { p.PreviousUserCount = 90 }), Upload{Billable: 111, PriorHistoricalMax: 90}), ErrUploadSeats), true},
		{"license.rb:511-527 max above previous: prior max 110 fine", up(with(paid(), func(p *Payload) { p.PreviousUserCount = 90 }), Upload{Billable: 10, PriorHistoricalMax: 110}) == nil, true},
		{"license.rb:511-527 max above previous: prior max 111 refused", errors.Is(up(with(paid(), func(p *Payload) { p.PreviousUserCount = 90 }), Upload{Billable: 10, PriorHistoricalMax: 111}), ErrUploadSeats), true},
		{"license.rb:511-527 previous_user_count 0 counts as set: max 0 checks billable", errors.Is(up(paid(), Upload{Billable: 111, PriorHistoricalMax: 0}), ErrUploadSeats), true},
		{"license.rb:511-527 previous_user_count 0 counts as set: max 0, billable 100 fine", up(paid(), Upload{Billable: 100, PriorHistoricalMax: 0}) == nil, true},
		{"license.rb:511-527 previous 0, prior max 120 over threshold", errors.Is(up(paid(), Upload{Billable: 1, PriorHistoricalMax: 120}), ErrUploadSeats), true},
		// check_trueup.
		{"license.rb:542-561 true-up covers max − previous", up(with(paid(), func(p *Payload) {
			p.PreviousUserCount, p.TrueUpQuantity, p.TrueUpFrom, p.TrueUpTo = 80, 20, d("2025-01-01"), d("2025-12-31")
		}), Upload{Billable: 100, TrueUpHistoricalMax: 100}) == nil, true},
		{"license.rb:542-561 true-up with threshold: floor(20 × 1.1) = 22 covers 22", up(with(paid(), func(p *Payload) {
			p.PreviousUserCount, p.TrueUpQuantity, p.TrueUpFrom, p.TrueUpTo = 80, 20, d("2025-01-01"), d("2025-12-31")
		}), Upload{Billable: 100, TrueUpHistoricalMax: 102}) == nil, true},
		{"license.rb:542-561 true-up short: 23 needed", errors.Is(up(with(paid(), func(p *Payload) {
			p.PreviousUserCount, p.TrueUpQuantity, p.TrueUpFrom, p.TrueUpTo = 80, 20, d("2025-01-01"), d("2025-12-31")
		}), Upload{Billable: 100, TrueUpHistoricalMax: 103}), ErrUploadTrueUp), true},
		{"license.rb:542-561 trueup_period_seat_count replaces previous_user_count", up(with(paid(), func(p *Payload) {
			p.PreviousUserCount, p.TrueUpPeriodSeatCount, p.TrueUpQuantity, p.TrueUpFrom, p.TrueUpTo = 50, 90, 10, d("2025-01-01"), d("2025-12-31")
		}), Upload{Billable: 100, TrueUpHistoricalMax: 101}) == nil, true},
		{"license.rb:542-561 without trueup_period_seat_count the previous count is the base", errors.Is(up(with(paid(), func(p *Payload) {
			p.PreviousUserCount, p.TrueUpQuantity, p.TrueUpFrom, p.TrueUpTo = 50, 10, d("2025-01-01"), d("2025-12-31")
		}), Upload{Billable: 100, TrueUpHistoricalMax: 101}), ErrUploadTrueUp), true},
		{"license.rb:542-561 covered true-up, then the seat check: billable over seats", errors.Is(up(with(paid(), func(p *Payload) {
			p.PreviousUserCount, p.TrueUpQuantity, p.TrueUpFrom, p.TrueUpTo = 80, 20, d("2025-01-01"), d("2025-12-31")
		}), Upload{Billable: 101, TrueUpHistoricalMax: 100}), ErrUploadSeats), true},
		{"license.rb:542-561 true-up only with trueup_from and trueup_to: otherwise check_users_limit", up(with(paid(), func(p *Payload) {
			p.PreviousUserCount, p.TrueUpQuantity, p.TrueUpFrom = 80, 0, d("2025-01-01")
		}), Upload{Billable: 100, TrueUpHistoricalMax: 1000, PriorHistoricalMax: 80}) == nil, true},
		// reconciliation_completed.
		{"license.rb reconciliation_completed: only the seat check, true-up ignored", up(with(paid(), func(p *Payload) {
			p.ReconciliationCompleted, p.PreviousUserCount, p.TrueUpQuantity, p.TrueUpFrom, p.TrueUpTo = true, 10, 0, d("2025-01-01"), d("2025-12-31")
		}), Upload{Billable: 100, TrueUpHistoricalMax: 500, PriorHistoricalMax: 500}) == nil, true},
		{"license.rb reconciliation_completed: seat check without threshold", errors.Is(up(with(paid(), func(p *Payload) { p.ReconciliationCompleted = true }), Upload{Billable: 101}), ErrUploadSeats), true},
		// Cloud licenses, unlimited seats.
		{"license.rb:36-38,511-513,567-568 cloud licenses skip the seat checks", up(with(paid(), func(p *Payload) { p.CloudLicensing = true }), Upload{Billable: 1000, PriorHistoricalMax: 1000}) == nil, true},
		{"license.rb:36-38 offline cloud licenses are cloud: skip too", up(with(paid(), func(p *Payload) { p.CloudLicensing, p.OfflineCloudLicensing = true, true }), Upload{Billable: 1000}) == nil, true},
		{"license.rb:511-513 no active_user_count restriction: unlimited seats", up(with(paid(), func(p *Payload) { p.Seats = UnlimitedSeats }), Upload{Billable: 1 << 20, PriorHistoricalMax: 1 << 20}) == nil, true},
		{"license.rb unlimited seats is not the default", paid().UnlimitedSeats(), false},
		// Expired at install.
		{"license.rb:43,587-591 an expired license is refused at upload", errors.Is(with(paid(), func(p *Payload) { p.CloudLicensing = true }).CheckUpload(Upload{Today: exp}), ErrUploadExpired), true},
		{"license.rb:43,587-591 expired online cloud license generated_from_cancellation installs", with(paid(), func(p *Payload) { p.CloudLicensing, p.GeneratedFromCancellation = true, true }).CheckUpload(Upload{Today: exp.AddDays(3)}) == nil, true},
		{"license.rb:587-591 generated_from_cancellation offline cloud: still refused", errors.Is(with(paid(), func(p *Payload) {
			p.CloudLicensing, p.OfflineCloudLicensing, p.GeneratedFromCancellation = true, true, true
		}).CheckUpload(Upload{Today: exp}), ErrUploadExpired), true},
		{"license.rb:587-591 generated_from_cancellation legacy license: still refused", errors.Is(with(paid(), func(p *Payload) { p.GeneratedFromCancellation = true }).CheckUpload(Upload{Today: exp}), ErrUploadExpired), true},
		{"license.rb:43 the day before expiry installs", with(paid(), func(p *Payload) { p.CloudLicensing = true }).CheckUpload(Upload{Today: exp.AddDays(-1)}) == nil, true},
	}
	if len(cases) < 40 {
		t.Fatalf("%d cases, want at least 40", len(cases))
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.source, c.got, c.want)
		}
	}
}

func TestCheckReportsNoOverageForUnlimitedSeats(t *testing.T) {
	t.Parallel()
	p := &Payload{Seats: UnlimitedSeats}
	if st := p.Check(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 5000, 5000); st.OverSeats || st.Overage != 0 {
		t.Fatalf("unlimited seats: %+v", st)
	}
}
