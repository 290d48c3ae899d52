package license

import (
	"bytes"
	"fmt"
	"time"
)

// Date is a calendar day without time of day or zone, as used for the license
// dates (starts_at, expires_at, ...). GitLab treats these as whole days, and
// comparing days avoids any dependence on the product's time zone.
//
// The zero Date means "not set"; it is written as "" in JSON.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

const dateLayout = "2006-01-02"

// NewDate returns the given day. Out-of-range values are normalised the way
// [time.Date] does it (January 32 becomes February 1).
func NewDate(year int, month time.Month, day int) Date {
	return DateOf(time.Date(year, month, day, 0, 0, 0, 0, time.UTC))
}

// DateOf returns the UTC calendar day of t. Every rule in this package compares
// days in UTC so that all instances of a product agree on the same day.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{y, m, d}
}

// ParseDate parses "YYYY-MM-DD". The empty string gives the zero Date.
func ParseDate(s string) (Date, error) {
	if s == "" {
		return Date{}, nil
	}
	// By hand: time.Parse was a visible share of Verify.
	if len(s) != len(dateLayout) || s[4] != '-' || s[7] != '-' {
		return Date{}, fmt.Errorf("license: bad date %q: want YYYY-MM-DD", s)
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	v := Date{y, time.Month(m), d}
	if !ok1 || !ok2 || !ok3 || !v.valid() { // rejects 2025-02-30
		return Date{}, fmt.Errorf("license: bad date %q: want YYYY-MM-DD", s)
	}
	return v, nil
}

// valid reports whether d is a real day of a year 0-9999, that is whether
// NewDate would return it unchanged and it formats as "YYYY-MM-DD". Checked by
// hand: time.Date was a visible share of Verify.
func (d Date) valid() bool {
	return d.Year >= 0 && d.Year <= 9999 && d.Month >= time.January && d.Month <= time.December &&
		d.Day >= 1 && d.Day <= daysIn(d.Month, d.Year)
}

// daysIn returns the number of days of month m (1-12) in the proleptic
// Gregorian calendar, as the time package counts them (year 0 is a leap year).
func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// String returns "YYYY-MM-DD", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Time().Format(dateLayout)
}

// Time returns midnight UTC at the start of d.
func (d Date) Time() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

// AddDays returns d moved by n days (n may be negative).
func (d Date) AddDays(n int) Date {
	return NewDate(d.Year, d.Month, d.Day+n)
}

// DaysUntil returns the number of days from d to e (negative if e is earlier).
func (d Date) DaysUntil(e Date) int {
	// Both are midnight UTC, so the difference is a whole number of days.
	return int(e.Time().Sub(d.Time()) / (24 * time.Hour))
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmpInt(d.Year, e.Year)
	case d.Month != e.Month:
		return cmpInt(int(d.Month), int(e.Month))
	default:
		return cmpInt(d.Day, e.Day)
	}
}

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is later than e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MarshalJSON writes "YYYY-MM-DD", or "" for the zero Date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte(`""`), nil
	}
	b := make([]byte, 0, len(dateLayout)+2)
	b = append(b, '"')
	b = d.Time().AppendFormat(b, dateLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads "YYYY-MM-DD"; "" and null give the zero Date.
func (d *Date) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*d = Date{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("license: bad date %s: want a string", b)
	}
	v, err := ParseDate(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
