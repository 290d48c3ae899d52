package billing

import (
	"fmt"
	"math/big"
)

// roundDiv returns num/den rounded half away from zero, and false if den is
// zero or the result does not fit in int64. It never modifies its arguments.
func roundDiv(num, den *big.Int) (int64, bool) {
	if den.Sign() == 0 {
		return 0, false
	}
	q, r := new(big.Int), new(big.Int)
	q.QuoRem(num, den, r) // truncated division: r has num's sign
	// |r|*2 >= |den| means the fraction is at least one half: move q one step
	// away from zero, in the direction of the exact quotient's sign.
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	if r.Sign() != 0 && r2.CmpAbs(den) >= 0 {
		if num.Sign()*den.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// RoundDiv returns num/den rounded half away from zero (2.5 → 3, -2.5 → -3),
// the single rounding rule for money in this package. It panics if den is
// zero or the result overflows int64, both programming errors.
func RoundDiv(num, den *big.Int) int64 {
	if den.Sign() == 0 {
		panic("billing: RoundDiv by zero")
	}
	v, ok := roundDiv(num, den)
	if !ok {
		panic(fmt.Sprintf("billing: RoundDiv result %s/%s overflows int64", num, den))
	}
	return v
}

// Prorate returns amount×numer/denom with one rounding, half away from zero.
// The product is formed in big.Int, so it cannot overflow; it panics like
// RoundDiv if denom is zero or the result overflows.
func Prorate(amount, numer, denom int64) int64 {
	n := new(big.Int).Mul(big.NewInt(amount), big.NewInt(numer))
	return RoundDiv(n, big.NewInt(denom))
}

// mulRoundDiv returns (∏ factors)/den rounded once, with an ErrOverflow error
// instead of a panic, for the line builders that return errors.
func mulRoundDiv(den int64, factors ...int64) (int64, error) {
	n := big.NewInt(1)
	for _, f := range factors {
		n.Mul(n, big.NewInt(f))
	}
	v, ok := roundDiv(n, big.NewInt(den))
	if !ok {
		return 0, fmt.Errorf("%w: %s/%d", ErrOverflow, n, den)
	}
	return v, nil
}
