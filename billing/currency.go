package billing

import (
	"fmt"
	"strconv"
	"strings"
)

// ValidateCurrency checks that code has the shape of an ISO 4217 code: three
// upper-case ASCII letters. It does not check the code is currently assigned,
// so new currencies need no release.
func ValidateCurrency(code string) error {
	if len(code) != 3 {
		return fmt.Errorf("%w: currency %q is not three letters", ErrInvalid, code)
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return fmt.Errorf("%w: currency %q is not three upper-case letters", ErrInvalid, code)
		}
	}
	return nil
}

// minorUnits lists ISO 4217 currencies whose exponent is not 2.
var minorUnits = map[string]int{
	// 0 decimals
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0,
	"KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0,
	"XAF": 0, "XOF": 0, "XPF": 0,
	// 3 decimals
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	// 4 decimals
	"CLF": 4, "UYW": 4,
}

// MinorUnits returns the number of decimal digits of currency's minor unit per
// ISO 4217: 0 for JPY, KRW, …; 3 for BHD, KWD, …; 2 for everything else
// (including unknown codes, the overwhelmingly common case).
func MinorUnits(currency string) int {
	if n, ok := minorUnits[currency]; ok {
		return n
	}
	return 2
}

// FormatAmount renders an amount of minor units for people, as the currency
// code, a space, an optional minus sign, comma-grouped units and the minor
// digits: FormatAmount(3480000, "USD") == "USD 34,800.00",
// FormatAmount(-1500, "EUR") == "EUR -15.00", FormatAmount(1234, "JPY") ==
// "JPY 1,234". It is locale-independent on purpose (invoices, logs, emails).
func FormatAmount(amount int64, currency string) string {
	neg := amount < 0
	// uint64 holds |math.MinInt64|, which int64 negation cannot.
	abs := uint64(amount)
	if neg {
		abs = -abs
	}
	digits := strconv.FormatUint(abs, 10)
	exp := MinorUnits(currency)
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-exp], digits[len(digits)-exp:]
	var b strings.Builder
	b.WriteString(currency)
	b.WriteByte(' ')
	if neg {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if exp > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// FormatDecimal writes a minor-unit amount as a plain decimal number without
// grouping or currency ("3480000" USD → "34800.00"), for CSV exports.
func FormatDecimal(amount int64, currency string) string {
	s := FormatAmount(amount, currency)
	s = strings.TrimPrefix(s, currency+" ")
	return strings.ReplaceAll(s, ",", "")
}
