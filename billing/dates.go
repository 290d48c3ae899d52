package billing

import "time"

// Day returns the calendar day y-m-d as UTC midnight, the package's date
// representation. Out-of-range values normalise like time.Date (Feb 30 → Mar 2).
func Day(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// dayNumber is the number of days since 1970-01-01 of t's calendar date (in
// t's own location). Using only Y-M-D makes day counts immune to DST and to
// any time-of-day component.
func dayNumber(t time.Time) int64 {
	y, m, d := t.Date()
	// UTC midnight is an exact multiple of 86400 seconds, so this division is
	// exact for dates before 1970 too.
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// DaysBetween returns the number of whole calendar days from from (inclusive)
// to to (exclusive); negative when to is before from. Only the dates' Y-M-D
// are used.
func DaysBetween(from, to time.Time) int64 {
	return dayNumber(to) - dayNumber(from)
}

// AddMonths adds n calendar months (n may be negative) to d's date and returns
// UTC midnight. The day is clamped to the target month's end, so
// Jan 31 + 1 month is Feb 28 (Feb 29 in leap years) rather than time.AddDate's
// overflow into March, which would shift term and quarter ends.
func AddMonths(d time.Time, n int) time.Time {
	y, m, day := d.Date()
	// Month arithmetic on a zero-based index keeps negative n correct.
	idx := int(m) - 1 + n
	y += idx / 12
	idx %= 12
	if idx < 0 {
		idx += 12
		y--
	}
	month := time.Month(idx + 1)
	if last := daysInMonth(y, month); day > last {
		day = last
	}
	return Day(y, month, day)
}

// daysInMonth uses day 0 of the next month, which time.Date normalises to the
// last day of month m.
func daysInMonth(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
