package billing

import (
	"fmt"
	"math/big"
	"time"
)

// Totals are an invoice's sums in minor units.
type Totals struct {
	Subtotal, Tax, Total int64
}

// Sum totals an invoice: Subtotal is the sum of the lines whose Kind is not
// "tax" (tax is carried separately so it is never counted twice), Tax is
// tax.Amount and Total is Subtotal + Tax, exactly. It panics on int64
// overflow; Build checks for it first and returns an error instead.
func Sum(lines []Line, tax Line) Totals {
	sub := new(big.Int)
	for _, l := range lines {
		if l.Kind != KindTax {
			sub.Add(sub, big.NewInt(l.Amount))
		}
	}
	total := new(big.Int).Add(sub, big.NewInt(tax.Amount))
	if !sub.IsInt64() || !total.IsInt64() {
		panic(fmt.Sprintf("billing: invoice total overflows int64 (subtotal %s, tax %d)", sub, tax.Amount))
	}
	return Totals{Subtotal: sub.Int64(), Tax: tax.Amount, Total: total.Int64()}
}

// Invoice is an assembled invoice: the lines (possibly ending with a "credit"
// line), the tax line, the totals, and CreditExcess, the amount the caller
// must add to the account's credit balance (0 unless the lines summed to a
// negative amount).
type Invoice struct {
	Currency     string
	Lines        []Line
	Tax          Line
	Totals       Totals
	CreditExcess int64
}

// Build assembles an invoice from lines and a tax decision. The lines are
// copied. If the lines sum to a negative amount (e.g. an upgrade whose credit
// exceeds its charge), a "credit" line of -subtotal is appended and returned as
// CreditExcess, so the subtotal is 0 and an invoice is never negative. Tax is
// then computed on the (non-negative) subtotal, so Total >= 0.
//
// It errors on an invalid currency, a line of kind "tax" in lines (tax comes
// only from the decision), a negative rate, a reverse charge with a non-zero
// rate, end before start, or an overflow of int64.
func Build(currency string, lines []Line, tax TaxDecision, start, end time.Time) (Invoice, error) {
	if err := ValidateCurrency(currency); err != nil {
		return Invoice{}, err
	}
	if tax.RateBasisPoints < 0 {
		return Invoice{}, fmt.Errorf("%w: negative tax rate %d bp", ErrInvalid, tax.RateBasisPoints)
	}
	if tax.ReverseCharge && tax.RateBasisPoints != 0 {
		return Invoice{}, fmt.Errorf("%w: reverse charge with non-zero rate %d bp", ErrInvalid, tax.RateBasisPoints)
	}
	if DaysBetween(start, end) < 0 {
		return Invoice{}, fmt.Errorf("%w: invoice period end %s before start %s", ErrInvalid, ymd(end), ymd(start))
	}
	out := make([]Line, 0, len(lines)+1)
	sub := new(big.Int)
	for i, l := range lines {
		if l.Kind == KindTax {
			return Invoice{}, fmt.Errorf("%w: line %d has kind %q; pass tax as a TaxDecision", ErrInvalid, i, KindTax)
		}
		sub.Add(sub, big.NewInt(l.Amount))
		out = append(out, l)
	}
	if !sub.IsInt64() {
		return Invoice{}, fmt.Errorf("%w: subtotal %s", ErrOverflow, sub)
	}
	var excess int64
	if s := sub.Int64(); s < 0 {
		if s == -s { // math.MinInt64 has no positive counterpart
			return Invoice{}, fmt.Errorf("%w: subtotal %d", ErrOverflow, s)
		}
		excess = -s
		out = append(out, Line{
			Kind:        KindCredit,
			Description: "Excess credit carried to account balance",
			Quantity:    1,
			UnitAmount:  excess,
			Amount:      excess,
			PeriodStart: dateOf(start),
			PeriodEnd:   dateOf(end),
		})
	}
	// Tax on a non-negative subtotal of at most MaxInt64 fits in int64 for
	// rates up to 100%; check explicitly rather than assume the rate.
	subtotal := sub.Int64() + excess
	taxAmt := new(big.Int).Mul(big.NewInt(subtotal), big.NewInt(tax.RateBasisPoints))
	if _, ok := roundDiv(taxAmt, big.NewInt(10000)); !ok {
		return Invoice{}, fmt.Errorf("%w: tax on %d at %d bp", ErrOverflow, subtotal, tax.RateBasisPoints)
	}
	taxLine := TaxLine(subtotal, tax, start, end)
	if total := new(big.Int).Add(big.NewInt(subtotal), big.NewInt(taxLine.Amount)); !total.IsInt64() {
		return Invoice{}, fmt.Errorf("%w: total %s", ErrOverflow, total)
	}
	return Invoice{
		Currency:     currency,
		Lines:        out,
		Tax:          taxLine,
		Totals:       Sum(out, taxLine),
		CreditExcess: excess,
	}, nil
}
