package billing

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

var (
	t2026s = Day(2026, 1, 1)
	t2026e = Day(2027, 1, 1)
)

func TestDay(t *testing.T) {
	d := Day(2026, 7, 2)
	if d.Location() != time.UTC || d.Hour() != 0 || d.Format(time.DateOnly) != "2026-07-02" {
		t.Fatalf("Day = %v", d)
	}
}

func TestDaysBetween(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     int64
	}{
		{"term 2026", t2026s, t2026e, 365},
		{"leap term 2028", Day(2028, 1, 1), Day(2029, 1, 1), 366},
		{"remaining from Jul 2", Day(2026, 7, 2), t2026e, 183},
		{"same day", t2026s, t2026s, 0},
		{"backwards", t2026e, t2026s, -365},
		{"before 1970", Day(1969, 12, 31), Day(1970, 1, 2), 2},
		// Across the spring-forward night the wall-clock span is 23h; only Y-M-D counts.
		{"DST local dates", time.Date(2026, 3, 29, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris), 1},
		{"time of day ignored", time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC), time.Date(2026, 1, 2, 0, 1, 0, 0, time.UTC), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DaysBetween(tt.from, tt.to); got != tt.want {
				t.Errorf("DaysBetween = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAddMonths(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		n    int
		want time.Time
	}{
		{"Jan 31 + 1 clamps to Feb 28", Day(2026, 1, 31), 1, Day(2026, 2, 28)},
		{"Jan 31 + 1 leap clamps to Feb 29", Day(2028, 1, 31), 1, Day(2028, 2, 29)},
		{"Mar 31 + 1 clamps to Apr 30", Day(2026, 3, 31), 1, Day(2026, 4, 30)},
		{"Feb 29 + 12 clamps", Day(2028, 2, 29), 12, Day(2029, 2, 28)},
		{"year wrap", Day(2026, 11, 15), 3, Day(2027, 2, 15)},
		{"twelve months", t2026s, 12, t2026e},
		{"negative", Day(2026, 3, 31), -1, Day(2026, 2, 28)},
		{"negative across year", Day(2026, 1, 15), -13, Day(2024, 12, 15)},
		{"zero", Day(2026, 5, 5), 0, Day(2026, 5, 5)},
		{"drops time of day", time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC), 1, Day(2026, 2, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AddMonths(tt.in, tt.n); !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("AddMonths(%v, %d) = %v, want %v", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestQuarterEnds(t *testing.T) {
	tests := []struct {
		name  string
		start time.Time
		want  [3]time.Time
	}{
		{"Jan 1", t2026s, [3]time.Time{Day(2026, 4, 1), Day(2026, 7, 1), Day(2026, 10, 1)}},
		{"Nov 30 not chained", Day(2025, 11, 30), [3]time.Time{Day(2026, 2, 28), Day(2026, 5, 30), Day(2026, 8, 30)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QuarterEnds(tt.start); got != tt.want {
				t.Errorf("QuarterEnds = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProrateRounding(t *testing.T) {
	tests := []struct {
		name                 string
		amount, numer, denom int64
		want                 int64
	}{
		{"+0.5 up", 1, 1, 2, 1},
		{"-0.5 away", -1, 1, 2, -1},
		{"+1.5 up", 3, 1, 2, 2},
		{"-1.5 away", -3, 1, 2, -2},
		{"+2.5 up (not banker's)", 5, 1, 2, 3},
		{"-2.5 away", -5, 1, 2, -3},
		{"negative denominator", 1, 1, -2, -1},
		{"both negative", -1, 1, -2, 1},
		{"+1/3 down", 1, 1, 3, 0},
		{"+2/3 up", 2, 1, 3, 1},
		{"-2/3 away", -2, 1, 3, -1},
		{"exact", 10, 3, 5, 6},
		{"zero", 0, 5, 7, 0},
		{"seat example", 20 * 34800, 183, 365, 348953},
		{"product overflows int64 but result fits", math.MaxInt64, 365, 365, math.MaxInt64},
		{"MinInt64", math.MinInt64, 1, 1, math.MinInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Prorate(tt.amount, tt.numer, tt.denom); got != tt.want {
				t.Errorf("Prorate(%d, %d, %d) = %d, want %d", tt.amount, tt.numer, tt.denom, got, tt.want)
			}
		})
	}
}

func TestRoundDivPanics(t *testing.T) {
	tests := []struct {
		name     string
		num, den *big.Int
	}{
		{"zero denominator", big.NewInt(1), big.NewInt(0)},
		{"overflow", new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(1)},
		{"overflow by rounding", new(big.Int).Add(new(big.Int).Lsh(big.NewInt(math.MaxInt64), 1), big.NewInt(1)), big.NewInt(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			RoundDiv(tt.num, tt.den)
		})
	}
	t.Run("arguments untouched", func(t *testing.T) {
		n, d := big.NewInt(7), big.NewInt(2)
		if got := RoundDiv(n, d); got != 4 || n.Int64() != 7 || d.Int64() != 2 {
			t.Errorf("RoundDiv = %d, args %s/%s", got, n, d)
		}
	})
}

func TestSeatAddition(t *testing.T) {
	tests := []struct {
		name            string
		added, price    int64
		change, ts, te  time.Time
		want            int64
		wantDescContain string
	}{
		{"reference example", 20, 34800, Day(2026, 7, 2), t2026s, t2026e, 348953, "183/365 days"},
		{"leap year term uses 366 days", 20, 34800, Day(2028, 7, 2), Day(2028, 1, 1), Day(2029, 1, 1), 348000, "183/366 days"},
		{"first day is full term", 1, 34800, t2026s, t2026s, t2026e, 34800, "365/365"},
		{"last day is one day", 1, 36500, Day(2026, 12, 31), t2026s, t2026e, 100, "1/365"},
		{"free plan", 5, 0, Day(2026, 7, 2), t2026s, t2026e, 0, "5 seats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := SeatAddition(tt.added, tt.price, tt.change, tt.ts, tt.te)
			if err != nil {
				t.Fatal(err)
			}
			if l.Amount != tt.want {
				t.Errorf("Amount = %d, want %d", l.Amount, tt.want)
			}
			if l.Kind != KindSeats || !l.Proration || l.Quantity != tt.added || l.UnitAmount != tt.price ||
				!l.PeriodStart.Equal(tt.change) || !l.PeriodEnd.Equal(tt.te) {
				t.Errorf("line = %+v", l)
			}
			if !strings.Contains(l.Description, tt.wantDescContain) {
				t.Errorf("Description %q lacks %q", l.Description, tt.wantDescContain)
			}
		})
	}
	errTests := []struct {
		name           string
		added, price   int64
		change, ts, te time.Time
	}{
		{"zero seats", 0, 34800, Day(2026, 7, 2), t2026s, t2026e},
		{"negative seats", -1, 34800, Day(2026, 7, 2), t2026s, t2026e},
		{"negative price", 1, -1, Day(2026, 7, 2), t2026s, t2026e},
		{"change before term", 1, 34800, Day(2025, 12, 31), t2026s, t2026e},
		{"change on term end (exclusive)", 1, 34800, t2026e, t2026s, t2026e},
		{"empty term", 1, 34800, t2026s, t2026s, t2026s},
		{"inverted term", 1, 34800, t2026s, t2026e, t2026s},
		{"overflow", math.MaxInt64, math.MaxInt64, t2026s, t2026s, t2026e},
	}
	for _, tt := range errTests {
		t.Run("error/"+tt.name, func(t *testing.T) {
			_, err := SeatAddition(tt.added, tt.price, tt.change, tt.ts, tt.te)
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrOverflow) {
				t.Errorf("err = %v, want ErrInvalid or ErrOverflow", err)
			}
		})
	}
}

func TestUpgrade(t *testing.T) {
	tests := []struct {
		name                 string
		seats, oldP, newP    int64
		change, ts, te       time.Time
		wantCredit, wantChar int64
	}{
		// 100×34800×183/365 = 1744767.12…; 100×118800×183/365 = 5956273.97…
		{"reference example", 100, 34800, 118800, Day(2026, 7, 2), t2026s, t2026e, -1744767, 5956274},
		{"first day: full prices", 10, 34800, 118800, t2026s, t2026s, t2026e, -348000, 1188000},
		{"leap term half", 100, 34800, 118800, Day(2028, 7, 2), Day(2028, 1, 1), Day(2029, 1, 1), -1740000, 5940000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr, ch, err := Upgrade(tt.seats, tt.oldP, tt.newP, tt.change, tt.ts, tt.te)
			if err != nil {
				t.Fatal(err)
			}
			if cr.Amount != tt.wantCredit || ch.Amount != tt.wantChar {
				t.Errorf("credit %d charge %d, want %d %d", cr.Amount, ch.Amount, tt.wantCredit, tt.wantChar)
			}
			if cr.Kind != KindUpgradeCredit || ch.Kind != KindUpgradeCharge || cr.UnitAmount != tt.oldP ||
				ch.UnitAmount != tt.newP || cr.Quantity != tt.seats || ch.Quantity != tt.seats || !cr.Proration || !ch.Proration {
				t.Errorf("lines = %+v / %+v", cr, ch)
			}
		})
	}
	for _, tt := range []struct {
		name              string
		seats, oldP, newP int64
		change            time.Time
	}{
		{"zero seats", 0, 1, 2, Day(2026, 7, 2)},
		{"negative price", 1, -1, 2, Day(2026, 7, 2)},
		{"change at end", 1, 1, 2, t2026e},
	} {
		t.Run("error/"+tt.name, func(t *testing.T) {
			if _, _, err := Upgrade(tt.seats, tt.oldP, tt.newP, tt.change, t2026s, t2026e); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestFullTerm(t *testing.T) {
	l := FullTerm(KindTrueUp, "True-up", 10, 34800, t2026s, t2026e)
	if l.Amount != 348000 || l.Proration || l.Kind != KindTrueUp || l.Quantity != 10 || l.UnitAmount != 34800 {
		t.Errorf("FullTerm = %+v", l)
	}
	t.Run("overflow panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		FullTerm(KindAddon, "x", math.MaxInt64, 2, t2026s, t2026e)
	})
}

func TestTrueUpAndRenewal(t *testing.T) {
	tests := []struct {
		name string
		got  int64
		want int64
	}{
		{"trueup 130 vs 120", TrueUpQuantity(130, 120), 10},
		{"trueup 100 vs 130", TrueUpQuantity(100, 130), 0},
		{"trueup equal", TrueUpQuantity(120, 120), 0},
		{"renewal grows to users", RenewalSeats(120, 125), 125},
		{"renewal keeps seats", RenewalSeats(120, 90), 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %d, want %d", tt.got, tt.want)
			}
		})
	}
}

func TestReconciliation(t *testing.T) {
	q := QuarterEnds(t2026s)
	tests := []struct {
		name                  string
		maxUsers, paid, price int64
		quarter               int
		want                  int64
		wantOK                bool
	}{
		{"Q1 max 110 of 100", 110, 100, 10000, 1, 75000, true},
		{"Q2 max 110 of 100", 110, 100, 10000, 2, 50000, true},
		{"Q3 max 120 of 110", 120, 110, 10000, 3, 25000, true},
		{"max equals paid", 110, 110, 10000, 2, 0, false},
		{"max below paid", 90, 100, 10000, 1, 0, false},
		{"rounds once: 1 seat at 34801, 3 quarters", 1, 0, 34801, 1, 26101, true}, // 104403/4 = 26100.75
		{"half rounds up: 1 seat at 2, 1 quarter", 1, 0, 2, 3, 1, true},           // 0.5 → 1
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, ok, err := Reconciliation(tt.maxUsers, tt.paid, tt.price, tt.quarter, q[tt.quarter-1], t2026e)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || l.Amount != tt.want {
				t.Fatalf("got %d %v, want %d %v", l.Amount, ok, tt.want, tt.wantOK)
			}
			if ok && (l.Kind != KindReconciliation || l.Quantity != tt.maxUsers-tt.paid || l.UnitAmount != tt.price ||
				!l.PeriodStart.Equal(q[tt.quarter-1]) || !l.PeriodEnd.Equal(t2026e)) {
				t.Errorf("line = %+v", l)
			}
			if !ok && l != (Line{}) {
				t.Errorf("line not zero: %+v", l)
			}
		})
	}
	for _, tt := range []struct {
		name    string
		quarter int
		price   int64
		end     time.Time
	}{
		{"quarter 0", 0, 1, t2026e},
		{"quarter 4", 4, 1, t2026e},
		{"negative price", 1, -1, t2026e},
		{"inverted period", 1, 1, t2026s},
	} {
		t.Run("error/"+tt.name, func(t *testing.T) {
			if _, _, err := Reconciliation(110, 100, tt.price, tt.quarter, q[0], tt.end); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	de := DefaultTaxTable("DE")
	tests := []struct {
		name           string
		table          TaxTable
		country, taxID string
		want           TaxDecision
	}{
		{"US buyer", de, "US", "", TaxDecision{Country: "US"}},
		{"US business", de, "US", "12-3456789", TaxDecision{Country: "US"}},
		{"FR business reverse charge", de, "FR", "FR40303265045", TaxDecision{ReverseCharge: true, Note: ReverseChargeNote, Country: "FR"}},
		{"FR consumer", de, "FR", "", TaxDecision{RateBasisPoints: 2000, Country: "FR"}},
		{"FR blank VAT id is consumer", de, "fr", "  ", TaxDecision{RateBasisPoints: 2000, Country: "FR"}},
		{"same country with VAT id", de, "DE", "DE123456789", TaxDecision{RateBasisPoints: 1900, Country: "DE"}},
		{"Greece as EL", de, "EL", "EL094014201", TaxDecision{ReverseCharge: true, Note: ReverseChargeNote, Country: "GR"}},
		{"GB business outside EU rule", de, "GB", "GB123456789", TaxDecision{RateBasisPoints: 2000, Country: "GB"}},
		{"CH consumer", de, "CH", "", TaxDecision{RateBasisPoints: 810, Country: "CH"}},
		{"US seller, IE business", DefaultTaxTable("US"), "IE", "IE6388047V", TaxDecision{ReverseCharge: true, Note: ReverseChargeNote, Country: "IE"}},
		{"US seller, NL consumer", DefaultTaxTable("US"), "NL", "", TaxDecision{RateBasisPoints: 2100, Country: "NL"}},
		{"unknown country", de, "ZZ", "", TaxDecision{Country: "ZZ"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.table.Decide(tt.country, tt.taxID); got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDefaultTaxTable(t *testing.T) {
	want := map[string]int64{
		"AT": 2000, "BE": 2100, "BG": 2000, "HR": 2500, "CY": 1900, "CZ": 2100,
		"DK": 2500, "EE": 2400, "FI": 2550, "FR": 2000, "DE": 1900, "GR": 2400,
		"HU": 2700, "IE": 2300, "IT": 2200, "LV": 2100, "LT": 2100, "LU": 1700,
		"MT": 1800, "NL": 2100, "PL": 2300, "PT": 2300, "RO": 2100, "SK": 2300,
		"SI": 2200, "ES": 2100, "SE": 2500,
		"GB": 2000, "NO": 2500, "CH": 810, "AU": 1000, "NZ": 1500, "CA": 500, "JP": 1000, "IN": 1800,
	}
	tab := DefaultTaxTable("de")
	if tab.SellerCountry != "DE" {
		t.Errorf("SellerCountry = %q", tab.SellerCountry)
	}
	if len(tab.Rates) != len(want) {
		t.Errorf("%d rates, want %d", len(tab.Rates), len(want))
	}
	eu := 0
	for c, bp := range want {
		if tab.Rates[c] != bp {
			t.Errorf("%s = %d, want %d", c, tab.Rates[c], bp)
		}
		if IsEU(c) {
			eu++
		}
	}
	if eu != 27 {
		t.Errorf("%d EU countries, want 27", eu)
	}
	if _, ok := tab.Rates["US"]; ok {
		t.Error("US should be absent (0)")
	}
	tab.Rates["FR"] = 1
	if DefaultTaxTable("DE").Rates["FR"] != 2000 {
		t.Error("DefaultTaxTable shares its map")
	}
	for _, c := range []string{"GB", "CH", "NO", "US", "", "XI"} {
		if IsEU(c) {
			t.Errorf("IsEU(%q) = true", c)
		}
	}
}

func TestTaxLine(t *testing.T) {
	tests := []struct {
		name     string
		subtotal int64
		d        TaxDecision
		want     int64
		desc     string
	}{
		{"FR 20% exact", 12345, TaxDecision{RateBasisPoints: 2000, Country: "FR"}, 2469, "VAT 20% (FR)"},
		{"DE 19% rounds down", 1234, TaxDecision{RateBasisPoints: 1900, Country: "DE"}, 234, "VAT 19% (DE)"}, // 234.46
		{"half rounds up", 25, TaxDecision{RateBasisPoints: 1000, Country: "AU"}, 3, "GST 10% (AU)"},         // 2.5
		{"negative half away", -25, TaxDecision{RateBasisPoints: 1000, Country: "AU"}, -3, "GST 10% (AU)"},
		{"CH 8.1%", 1000000, TaxDecision{RateBasisPoints: 810, Country: "CH"}, 81000, "VAT 8.1% (CH)"},
		{"FI 25.5% rounds up", 3, TaxDecision{RateBasisPoints: 2550, Country: "FI"}, 1, "VAT 25.5% (FI)"}, // 0.765
		{"US zero", 5956274, TaxDecision{Country: "US"}, 0, "Tax 0% (US)"},
		{"no country", 100, TaxDecision{}, 0, "Tax 0%"},
		{"reverse charge", 4211507, TaxDecision{ReverseCharge: true, Note: ReverseChargeNote, Country: "FR"}, 0, ReverseChargeNote},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := TaxLine(tt.subtotal, tt.d, t2026s, t2026e)
			if l.Amount != tt.want || l.Description != tt.desc || l.Kind != KindTax {
				t.Errorf("TaxLine = %+v, want amount %d desc %q", l, tt.want, tt.desc)
			}
		})
	}
}

func TestSum(t *testing.T) {
	lines := []Line{{Amount: 100}, {Amount: -30}, {Kind: KindTax, Amount: 999}}
	got := Sum(lines, Line{Kind: KindTax, Amount: 14})
	if want := (Totals{Subtotal: 70, Tax: 14, Total: 84}); got != want {
		t.Errorf("Sum = %+v, want %+v", got, want)
	}
}

func TestBuild(t *testing.T) {
	de := DefaultTaxTable("DE")
	change := Day(2026, 7, 2)
	cr, ch, err := Upgrade(100, 34800, 118800, change, t2026s, t2026e)
	if err != nil {
		t.Fatal(err)
	}
	down, up, err := Upgrade(100, 118800, 34800, change, t2026s, t2026e)
	if err != nil {
		t.Fatal(err)
	}
	seats, err := SeatAddition(20, 34800, change, t2026s, t2026e)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		lines      []Line
		tax        TaxDecision
		want       Totals
		wantExcess int64
		wantLines  int
	}{
		{"upgrade FR consumer", []Line{cr, ch}, de.Decide("FR", ""), Totals{4211507, 842301, 5053808}, 0, 2}, // 842301.4
		{"upgrade FR business", []Line{cr, ch}, de.Decide("FR", "FR40303265045"), Totals{4211507, 0, 4211507}, 0, 2},
		{"seats DE business", []Line{seats}, de.Decide("DE", "DE1"), Totals{348953, 66301, 415254}, 0, 1}, // 66301.07
		{"US renewal plus true-up", []Line{
			FullTerm(KindRenewal, "Renewal", 125, 34800, t2026e, Day(2028, 1, 1)),
			FullTerm(KindTrueUp, "True-up", 10, 34800, t2026e, Day(2028, 1, 1)),
		}, de.Decide("US", ""), Totals{4698000, 0, 4698000}, 0, 2},
		{"credit exceeds charge", []Line{down, up}, de.Decide("FR", ""), Totals{0, 0, 0}, 4211507, 3},
		{"empty", nil, de.Decide("FR", ""), Totals{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Build("EUR", tt.lines, tt.tax, t2026s, t2026e)
			if err != nil {
				t.Fatal(err)
			}
			if inv.Totals != tt.want || inv.CreditExcess != tt.wantExcess || len(inv.Lines) != tt.wantLines {
				t.Fatalf("Build = totals %+v excess %d lines %d; want %+v %d %d",
					inv.Totals, inv.CreditExcess, len(inv.Lines), tt.want, tt.wantExcess, tt.wantLines)
			}
			var sum int64
			for _, l := range inv.Lines {
				sum += l.Amount
			}
			if sum != inv.Totals.Subtotal || inv.Totals.Total != sum+inv.Tax.Amount || inv.Tax.Amount != inv.Totals.Tax {
				t.Errorf("totals %+v do not match lines sum %d + tax %d", inv.Totals, sum, inv.Tax.Amount)
			}
			if tt.wantExcess > 0 {
				last := inv.Lines[len(inv.Lines)-1]
				if last.Kind != KindCredit || last.Amount != tt.wantExcess {
					t.Errorf("credit line = %+v", last)
				}
			}
		})
	}
	t.Run("does not alias input", func(t *testing.T) {
		in := make([]Line, 2, 10)
		in[0], in[1] = down, up
		inv, err := Build("EUR", in, TaxDecision{}, t2026s, t2026e)
		if err != nil {
			t.Fatal(err)
		}
		inv.Lines[0].Amount = 1
		if in[0].Amount != down.Amount || in[:3][2] != (Line{}) {
			t.Error("Build wrote into the caller's slice")
		}
	})
	for _, tt := range []struct {
		name     string
		currency string
		lines    []Line
		tax      TaxDecision
		end      time.Time
		wantErr  error
	}{
		{"bad currency", "eur", nil, TaxDecision{}, t2026e, ErrInvalid},
		{"tax line in lines", "EUR", []Line{{Kind: KindTax, Amount: 1}}, TaxDecision{}, t2026e, ErrInvalid},
		{"negative rate", "EUR", nil, TaxDecision{RateBasisPoints: -1}, t2026e, ErrInvalid},
		{"reverse charge with rate", "EUR", nil, TaxDecision{RateBasisPoints: 2000, ReverseCharge: true}, t2026e, ErrInvalid},
		{"inverted period", "EUR", nil, TaxDecision{}, Day(2025, 1, 1), ErrInvalid},
		{"subtotal overflow", "EUR", []Line{{Amount: math.MaxInt64}, {Amount: 1}}, TaxDecision{}, t2026e, ErrOverflow},
		{"total overflow", "EUR", []Line{{Amount: math.MaxInt64}}, TaxDecision{RateBasisPoints: 1}, t2026e, ErrOverflow},
		{"MinInt64 subtotal", "EUR", []Line{{Amount: math.MinInt64}}, TaxDecision{}, t2026e, ErrOverflow},
	} {
		t.Run("error/"+tt.name, func(t *testing.T) {
			if _, err := Build(tt.currency, tt.lines, tt.tax, t2026s, tt.end); !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCurrency(t *testing.T) {
	for _, tt := range []struct {
		code string
		ok   bool
	}{{"USD", true}, {"EUR", true}, {"usd", false}, {"US", false}, {"USDX", false}, {"U$D", false}, {"", false}, {"ÉUR", false}} {
		t.Run("validate/"+tt.code, func(t *testing.T) {
			if err := ValidateCurrency(tt.code); (err == nil) != tt.ok {
				t.Errorf("ValidateCurrency(%q) = %v", tt.code, err)
			}
		})
	}
	for _, tt := range []struct {
		code string
		want int
	}{{"USD", 2}, {"EUR", 2}, {"JPY", 0}, {"KRW", 0}, {"KWD", 3}, {"XYZ", 2}} {
		t.Run("minor/"+tt.code, func(t *testing.T) {
			if got := MinorUnits(tt.code); got != tt.want {
				t.Errorf("MinorUnits(%q) = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name     string
		amount   int64
		currency string
		want     string
	}{
		{"usd", 3480000, "USD", "USD 34,800.00"},
		{"millions", 348000000, "USD", "USD 3,480,000.00"},
		{"cents only", 5, "USD", "USD 0.05"},
		{"zero", 0, "EUR", "EUR 0.00"},
		{"negative", -1500, "EUR", "EUR -15.00"},
		{"jpy", 1234, "JPY", "JPY 1,234"},
		{"kwd", 1234567, "KWD", "KWD 1,234.567"},
		{"three digits no comma", 99999, "USD", "USD 999.99"},
		{"min int64", math.MinInt64, "USD", "USD -92,233,720,368,547,758.08"},
	} {
		t.Run("format/"+tt.name, func(t *testing.T) {
			if got := FormatAmount(tt.amount, tt.currency); got != tt.want {
				t.Errorf("FormatAmount = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiscountIsOneRoundedLineNeverAboveTheCharges(t *testing.T) {
	t.Parallel()
	s, e := Day(2026, 1, 1), Day(2027, 1, 1)
	charge := []Line{{Kind: KindSubscription, Amount: 3480000}, {Kind: KindUpgradeCredit, Amount: -1000}}
	for _, c := range []struct {
		name            string
		lines           []Line
		percent, amount int64
		want            int64
		ok              bool
	}{
		{"25% of the charges, credits left out", charge, 25, 0, -870000, true},
		{"half a cent rounds away from zero", []Line{{Kind: KindSeats, Amount: 5}}, 10, 0, -1, true},
		{"below half a cent rounds to nothing", []Line{{Kind: KindSeats, Amount: 4}}, 10, 0, 0, false},
		{"a fixed amount", charge, 0, 5000, -5000, true},
		{"a fixed amount above the charges stops at them", []Line{{Kind: KindSeats, Amount: 300}}, 0, 5000, -300, true},
		{"100% takes everything", charge, 100, 0, -3480000, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, ok, err := Discount(c.lines, c.percent, c.amount, "Coupon", s, e)
			if err != nil || ok != c.ok || l.Amount != c.want {
				t.Fatalf("Discount = %+v, %v, %v; want amount %d, %v", l, ok, err, c.want, c.ok)
			}
		})
	}
	if _, _, err := Discount(charge, 101, 0, "", s, e); err == nil {
		t.Fatal("101% accepted")
	}
}
