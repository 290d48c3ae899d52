package billing

import (
	"fmt"
	"time"
)

// Line kinds. They are plain strings so they can be stored and rendered as-is.
const (
	KindSubscription   = "subscription"
	KindSeats          = "seats"
	KindUpgradeCredit  = "upgrade_credit"
	KindUpgradeCharge  = "upgrade_charge"
	KindRenewal        = "renewal"
	KindTrueUp         = "trueup"
	KindReconciliation = "reconciliation"
	KindAddon          = "addon"
	KindTax            = "tax"
	KindCredit         = "credit"
)

// Line is one invoice line. Amount is authoritative: for prorated lines it is
// the rounded result, not Quantity×UnitAmount.
type Line struct {
	Kind        string // one of the Kind* constants
	Description string
	Quantity    int64
	UnitAmount  int64 // price of one unit for a full term (for prorated lines, the full-term unit price)
	Amount      int64 // the line total actually charged (negative for credits)
	PeriodStart time.Time
	PeriodEnd   time.Time // exclusive
	Proration   bool
}

// termSpan validates change ∈ [termStart, termEnd) and returns the remaining
// days (change inclusive to end exclusive) and the term length in days.
func termSpan(change, termStart, termEnd time.Time) (remaining, term int64, err error) {
	term = DaysBetween(termStart, termEnd)
	if term <= 0 {
		return 0, 0, fmt.Errorf("%w: term end %s not after start %s", ErrInvalid, ymd(termEnd), ymd(termStart))
	}
	if DaysBetween(termStart, change) < 0 || DaysBetween(change, termEnd) <= 0 {
		return 0, 0, fmt.Errorf("%w: change date %s outside term [%s, %s)", ErrInvalid, ymd(change), ymd(termStart), ymd(termEnd))
	}
	return DaysBetween(change, termEnd), term, nil
}

func ymd(t time.Time) string { return t.Format(time.DateOnly) }

// dateOf drops any time-of-day so stored periods are always UTC midnight.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return Day(y, m, d)
}

func plural(n int64, word string) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// SeatAddition prices seats added mid-term:
// added × unitPrice × remaining/termDays, rounded once, where remaining counts
// from change (inclusive) to termEnd (exclusive). It errors if added <= 0,
// unitPrice < 0, the term is empty, or change is outside [termStart, termEnd).
func SeatAddition(added, unitPrice int64, change, termStart, termEnd time.Time) (Line, error) {
	if added <= 0 {
		return Line{}, fmt.Errorf("%w: added seats must be positive, got %d", ErrInvalid, added)
	}
	if unitPrice < 0 {
		return Line{}, fmt.Errorf("%w: negative unit price %d", ErrInvalid, unitPrice)
	}
	rem, term, err := termSpan(change, termStart, termEnd)
	if err != nil {
		return Line{}, err
	}
	amt, err := mulRoundDiv(term, added, unitPrice, rem)
	if err != nil {
		return Line{}, err
	}
	return Line{
		Kind:        KindSeats,
		Description: fmt.Sprintf("%s added, prorated %d/%d days", plural(added, "seat"), rem, term),
		Quantity:    added,
		UnitAmount:  unitPrice,
		Amount:      amt,
		PeriodStart: dateOf(change),
		PeriodEnd:   dateOf(termEnd),
		Proration:   true,
	}, nil
}

// Upgrade prices a mid-term tier change for the same seats: a credit for the
// unused part of the old plan (negative Amount) and a charge for the unused
// part of the new plan. Each line is rounded on its own, as invoices show
// them separately. A cheaper new price is not rejected (Build turns any net
// credit into account credit); the caller decides what counts as an upgrade.
func Upgrade(seats, oldUnitPrice, newUnitPrice int64, change, termStart, termEnd time.Time) (credit, charge Line, err error) {
	if seats <= 0 {
		return Line{}, Line{}, fmt.Errorf("%w: seats must be positive, got %d", ErrInvalid, seats)
	}
	if oldUnitPrice < 0 || newUnitPrice < 0 {
		return Line{}, Line{}, fmt.Errorf("%w: negative unit price (old %d, new %d)", ErrInvalid, oldUnitPrice, newUnitPrice)
	}
	rem, term, err := termSpan(change, termStart, termEnd)
	if err != nil {
		return Line{}, Line{}, err
	}
	// Negating the factor (not the rounded result) is equivalent under
	// half-away-from-zero and keeps "one rounding per line" literal.
	cr, err := mulRoundDiv(term, -seats, oldUnitPrice, rem)
	if err != nil {
		return Line{}, Line{}, err
	}
	ch, err := mulRoundDiv(term, seats, newUnitPrice, rem)
	if err != nil {
		return Line{}, Line{}, err
	}
	start, end := dateOf(change), dateOf(termEnd)
	credit = Line{
		Kind:        KindUpgradeCredit,
		Description: fmt.Sprintf("Unused time on previous plan, %s, %d/%d days", plural(seats, "seat"), rem, term),
		Quantity:    seats,
		UnitAmount:  oldUnitPrice,
		Amount:      cr,
		PeriodStart: start,
		PeriodEnd:   end,
		Proration:   true,
	}
	charge = Line{
		Kind:        KindUpgradeCharge,
		Description: fmt.Sprintf("Remaining time on new plan, %s, %d/%d days", plural(seats, "seat"), rem, term),
		Quantity:    seats,
		UnitAmount:  newUnitPrice,
		Amount:      ch,
		PeriodStart: start,
		PeriodEnd:   end,
		Proration:   true,
	}
	return credit, charge, nil
}

// FullTerm returns an unprorated line of quantity × unitPrice for [start, end).
// It has no error result, so it panics if the product overflows int64; real
// prices are many orders of magnitude below that.
func FullTerm(kind, description string, quantity, unitPrice int64, start, end time.Time) Line {
	amt, err := mulRoundDiv(1, quantity, unitPrice)
	if err != nil {
		panic(err)
	}
	return Line{
		Kind:        kind,
		Description: description,
		Quantity:    quantity,
		UnitAmount:  unitPrice,
		Amount:      amt,
		PeriodStart: dateOf(start),
		PeriodEnd:   dateOf(end),
	}
}

// TrueUpQuantity is the number of seats to bill at renewal for users over
// license during the past term: max(0, maxUsers − seats).
func TrueUpQuantity(maxUsers, seats int64) int64 {
	return max(0, maxUsers-seats)
}

// RenewalSeats is the seat count of an automatic renewal: max(currentSeats,
// billableUsers), because seats are never renewed below the users in use.
func RenewalSeats(currentSeats, billableUsers int64) int64 {
	return max(currentSeats, billableUsers)
}

// Reconciliation prices a quarterly seat reconciliation (QSR) at the end of
// quarter 1..3: (maxUsers − paidSeats) × unitPrice × (4 − quarter) / 4, rounded
// once. The bool is false (and the Line zero) when maxUsers <= paidSeats,
// since there is nothing to bill. periodStart/periodEnd are recorded on the
// line as given (typically the quarter end to the term end).
func Reconciliation(maxUsers, paidSeats, unitPrice int64, quarter int, periodStart, periodEnd time.Time) (Line, bool, error) {
	if quarter < 1 || quarter > 3 {
		return Line{}, false, fmt.Errorf("%w: quarter must be 1..3, got %d", ErrInvalid, quarter)
	}
	if maxUsers < 0 || paidSeats < 0 || unitPrice < 0 {
		return Line{}, false, fmt.Errorf("%w: negative input (max users %d, paid seats %d, unit price %d)", ErrInvalid, maxUsers, paidSeats, unitPrice)
	}
	if DaysBetween(periodStart, periodEnd) < 0 {
		return Line{}, false, fmt.Errorf("%w: period end %s before start %s", ErrInvalid, ymd(periodEnd), ymd(periodStart))
	}
	if maxUsers <= paidSeats {
		return Line{}, false, nil
	}
	extra := maxUsers - paidSeats
	left := int64(4 - quarter)
	amt, err := mulRoundDiv(4, extra, unitPrice, left)
	if err != nil {
		return Line{}, false, err
	}
	return Line{
		Kind:        KindReconciliation,
		Description: fmt.Sprintf("Quarterly reconciliation Q%d: %s over paid seats, %d of 4 quarters remaining", quarter, plural(extra, "user"), left),
		Quantity:    extra,
		UnitAmount:  unitPrice,
		Amount:      amt,
		PeriodStart: dateOf(periodStart),
		PeriodEnd:   dateOf(periodEnd),
		Proration:   true,
	}, true, nil
}

// QuarterEnds returns the end dates of quarters 1..3 of a term starting at
// termStart: start + 3, 6 and 9 months via AddMonths. Each is computed from
// the start, not chained, so a Nov 30 start gives Feb 28, May 30, Aug 30.
func QuarterEnds(termStart time.Time) [3]time.Time {
	return [3]time.Time{AddMonths(termStart, 3), AddMonths(termStart, 6), AddMonths(termStart, 9)}
}
