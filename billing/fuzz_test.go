package billing

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// checkBuild asserts the invoice invariants: subtotal and total are the exact
// sums, tax is the single rounding of subtotal×rate, and nothing is negative.
func checkBuild(t *testing.T, amounts []int64, bp int64) {
	t.Helper()
	lines := make([]Line, len(amounts))
	for i, a := range amounts {
		lines[i] = Line{Kind: KindAddon, Amount: a}
	}
	inv, err := Build("USD", lines, TaxDecision{RateBasisPoints: bp, Country: "XX"}, t2026s, t2026e)
	orig := new(big.Int)
	for _, a := range amounts {
		orig.Add(orig, big.NewInt(a))
	}
	if err != nil {
		// With a valid rate only overflow may fail: of the subtotal, of its
		// negation, or of subtotal + tax.
		sub := new(big.Int).Abs(orig)
		if orig.Sign() < 0 {
			sub.SetInt64(0)
		}
		tot := new(big.Int).Mul(sub, big.NewInt(bp))
		tot.Quo(tot, big.NewInt(10000)).Add(tot, sub)
		overflow := !orig.IsInt64() || orig.Int64() == math.MinInt64 || !tot.IsInt64() ||
			new(big.Int).Add(tot, big.NewInt(1)).Cmp(big.NewInt(math.MaxInt64)) > 0
		if !overflow {
			t.Fatalf("unexpected error for sum %s: %v", orig, err)
		}
		return
	}
	sum := new(big.Int)
	for _, l := range inv.Lines {
		sum.Add(sum, big.NewInt(l.Amount))
	}
	if !sum.IsInt64() || sum.Int64() != inv.Totals.Subtotal {
		t.Fatalf("subtotal %d != sum of lines %s", inv.Totals.Subtotal, sum)
	}
	if inv.Totals.Subtotal < 0 || inv.Totals.Tax < 0 || inv.Totals.Total < 0 || inv.CreditExcess < 0 {
		t.Fatalf("negative: %+v excess %d", inv.Totals, inv.CreditExcess)
	}
	total := new(big.Int).Add(sum, big.NewInt(inv.Tax.Amount))
	if !total.IsInt64() || total.Int64() != inv.Totals.Total || inv.Tax.Amount != inv.Totals.Tax {
		t.Fatalf("total %d != %s", inv.Totals.Total, total)
	}
	// Tax = round(subtotal × bp / 10000) checked with big.Rat, independently of roundDiv.
	exact := new(big.Rat).SetFrac(new(big.Int).Mul(sum, big.NewInt(bp)), big.NewInt(10000))
	lo := new(big.Rat).Sub(exact, big.NewRat(1, 2))
	hi := new(big.Rat).Add(exact, big.NewRat(1, 2))
	tax := new(big.Rat).SetInt64(inv.Tax.Amount)
	if tax.Cmp(lo) < 0 || tax.Cmp(hi) > 0 || (exact.Sign() >= 0 && tax.Cmp(lo) == 0) {
		t.Fatalf("tax %d is not round(%s)", inv.Tax.Amount, exact.FloatString(4))
	}
	// A credit line equal to the deficit is added iff the original lines summed negative.
	wantExcess := int64(0)
	if orig.Sign() < 0 {
		wantExcess = -orig.Int64()
	}
	if inv.CreditExcess != wantExcess {
		t.Fatalf("credit excess %d for original sum %s", inv.CreditExcess, orig)
	}
}

func FuzzBuild(f *testing.F) {
	f.Add(int64(5956274), int64(-1744767), int64(0), int64(2000))
	f.Add(int64(1744767), int64(-5956274), int64(0), int64(2000))
	f.Add(int64(25), int64(0), int64(0), int64(1000))
	f.Add(int64(-1), int64(-1), int64(1), int64(2550))
	f.Add(int64(1<<62), int64(1<<62), int64(0), int64(10000))
	f.Fuzz(func(t *testing.T, a, b, c, bp int64) {
		if bp < 0 {
			bp = -(bp + 1) // keep the rate valid; invalid rates are unit-tested
		}
		checkBuild(t, []int64{a, b, c}, bp%30000)
	})
}

// TestBuildProperty runs the same invariants on realistic, seeded random
// invoices made with the real line builders.
func TestBuildProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	table := DefaultTaxTable("DE")
	countries := []string{"DE", "FR", "US", "CH", "FI", "JP", "GB"}
	for i := 0; i < 5000; i++ {
		start := Day(2020+r.IntN(10), time.Month(1+r.IntN(12)), 1+r.IntN(28))
		end := AddMonths(start, 12)
		change := start.AddDate(0, 0, r.IntN(int(DaysBetween(start, end))))
		seats := 1 + r.Int64N(5000)
		oldP, newP := r.Int64N(200000), r.Int64N(200000)
		cr, ch, err := Upgrade(seats, oldP, newP, change, start, end)
		if err != nil {
			t.Fatal(err)
		}
		add, err := SeatAddition(1+r.Int64N(100), newP, change, start, end)
		if err != nil {
			t.Fatal(err)
		}
		lines := []Line{cr, ch}
		if r.IntN(2) == 0 {
			lines = append(lines, add)
		}
		var amounts []int64
		for _, l := range lines {
			amounts = append(amounts, l.Amount)
		}
		d := table.Decide(countries[r.IntN(len(countries))], []string{"", "VAT1"}[r.IntN(2)])
		checkBuild(t, amounts, d.RateBasisPoints)
	}
}
