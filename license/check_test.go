package license

import (
	"slices"
	"testing"
	"time"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

// flags lists the booleans of st that are true, in a fixed order.
func flags(st Status) []string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{st.NotStarted, "not_started"}, {st.NotifyAdmins, "notify_admins"}, {st.NotifyUsers, "notify_users"},
		{st.OverSeats, "over_seats"}, {st.TrueUpInsufficient, "trueup_insufficient"},
		{st.Expired, "expired"}, {st.GracePeriod, "grace_period"}, {st.Blocked, "blocked"},
	} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return f
}

func TestCheck(t *testing.T) {
	// A one-year license: 2025-01-01 .. 2026-01-01, 100 seats, no overrides.
	base := func() Payload {
		return Payload{Seats: 100, StartsAt: NewDate(2025, 1, 1), ExpiresAt: NewDate(2026, 1, 1)}
	}
	with := func(f func(*Payload)) Payload { p := base(); f(&p); return p }
	trial := with(func(p *Payload) { p.Trial = true })
	seats := func(n int) Payload { return with(func(p *Payload) { p.Seats = n }) }
	renewal := with(func(p *Payload) { p.PreviousUserCount = 50; p.TrueUpQuantity = 10 }) // covers floor(10×1.1) = 11
	noTrueUp := with(func(p *Payload) { p.PreviousUserCount = 50 })
	blockAt := with(func(p *Payload) { p.BlockChangesAt = NewDate(2026, 1, 20) })
	noticeAt := with(func(p *Payload) { p.NotifyAdminsAt = NewDate(2025, 11, 1) })
	usersAt := with(func(p *Payload) { p.NotifyUsersAt = NewDate(2025, 12, 25) })
	perpetual := with(func(p *Payload) { p.ExpiresAt = Date{} })

	tests := []struct {
		name     string
		p        Payload
		now      time.Time
		billable int
		histMax  int
		want     State
		flags    []string
	}{
		// Admin notice: 15 days before expiry (2025-12-17).
		{"notice day before", base(), day(2025, 12, 16), 10, 0, Valid, nil},
		{"notice first day", base(), day(2025, 12, 17), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		{"notice day after", base(), day(2025, 12, 18), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		{"notice last second of day before", base(), time.Date(2025, 12, 16, 23, 59, 59, 0, time.UTC), 10, 0, Valid, nil},
		{"notice first second", base(), time.Date(2025, 12, 17, 0, 0, 0, 0, time.UTC), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		{"notice compared in UTC", base(), time.Date(2025, 12, 17, 1, 0, 0, 0, time.FixedZone("", 2*3600)), 10, 0, Valid, nil},
		// Trials: 7 days (2025-12-25).
		{"trial notice day before", trial, day(2025, 12, 24), 10, 0, Valid, nil},
		{"trial notice first day", trial, day(2025, 12, 25), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		{"trial notice day after", trial, day(2025, 12, 26), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		// notify_admins_at overrides the default.
		{"notify_admins_at day before", noticeAt, day(2025, 10, 31), 10, 0, Valid, nil},
		{"notify_admins_at", noticeAt, day(2025, 11, 1), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		{"notify_users_at day before", usersAt, day(2025, 12, 24), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		{"notify_users_at", usersAt, day(2025, 12, 25), 10, 0, NotifyAdmins, []string{"notify_admins", "notify_users"}},
		// Seats: floor(seats × 1.1).
		{"100 seats, 110 users", base(), day(2025, 6, 1), 110, 0, Valid, nil},
		{"100 seats, 111 users", base(), day(2025, 6, 1), 111, 0, OverSeats, []string{"over_seats"}},
		{"15 seats, 16 users", seats(15), day(2025, 6, 1), 16, 0, Valid, nil},
		{"15 seats, 17 users", seats(15), day(2025, 6, 1), 17, 0, OverSeats, []string{"over_seats"}},
		{"9 seats, 9 users", seats(9), day(2025, 6, 1), 9, 0, Valid, nil},
		{"9 seats, 10 users", seats(9), day(2025, 6, 1), 10, 0, OverSeats, []string{"over_seats"}},
		// Grace period: expiry day is day 0; day 14 is read-only.
		{"day before expiry", base(), day(2025, 12, 31), 10, 0, NotifyAdmins, []string{"notify_admins"}},
		{"grace day 0", base(), day(2026, 1, 1), 10, 0, GracePeriod, []string{"notify_admins", "expired", "grace_period"}},
		{"grace day 13", base(), day(2026, 1, 14), 10, 0, GracePeriod, []string{"notify_admins", "expired", "grace_period"}},
		{"grace day 14 blocked", base(), day(2026, 1, 15), 10, 0, Blocked, []string{"notify_admins", "expired", "blocked"}},
		{"block_changes_at day before", blockAt, day(2026, 1, 19), 10, 0, GracePeriod, []string{"notify_admins", "expired", "grace_period"}},
		{"block_changes_at", blockAt, day(2026, 1, 20), 10, 0, Blocked, []string{"notify_admins", "expired", "blocked"}},
		// Start.
		{"day before start", base(), day(2024, 12, 31), 10, 0, NotStarted, []string{"not_started"}},
		{"start day", base(), day(2025, 1, 1), 10, 0, Valid, nil},
		// True-up: needed = historicalMax − previous_user_count.
		{"true-up covers 11", renewal, day(2025, 6, 1), 10, 61, Valid, nil},
		{"true-up short by 1", renewal, day(2025, 6, 1), 10, 62, TrueUpInsufficient, []string{"trueup_insufficient"}},
		{"no true-up, no growth", noTrueUp, day(2025, 6, 1), 10, 50, Valid, nil},
		{"no true-up, growth", noTrueUp, day(2025, 6, 1), 10, 51, TrueUpInsufficient, []string{"trueup_insufficient"}},
		{"new license: no true-up check", base(), day(2025, 6, 1), 10, 500, Valid, nil},
		// Precedence when several hold.
		{"blocked over over seats", base(), day(2026, 2, 1), 200, 0, Blocked, []string{"notify_admins", "over_seats", "expired", "blocked"}},
		{"grace over true-up", renewal, day(2026, 1, 2), 10, 100, GracePeriod, []string{"notify_admins", "trueup_insufficient", "expired", "grace_period"}},
		{"not started over true-up", renewal, day(2024, 12, 1), 10, 100, NotStarted, []string{"not_started", "trueup_insufficient"}},
		{"true-up over over seats", renewal, day(2025, 6, 1), 200, 100, TrueUpInsufficient, []string{"over_seats", "trueup_insufficient"}},
		{"over seats over notice", base(), day(2025, 12, 20), 111, 0, OverSeats, []string{"notify_admins", "over_seats"}},
		// No expiry date.
		{"perpetual", perpetual, day(2099, 1, 1), 10, 0, Valid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.p.Check(tt.now, tt.billable, tt.histMax)
			if st.State != tt.want || !slices.Equal(flags(st), tt.flags) {
				t.Errorf("Check = %v %v, want %v %v", st.State, flags(st), tt.want, tt.flags)
			}
		})
	}
}

func TestCheckDetails(t *testing.T) {
	p := Payload{Seats: 100, PreviousUserCount: 80, TrueUpQuantity: 12, StartsAt: NewDate(2025, 1, 1), ExpiresAt: NewDate(2026, 1, 1)}
	got := p.Check(day(2025, 12, 20), 115, 93) // true-up 12 covers floor(13.2) = 13
	want := Status{
		State: OverSeats, Today: NewDate(2025, 12, 20),
		NotifyAdmins: true, OverSeats: true,
		DaysLeft: 12, NoticeFrom: NewDate(2025, 12, 17), BlockedFrom: NewDate(2026, 1, 15),
		SeatLimit: 110, Overage: 15, TrueUpRequired: 13,
	}
	if got != want {
		t.Errorf("Check:\n got %+v\nwant %+v", got, want)
	}
	if got := p.Check(day(2026, 1, 3), 0, 0).DaysLeft; got != -2 {
		t.Errorf("DaysLeft after expiry = %d, want -2", got)
	}
}

func TestStateString(t *testing.T) {
	want := []string{"valid", "notify_admins", "over_seats", "trueup_insufficient", "not_started", "grace_period", "blocked"}
	for s := Valid; s <= Blocked; s++ {
		if s.String() != want[s] {
			t.Errorf("State(%d) = %q, want %q", s, s, want[s])
		}
	}
	if got := State(99).String(); got != "State(99)" {
		t.Errorf("State(99) = %q", got)
	}
}
