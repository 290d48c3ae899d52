package billing

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// withCheck completes a body by trying each final digit and keeping the one
// the rule accepts: it derives valid ids from a country's published rule
// without copying the algorithm into the test. It fails when none or more
// than one digit passes, which is itself a check of the rule.
func withCheck(t *testing.T, country, partial, suffix string) string {
	t.Helper()
	var ok []string
	for d := '0'; d <= '9'; d++ {
		if _, err := ValidateTaxID(country, partial+string(d)+suffix); err == nil {
			ok = append(ok, partial+string(d)+suffix)
		}
	}
	if len(ok) != 1 {
		t.Fatalf("%s %s?: %d final digits pass, want exactly 1", country, partial, len(ok))
	}
	return ok[0]
}

// TestVATIDsOnlyValidOnesGiveTheReverseCharge is the table of Acceptance 1:
// published ids and ids derived from each state's check-digit rule pass; a
// wrong check digit, a wrong length, a prefix of another country, GR for
// Greece, and junk fail; only the ones that pass are reverse-charged.
func TestVATIDsOnlyValidOnesGiveTheReverseCharge(t *testing.T) {
	t.Parallel()
	type tc struct {
		country, id string
		valid       bool
		reason      string // for invalid ids: "format", "check digit" or "prefix"
	}
	tests := []tc{
		// Published example ids (company registers, VIES documentation).
		{"DE", "DE136695976", true, ""},
		{"FR", "FR40303265045", true, ""},
		{"IT", "IT00743110157", true, ""},
		{"ES", "ESA28017895", true, ""},
		{"ES", "ES12345678Z", true, ""}, // a DNI: 12345678 mod 23 = 14 → Z
		{"ES", "ESX5253868R", true, ""}, // an NIE
		{"NL", "NL004495445B01", true, ""},
		{"NL", "NL000099998B57", true, ""}, // a 2020 sole-trader id, MOD 97-10
		{"BE", "BE0411905847", true, ""},
		{"AT", "ATU13585627", true, ""},
		{"PL", "PL5260250995", true, ""},
		{"SE", "SE556188840401", true, ""},
		{"IE", "IE6388047V", true, ""},
		{"IE", "IE3628739UA", true, ""}, // 2013 format, two letters
		{"IE", "IE8Z49289F", true, ""},  // old format
		{"DK", "DK13585628", true, ""},
		{"FI", "FI20774740", true, ""},
		{"PT", "PT501964843", true, ""},
		{"CZ", "CZ25123891", true, ""},
		{"CZ", "CZ7103192745", true, ""}, // a birth number
		{"GR", "EL094259216", true, ""},
		{"HR", "HR33392005961", true, ""},
		{"LU", "LU15027442", true, ""},
		{"SI", "SI50223054", true, ""},
		{"SK", "SK2022749619", true, ""},
		{"RO", "RO18547290", true, ""},
		{"EE", "EE100931558", true, ""},
		{"HU", "HU12892312", true, ""},
		{"MT", "MT11679112", true, ""},
		// Normalised: lower case, spaces, dots and dashes.
		{"DE", " de 136 695 976 ", true, ""},
		{"GR", "el-094.259.216", true, ""},
		{"fr", "fr 40 303265045", true, ""},
		// Wrong check digit.
		{"DE", "DE136695977", false, "check digit"},
		{"FR", "FR41303265045", false, "check digit"},
		{"IT", "IT00743110158", false, "check digit"},
		{"ES", "ESA28017896", false, "check digit"},
		{"ES", "ES12345678A", false, "check digit"},
		{"NL", "NL004495446B01", false, "check digit"},
		{"BE", "BE0411905848", false, "check digit"},
		{"AT", "ATU13585628", false, "check digit"},
		{"PL", "PL5260250996", false, "check digit"},
		{"SE", "SE556188840501", false, "check digit"},
		{"IE", "IE6388047W", false, "check digit"},
		{"DK", "DK13585627", false, "check digit"},
		{"FI", "FI20774741", false, "check digit"},
		{"PT", "PT501964844", false, "check digit"},
		{"CZ", "CZ25123892", false, "check digit"},
		{"GR", "EL094259217", false, "check digit"},
		// Wrong shape.
		{"DE", "hello", false, "prefix"},
		{"DE", "x", false, "format"},
		{"DE", "DE12", false, "format"},
		{"DE", "DE1366959760", false, "format"},
		{"AT", "AT13585627", false, "format"},
		{"NL", "NL004495445X01", false, "format"},
		{"SE", "SE556188840402", false, "format"},
		// A prefix of another country, and GR instead of EL.
		{"DE", "FR40303265045", false, "prefix"},
		{"FR", "DE136695976", false, "prefix"},
		{"GR", "GR094259216", false, "prefix"},
		{"IT", "ATU13585627", false, "prefix"},
	}
	// Ids derived from the rules: a second valid id per country.
	for _, d := range [][2]string{{"DE", "DE81234567"}, {"FR", "FR00"}, {"IT", "IT0123456789"}, {"NL", "NL12345678"},
		{"BE", "BE077609195"}, {"AT", "ATU1234567"}, {"PL", "PL777000222"}, {"DK", "DK1234567"}, {"FI", "FI1234567"},
		{"PT", "PT50000000"}, {"CZ", "CZ2700000"}, {"GR", "EL12345678"}, {"ES", "ESB1234567"}} {
		id := d[1]
		switch d[0] {
		case "FR": // the key is computed from a SIREN with its Luhn digit
			siren := luhnComplete("12345678")
			id = fmt.Sprintf("FR%02d%s", (12+3*(atoi(siren)%97))%97, siren)
		case "NL":
			id = withCheck(t, "NL", id, "B01")
		default:
			id = withCheck(t, d[0], id, "")
		}
		tests = append(tests, tc{d[0], id, true, ""})
	}
	if len(tests) < 40 {
		t.Fatalf("only %d ids", len(tests))
	}
	table := DefaultTaxTable("US")
	for _, tt := range tests {
		t.Run(tt.country+"/"+tt.id, func(t *testing.T) {
			_, err := ValidateTaxID(tt.country, tt.id)
			if tt.valid != (err == nil) {
				t.Fatalf("ValidateTaxID(%s, %q) = %v, want valid=%v", tt.country, tt.id, err, tt.valid)
			}
			var te *TaxIDError
			if !tt.valid {
				if !errors.As(err, &te) || te.Reason != tt.reason || te.Want == "" || !strings.Contains(err.Error(), te.Want) {
					t.Errorf("error %v: want reason %q and the expected shape", err, tt.reason)
				}
			}
			d := table.Decide(tt.country, tt.id)
			if d.ReverseCharge != tt.valid || (d.RateBasisPoints == 0) != tt.valid {
				t.Errorf("Decide(%s, %q) = %+v: reverse charge must follow validity (%v)", tt.country, tt.id, d, tt.valid)
			}
		})
	}
}

func TestOtherCountriesTaxIDSyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		country, id string
		valid       bool
	}{
		{"GB", "GB980780684", true},
		{"GB", "gb 980 7806 84", true},
		{"GB", "GB980780685", false},
		{"GB", "GB12345", false},
		{"GB", "GBGD001", true},
		{"CH", "CHE-116.281.710 MWST", true},
		{"CH", "CHE-116.281.711", false},
		{"NO", "NO974760673MVA", true},
		{"NO", "974760673", true},
		{"NO", "974760674", false},
		{"US", "12-3456789", true},
		{"US", "1234", false},
		{"AU", "51 824 753 556", true},
		{"AU", "51 824 753 557", false},
		{"JP", "anything goes", true}, // no rule: length is checked by the caller
		{"US", "", true},
	}
	table := DefaultTaxTable("DE")
	for _, tt := range tests {
		_, err := ValidateTaxID(tt.country, tt.id)
		if tt.valid != (err == nil) {
			t.Errorf("ValidateTaxID(%s, %q) = %v, want valid=%v", tt.country, tt.id, err, tt.valid)
		}
		if d := table.Decide(tt.country, tt.id); d.ReverseCharge {
			t.Errorf("%s %q: reverse charge outside the EU", tt.country, tt.id)
		}
	}
}

// luhnComplete appends the Luhn digit to a SIREN's first 8 digits.
func luhnComplete(s string) string {
	for d := '0'; d <= '9'; d++ {
		if luhn(digits(s + string(d))) {
			return s + string(d)
		}
	}
	panic("no Luhn digit")
}
