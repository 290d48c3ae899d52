package billing

import (
	"fmt"
	"time"
)

// KindDiscount is the line of a coupon: negative, before tax.
const KindDiscount = "discount"

// chargeBase is what a discount may take off: the sum of the positive
// lines (charges), never the credits.
func chargeBase(lines []Line) int64 {
	var base int64
	for _, l := range lines {
		if l.Amount > 0 && l.Kind != KindTax && l.Kind != KindDiscount {
			base += l.Amount
		}
	}
	return base
}

// Discount returns the discount line for an invoice's lines: percent (0 to
// 100) of the charges, rounded once, half away from zero, or, when percent
// is 0, the fixed amountOff. It never takes off more than the charges, so
// an invoice never goes negative because of it. The bool is false when
// there is nothing to take off.
func Discount(lines []Line, percent, amountOff int64, description string, start, end time.Time) (Line, bool, error) {
	if percent < 0 || percent > 100 || amountOff < 0 {
		return Line{}, false, fmt.Errorf("%w: discount of %d%% or %d", ErrInvalid, percent, amountOff)
	}
	base := chargeBase(lines)
	amt := amountOff
	if percent > 0 {
		var err error
		if amt, err = mulRoundDiv(100, base, percent); err != nil {
			return Line{}, false, err
		}
	}
	amt = min(amt, base)
	if amt <= 0 {
		return Line{}, false, nil
	}
	return Line{Kind: KindDiscount, Description: description, Quantity: 1, UnitAmount: -amt, Amount: -amt,
		PeriodStart: dateOf(start), PeriodEnd: dateOf(end)}, true, nil
}
