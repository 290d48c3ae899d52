package billing

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// TaxIDError says why a tax id was refused and what it should look like.
type TaxIDError struct {
	Country string // the buyer's country, ISO 3166-1 alpha-2
	ID      string // the normalised id that was refused
	Want    string // the expected shape, e.g. "DE followed by 9 digits, e.g. DE136695976"
	Reason  string // "format", "check digit" or "prefix"
}

func (e *TaxIDError) Error() string {
	switch e.Reason {
	case "prefix":
		return fmt.Sprintf("%q is not a tax id of %s: it should be %s.", e.ID, e.Country, e.Want)
	case "check digit":
		return fmt.Sprintf("%q fails its check digit: it should be %s, with a correct check digit.", e.ID, e.Want)
	}
	return fmt.Sprintf("%q is not a valid tax id for %s: it should be %s.", e.ID, e.Country, e.Want)
}

// taxIDRule is one country's published tax id shape: a regular expression
// on the normalised id (prefix included) and, where the state publishes
// one, a check-digit rule on the digits after the prefix.
type taxIDRule struct {
	prefix *regexp.Regexp // the prefix alone
	lead   string         // its two letters when it is plain letters (DE, EL, AT for ATU)
	re     *regexp.Regexp // the whole id
	check  func(body string) bool
	want   string
}

func rule(prefix, body, want string, check func(string) bool) taxIDRule {
	lead := ""
	if letterPrefixRE.MatchString(prefix) {
		lead = prefix[:2]
	}
	return taxIDRule{prefix: regexp.MustCompile(`^` + prefix), lead: lead, re: regexp.MustCompile(`^` + prefix + `(?:` + body + `)$`),
		check: check, want: want}
}

var letterPrefixRE = regexp.MustCompile(`^[A-Z]{2}`)

// vatRules are the EU member states' VAT id rules (the VIES syntax, with
// the check-digit algorithm each state publishes), keyed by ISO country;
// Greece's prefix is EL.
var vatRules = map[string]taxIDRule{
	"AT": rule("ATU", `\d{8}`, "ATU followed by 8 digits, e.g. ATU13585627", checkAT),
	"BE": rule("BE", `[01]\d{9}`, "BE followed by 10 digits starting with 0 or 1, e.g. BE0411905847", checkBE),
	"BG": rule("BG", `\d{9,10}`, "BG followed by 9 or 10 digits", nil),
	"CY": rule("CY", `\d{8}[A-Z]`, "CY followed by 8 digits and a letter, e.g. CY10259033P", nil),
	"CZ": rule("CZ", `\d{8,10}`, "CZ followed by 8, 9 or 10 digits, e.g. CZ25123891", checkCZ),
	"DE": rule("DE", `[1-9]\d{8}`, "DE followed by 9 digits, e.g. DE136695976", checkDE),
	"DK": rule("DK", `[1-9]\d{7}`, "DK followed by 8 digits, e.g. DK13585628", checkDK),
	"EE": rule("EE", `10\d{7}`, "EE followed by 9 digits starting with 10, e.g. EE100931558", checkEE),
	"ES": rule("ES", `[A-Z0-9]\d{7}[A-Z0-9]`, "ES followed by a letter or digit, 7 digits and a letter or digit, e.g. ESA28017895", checkES),
	"FI": rule("FI", `\d{8}`, "FI followed by 8 digits, e.g. FI20774740", checkFI),
	"FR": rule("FR", `[0-9A-HJ-NP-Z]{2}\d{9}`, "FR followed by a 2-character key and the 9-digit SIREN, e.g. FR40303265045", checkFR),
	"GR": rule("EL", `\d{9}`, "EL (not GR) followed by 9 digits, e.g. EL094259216", checkEL),
	"HR": rule("HR", `\d{11}`, "HR followed by 11 digits (the OIB), e.g. HR33392005961", checkHR),
	"HU": rule("HU", `\d{8}`, "HU followed by 8 digits, e.g. HU12892312", checkHU),
	"IE": rule("IE", `\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]`, "IE followed by 7 digits and 1 or 2 letters, e.g. IE6388047V", checkIE),
	"IT": rule("IT", `\d{11}`, "IT followed by 11 digits, e.g. IT00743110157", checkIT),
	"LT": rule("LT", `\d{9}|\d{12}`, "LT followed by 9 or 12 digits", nil),
	"LU": rule("LU", `\d{8}`, "LU followed by 8 digits, e.g. LU15027442", checkLU),
	"LV": rule("LV", `\d{11}`, "LV followed by 11 digits", nil),
	"MT": rule("MT", `[1-9]\d{7}`, "MT followed by 8 digits, e.g. MT11679112", checkMT),
	"NL": rule("NL", `\d{9}B\d{2}`, "NL followed by 9 digits, B and 2 digits, e.g. NL004495445B01", checkNL),
	"PL": rule("PL", `\d{10}`, "PL followed by 10 digits, e.g. PL5260250995", checkPL),
	"PT": rule("PT", `[1-9]\d{8}`, "PT followed by 9 digits, e.g. PT501964843", checkPT),
	"RO": rule("RO", `[1-9]\d{1,9}`, "RO followed by 2 to 10 digits, e.g. RO18547290", checkRO),
	"SE": rule("SE", `\d{10}01`, "SE followed by 12 digits ending in 01, e.g. SE556188840401", checkSE),
	"SI": rule("SI", `[1-9]\d{7}`, "SI followed by 8 digits, e.g. SI50223054", checkSI),
	"SK": rule("SK", `[1-9]\d[2-47-9]\d{7}`, "SK followed by 10 digits, e.g. SK2022749619", checkSK),
}

// otherTaxIDRules are syntax (and, where published, check-digit) rules for
// tax ids outside the EU. Countries absent here and from vatRules get no
// check beyond length.
var otherTaxIDRules = map[string]taxIDRule{
	"GB": rule("(?:GB|XI)", `\d{9}|\d{12}|GD[0-4]\d{2}|HA[5-9]\d{2}`, "GB (or XI) followed by 9 or 12 digits, e.g. GB980780684", checkGB),
	"CH": rule("CHE", `\d{9}(?:MWST|TVA|IVA|VAT)?`, "CHE followed by 9 digits and optionally MWST, TVA or IVA, e.g. CHE-116.281.710 MWST", checkCH),
	"NO": rule("(?:NO)?", `\d{9}(?:MVA)?`, "NO followed by the 9-digit organisation number and MVA, e.g. NO974760673MVA", checkNO),
	"US": rule("", `\d{9}`, "an EIN: 9 digits written XX-XXXXXXX, e.g. 12-3456789", nil),
	"AU": rule("", `\d{11}`, "an ABN: 11 digits, e.g. 51 824 753 556", checkABN),
}

// NormalizeTaxID upper-cases a tax id and drops the spaces, dots, dashes
// and slashes people type: " de 136.695.976 " → "DE136695976".
func NormalizeTaxID(id string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '.', '-', '/', '\u00a0':
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(id)))
}

// ValidateTaxID checks a buyer's tax id against their country's published
// rule, offline: for the EU the VAT id's prefix must be the country's (EL
// for Greece), the syntax that of the member state, and its check digit
// right. It returns the normalised id, or a *TaxIDError. An empty id is
// valid (the buyer has none). Countries without a rule accept any id.
func ValidateTaxID(country, id string) (string, error) {
	country = strings.ToUpper(strings.TrimSpace(country))
	n := NormalizeTaxID(id)
	if n == "" {
		return "", nil
	}
	r, ok := vatRules[country]
	if !ok {
		if r, ok = otherTaxIDRules[country]; !ok {
			return n, nil
		}
	}
	if !r.re.MatchString(n) {
		reason := "format"
		if letterPrefixRE.MatchString(n) && r.lead != "" && n[:2] != r.lead {
			reason = "prefix"
		}
		return n, &TaxIDError{Country: country, ID: n, Want: r.want, Reason: reason}
	}
	if r.check != nil && !r.check(n[len(r.prefix.FindString(n)):]) {
		return n, &TaxIDError{Country: country, ID: n, Want: r.want, Reason: "check digit"}
	}
	return n, nil
}

// ValidVATID reports whether id is a well-formed VAT id of EU member state
// country: only such an id can put the buyer under the reverse charge.
func ValidVATID(country, id string) bool {
	if !IsEU(country) || strings.TrimSpace(id) == "" {
		return false
	}
	_, err := ValidateTaxID(normCountry(country), id)
	return err == nil
}

// digits turns "0123" into [0 1 2 3]; it is only called on bodies the
// regular expression has already checked.
func digits(s string) []int {
	d := make([]int, 0, len(s))
	for _, r := range s {
		if r >= '0' && r <= '9' {
			d = append(d, int(r-'0'))
		}
	}
	return d
}

// weighted is Σ d[i]·w[i] over len(w) digits.
func weighted(d []int, w ...int) int {
	s := 0
	for i, x := range w {
		s += d[i] * x
	}
	return s
}

// mod11 10 is ISO 7064 MOD 11,10 (Germany, Croatia): true when the last
// digit is the check digit of the others.
func mod1110(d []int) bool {
	p := 10
	for _, x := range d[:len(d)-1] {
		s := (x + p) % 10
		if s == 0 {
			s = 10
		}
		p = (2 * s) % 11
	}
	c := 11 - p
	if c == 10 {
		c = 0
	}
	return c == d[len(d)-1]
}

// luhn is the Luhn check over all digits (the last one is the check digit).
func luhn(d []int) bool {
	s := 0
	for i := len(d) - 1; i >= 0; i-- {
		x := d[i]
		if (len(d)-1-i)%2 == 1 {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		s += x
	}
	return s%10 == 0
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func checkDE(b string) bool { return mod1110(digits(b)) }
func checkHR(b string) bool { return mod1110(digits(b)) }
func checkIT(b string) bool { d := digits(b); return luhn(d) && atoi(b[:7]) != 0 }
func checkSE(b string) bool { return luhn(digits(b[:10])) }
func checkABN(b string) bool {
	d := digits(b)
	d[0]--
	return weighted(d, 10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)%89 == 0
}

// checkAT: weights 1,2,… with the digit sum of each doubled digit, plus 4.
func checkAT(b string) bool {
	d, s := digits(b), 0
	for i := 0; i < 7; i++ {
		x := d[i] * (1 + i%2)
		s += x/10 + x%10
	}
	return (10-(s+4)%10)%10 == d[7]
}

// checkBE: the last two digits are 97 − (the first eight mod 97).
func checkBE(b string) bool { return 97-atoi(b[:8])%97 == atoi(b[8:]) }

// checkCZ: legal entities (8 digits) have a weighted mod-11 check digit;
// individuals use their 10-digit birth number, divisible by 11; 9-digit
// ids are older birth numbers or "special" ids starting with 6.
func checkCZ(b string) bool {
	d := digits(b)
	switch len(d) {
	case 8:
		if d[0] == 9 {
			return false
		}
		c := 11 - weighted(d, 8, 7, 6, 5, 4, 3, 2)%11
		return c%10 == d[7]
	case 9:
		if d[0] != 6 {
			return true
		}
		a := 11 - weighted(d[1:], 8, 7, 6, 5, 4, 3, 2)%11
		return int("87654321098"[a-1]-'0') == d[8]
	default:
		n, _ := strconv.ParseInt(b, 10, 64)
		return n%11 == 0
	}
}

// checkDK: weights 2,7,6,5,4,3,2,1; the sum is a multiple of 11.
func checkDK(b string) bool { return weighted(digits(b), 2, 7, 6, 5, 4, 3, 2, 1)%11 == 0 }

// checkEE: weights 3,7,1 repeated; check = (10 − sum mod 10) mod 10.
func checkEE(b string) bool {
	d := digits(b)
	return (10-weighted(d, 3, 7, 1, 3, 7, 1, 3, 7)%10)%10 == d[8]
}

// checkEL: weights 256…2 (powers of two); check = sum mod 11 mod 10.
func checkEL(b string) bool {
	d := digits(b)
	return weighted(d, 256, 128, 64, 32, 16, 8, 4, 2)%11%10 == d[8]
}

// checkFI: weights 7,9,10,5,8,4,2; remainder 1 is never issued.
func checkFI(b string) bool {
	d := digits(b)
	r := weighted(d, 7, 9, 10, 5, 8, 4, 2) % 11
	switch r {
	case 0:
		return d[7] == 0
	case 1:
		return false
	}
	return 11-r == d[7]
}

// checkFR: a numeric key is (12 + 3 × (SIREN mod 97)) mod 97, and the
// SIREN has its own Luhn digit; alphabetic keys (issued since 1999 to some
// new businesses) have no public check beyond the SIREN's.
func checkFR(b string) bool {
	key, siren := b[:2], b[2:]
	if !luhn(digits(siren)) && !strings.HasPrefix(siren, "356000000") { // La Poste's SIREN is the published exception
		return false
	}
	if key[0] < '0' || key[0] > '9' || key[1] < '0' || key[1] > '9' {
		return true
	}
	return atoi(key) == (12+3*(atoi(siren)%97))%97
}

// checkHU: weights 9,7,3,1; the sum is a multiple of 10.
func checkHU(b string) bool { return weighted(digits(b), 9, 7, 3, 1, 9, 7, 3, 1)%10 == 0 }

// checkIE: weights 8…2 on the 7 digits, plus 9 × the second letter (A=1
// … I=9, W=0) in the 2013 format, mod 23 → W, A, B, …, V. The old format
// (digit, letter, 5 digits, letter) is the same check on "0" + the 5
// digits + the first digit.
func checkIE(b string) bool {
	if b[1] < '0' || b[1] > '9' {
		b = "0" + b[2:7] + b[:1] + b[7:]
	}
	d := digits(b[:7])
	s := weighted(d, 8, 7, 6, 5, 4, 3, 2)
	if len(b) == 9 && b[8] != 'W' {
		s += 9 * int(b[8]-'A'+1)
	}
	return "WABCDEFGHIJKLMNOPQRSTUV"[s%23] == b[7]
}

// checkLU: the last two digits are the first six mod 89.
func checkLU(b string) bool { return atoi(b[:6])%89 == atoi(b[6:]) }

// checkMT: weights 3,4,6,7,8,9 on the first six; the last two are
// 37 − sum mod 37.
func checkMT(b string) bool {
	d := digits(b)
	return 37-weighted(d, 3, 4, 6, 7, 8, 9)%37 == atoi(b[6:])
}

// checkPL: weights 6,5,7,2,3,4,5,6,7 mod 11 (10 is never issued).
func checkPL(b string) bool {
	d := digits(b)
	return weighted(d, 6, 5, 7, 2, 3, 4, 5, 6, 7)%11 == d[9]
}

// checkPT: weights 9…2; check = 11 − sum mod 11, 10 and 11 giving 0.
func checkPT(b string) bool {
	d := digits(b)
	c := 11 - weighted(d, 9, 8, 7, 6, 5, 4, 3, 2)%11
	if c >= 10 {
		c = 0
	}
	return c == d[8]
}

// checkRO: the number, left-padded to 10 digits, has weights 7,5,3,2,1,7,
// 5,3,2 on the first nine; check = sum × 10 mod 11 mod 10.
func checkRO(b string) bool {
	b = strings.Repeat("0", 10-len(b)) + b
	d := digits(b)
	return weighted(d, 7, 5, 3, 2, 1, 7, 5, 3, 2)*10%11%10 == d[9]
}

// checkSI: weights 8…2; check = 11 − sum mod 11 (10 → 0, 11 never issued).
func checkSI(b string) bool {
	d := digits(b)
	c := 11 - weighted(d, 8, 7, 6, 5, 4, 3, 2)%11
	if c == 11 {
		return false
	}
	return c%10 == d[7]
}

// checkSK: the 10-digit number is a multiple of 11.
func checkSK(b string) bool { n, _ := strconv.ParseInt(b, 10, 64); return n%11 == 0 }

// checkGB: weights 8…2 on the first 7 digits plus the last two as a
// number: the sum mod 97 is 0 (old series) or 55 (series since 2010).
// The 12-digit branch form checks its first 9; GD/HA ids have no check.
func checkGB(b string) bool {
	if len(b) < 9 || b[0] < '0' || b[0] > '9' {
		return true
	}
	d := digits(b[:9])
	s := (weighted(d, 8, 7, 6, 5, 4, 3, 2) + atoi(b[7:9])) % 97
	return s == 0 || s == 55
}

// checkCH: weights 5,4,3,2,7,6,5,4; check = 11 − sum mod 11 (10 never issued).
func checkCH(b string) bool {
	d := digits(b)
	c := 11 - weighted(d, 5, 4, 3, 2, 7, 6, 5, 4)%11
	if c == 10 {
		return false
	}
	return c%11 == d[8]
}

// checkNO: weights 3,2,7,6,5,4,3,2; check = 11 − sum mod 11 (10 never issued).
func checkNO(b string) bool {
	d := digits(b)
	c := 11 - weighted(d, 3, 2, 7, 6, 5, 4, 3, 2)%11
	if c == 10 {
		return false
	}
	return c%11 == d[8]
}

// checkNL: the 9 digits pass the weighted mod-11 test (weights 9…2, the
// ninth digit being the remainder), or, for sole traders' ids since 2020,
// "NL" + the id read as ISO 7064 MOD 97-10 (N=23, L=21, B=11) leaves 1.
func checkNL(b string) bool {
	d := digits(b[:9])
	if r := weighted(d, 9, 8, 7, 6, 5, 4, 3, 2) % 11; r != 10 && r == d[8] {
		return true
	}
	return mod97("2321" + b[:9] + "11" + b[10:])
}

// mod97 reports whether the decimal string is 1 mod 97.
func mod97(s string) bool {
	r := 0
	for _, c := range s {
		r = (r*10 + int(c-'0')) % 97
	}
	return r == 1
}

// checkES: Spanish NIF. Companies (first letter A–H, J, N, P–S, U–W) end
// in a control digit or letter (JABCDEFGHI) from the 7 digits; people
// (DNI: 8 digits; NIE: X, Y, Z = 0, 1, 2; K, L, M: 7 digits) end in the
// letter TRWAGMYFPDXBNJZSQVHLCKE[number mod 23].
func checkES(b string) bool {
	const dni = "TRWAGMYFPDXBNJZSQVHLCKE"
	first, last := b[0], b[8]
	switch {
	case first >= '0' && first <= '9':
		return dni[atoi(b[:8])%23] == last
	case first == 'X' || first == 'Y' || first == 'Z':
		return dni[atoi(string('0'+first-'X')+b[1:8])%23] == last
	case first == 'K' || first == 'L' || first == 'M':
		return dni[atoi(b[1:8])%23] == last
	case strings.IndexByte("ABCDEFGHJNPQRSUVW", first) < 0:
		return false
	}
	d, s := digits(b[1:8]), 0
	for i, x := range d {
		if i%2 == 0 {
			x *= 2
			x = x/10 + x%10
		}
		s += x
	}
	c := (10 - s%10) % 10
	return int(last-'0') == c || "JABCDEFGHI"[c] == last
}
