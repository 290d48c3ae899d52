package billing

import (
	"fmt"
	"math/big"
	"strings"
	"time"
)

// ReverseChargeNote is the legal mention an EU invoice must carry when the
// buyer accounts for VAT (Article 226(11a) requires it).
const ReverseChargeNote = "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC)."

// TaxDecision is the tax treatment of one invoice.
type TaxDecision struct {
	RateBasisPoints int64 // 2000 = 20%
	ReverseCharge   bool
	Note            string // legal mention to print on the invoice; empty when none is needed
	Country         string // buyer country, ISO 3166-1 alpha-2, upper case
}

// TaxTable holds the seller's country and the standard rate of each buyer
// country (ISO 3166-1 alpha-2 → basis points). Countries absent from Rates
// are taxed at 0.
type TaxTable struct {
	SellerCountry string
	Rates         map[string]int64
}

// euRates are the standard VAT rates of the 27 EU member states in force at
// the end of 2025. Mid-2025 changes are included: EE 22→24% (1 Jul 2025),
// RO 19→21% (1 Aug 2025); SK 23% since 1 Jan 2025, FI 25.5% since 1 Sep 2024.
// Rates change: treat this as a default that a vendor can override.
var euRates = map[string]int64{
	"AT": 2000, "BE": 2100, "BG": 2000, "HR": 2500, "CY": 1900, "CZ": 2100,
	"DK": 2500, "EE": 2400, "FI": 2550, "FR": 2000, "DE": 1900, "GR": 2400,
	"HU": 2700, "IE": 2300, "IT": 2200, "LV": 2100, "LT": 2100, "LU": 1700,
	"MT": 1800, "NL": 2100, "PL": 2300, "PT": 2300, "RO": 2100, "SK": 2300,
	"SI": 2200, "ES": 2100, "SE": 2500,
}

// otherRates are non-EU standard rates (GST for CA is the federal part only;
// provincial HST/PST/QST is out of scope).
var otherRates = map[string]int64{
	"GB": 2000, "NO": 2500, "CH": 810, "AU": 1000, "NZ": 1500,
	"CA": 500, "JP": 1000, "IN": 1800,
}

// taxNames is the name of the tax printed on the line, per country.
var taxNames = map[string]string{
	"GB": "VAT", "NO": "VAT", "CH": "VAT",
	"AU": "GST", "NZ": "GST", "CA": "GST", "IN": "GST",
	"JP": "Consumption tax",
}

// normCountry upper-cases and trims a country code and maps the two common
// non-ISO spellings: EL (Greece's VAT prefix) and UK.
func normCountry(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	switch c {
	case "EL":
		return "GR"
	case "UK":
		return "GB"
	}
	return c
}

// IsEU reports whether country (ISO 3166-1 alpha-2, case-insensitive; EL is
// accepted for Greece) is an EU member state.
func IsEU(country string) bool {
	_, ok := euRates[normCountry(country)]
	return ok
}

// DefaultTaxTable returns a fresh table (safe to modify) with the standard
// rates of the EU member states, GB, NO, CH, AU, NZ, CA (federal GST), JP and
// IN; every other country, including the US (no federal sales tax), is 0.
func DefaultTaxTable(sellerCountry string) TaxTable {
	rates := make(map[string]int64, len(euRates)+len(otherRates))
	for c, r := range euRates {
		rates[c] = r
	}
	for c, r := range otherRates {
		rates[c] = r
	}
	return TaxTable{SellerCountry: normCountry(sellerCountry), Rates: rates}
}

// Decide returns the tax treatment for a buyer. A buyer in the EU with a
// VAT id of their own member state that passes ValidVATID (prefix, syntax,
// check digit) in a different country than the seller is reverse-charged
// (0%, with ReverseChargeNote); everyone else, including a buyer whose id
// fails, pays their country's rate from the table (0 if absent).
func (t TaxTable) Decide(buyerCountry, buyerTaxID string) TaxDecision {
	buyer := normCountry(buyerCountry)
	if ValidVATID(buyer, buyerTaxID) && buyer != normCountry(t.SellerCountry) {
		return TaxDecision{RateBasisPoints: 0, ReverseCharge: true, Note: ReverseChargeNote, Country: buyer}
	}
	return TaxDecision{RateBasisPoints: t.Rates[buyer], Country: buyer}
}

// formatRate renders basis points as a percentage without trailing zeros:
// 2000 → "20%", 810 → "8.1%", 2550 → "25.5%".
func formatRate(bp int64) string {
	sign := ""
	if bp < 0 {
		sign, bp = "-", -bp
	}
	s := fmt.Sprintf("%s%d", sign, bp/100)
	if frac := bp % 100; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%02d", frac), "0")
	}
	return s + "%"
}

// taxDescription names the tax line, e.g. "VAT 20% (FR)", "GST 10% (AU)",
// "Tax 0% (US)", or the reverse-charge note.
func taxDescription(d TaxDecision) string {
	if d.ReverseCharge {
		if d.Note != "" {
			return d.Note
		}
		return ReverseChargeNote
	}
	name := "Tax"
	if IsEU(d.Country) {
		name = "VAT"
	} else if n, ok := taxNames[d.Country]; ok && d.RateBasisPoints != 0 {
		name = n
	}
	s := name + " " + formatRate(d.RateBasisPoints)
	if d.Country != "" {
		s += " (" + d.Country + ")"
	}
	return s
}

// TaxLine returns the tax line for a subtotal:
// round(subtotal × bp / 10000), half away from zero, computed in big.Int.
// Quantity is 1 and UnitAmount equals Amount. It panics only if the tax
// overflows int64, which needs a rate above 100% and an absurd subtotal.
func TaxLine(subtotal int64, d TaxDecision, start, end time.Time) Line {
	n := new(big.Int).Mul(big.NewInt(subtotal), big.NewInt(d.RateBasisPoints))
	amt := RoundDiv(n, big.NewInt(10000))
	return Line{
		Kind:        KindTax,
		Description: taxDescription(d),
		Quantity:    1,
		UnitAmount:  amt,
		Amount:      amt,
		PeriodStart: dateOf(start),
		PeriodEnd:   dateOf(end),
	}
}
