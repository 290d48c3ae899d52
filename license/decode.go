package license

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeJSON fills p from a payload. It is a small hand-written decoder
// because encoding/json, reflection-based, cost about a fifth of a whole
// Verify. It reads standard JSON, matches keys exactly (payloads are written
// by our server in snake_case), skips unknown keys so newer servers can add
// fields, and treats null as "leave unset", as encoding/json does.
//
// The payload is copied into one string and the string fields of p are
// slices of it (unless they hold escapes): one allocation instead of one per
// field.
func decodeJSON(data []byte, p *Payload) error {
	d := decoder{b: string(data)}
	*p = Payload{}
	err := d.object(func(key string) error {
		switch key {
		case "id":
			return d.str(&p.ID)
		case "version":
			return d.int(&p.Version)
		case "licensee":
			return d.object(func(key string) error {
				switch key {
				case "name":
					return d.str(&p.Licensee.Name)
				case "company":
					return d.str(&p.Licensee.Company)
				case "email":
					return d.str(&p.Licensee.Email)
				}
				return d.skip(0)
			})
		case "plan":
			return d.str(&p.Plan)
		case "seats":
			return d.int(&p.Seats)
		case "previous_user_count":
			return d.int(&p.PreviousUserCount)
		case "trueup_quantity":
			return d.int(&p.TrueUpQuantity)
		case "trueup_from":
			return d.date(&p.TrueUpFrom)
		case "trueup_to":
			return d.date(&p.TrueUpTo)
		case "starts_at":
			return d.date(&p.StartsAt)
		case "expires_at":
			return d.date(&p.ExpiresAt)
		case "notify_admins_at":
			return d.date(&p.NotifyAdminsAt)
		case "notify_users_at":
			return d.date(&p.NotifyUsersAt)
		case "block_changes_at":
			return d.date(&p.BlockChangesAt)
		case "issued_at":
			var s string
			if err := d.str(&s); err != nil || s == "" {
				return err
			}
			if t, ok := parseUTCSeconds(s); ok {
				p.IssuedAt = t
				return nil
			}
			return p.IssuedAt.UnmarshalText([]byte(s))
		case "subscription_id":
			return d.str(&p.SubscriptionID)
		case "add_ons":
			return decodeMap(&d, &p.AddOns, d.int)
		case "trial":
			return d.bool(&p.Trial)
		case "cloud_licensing":
			return d.bool(&p.CloudLicensing)
		case "offline_cloud_licensing":
			return d.bool(&p.OfflineCloudLicensing)
		case "auto_renew":
			return d.bool(&p.AutoRenew)
		case "seat_reconciliation":
			return d.bool(&p.SeatReconciliation)
		case "subscription_name":
			return d.str(&p.SubscriptionName)
		case "trueup_period_seat_count":
			return d.int(&p.TrueUpPeriodSeatCount)
		case "reconciliation_completed":
			return d.bool(&p.ReconciliationCompleted)
		case "generated_from_cancellation":
			return d.bool(&p.GeneratedFromCancellation)
		case "features":
			return d.strings(&p.Features)
		case "limits":
			return decodeMap(&d, &p.Limits, d.int64)
		}
		return d.skip(0)
	})
	if err != nil {
		return err
	}
	d.ws()
	if d.i != len(d.b) {
		return d.errorf("data after the payload object")
	}
	return nil
}

type decoder struct {
	b       string
	i       int
	wasNull bool // the last int64 read was null
}

const maxDepth = 64 // for skipping unknown nested values

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *decoder) ws() {
	if d.i < len(d.b) && d.b[d.i] > ' ' { // compact JSON: nothing to skip
		return
	}
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) literal(s string) bool {
	d.ws()
	if len(d.b)-d.i >= len(s) && d.b[d.i:d.i+len(s)] == s {
		d.i += len(s)
		return true
	}
	return false
}

// null consumes a null and reports whether there was one.
func (d *decoder) null() bool { return d.literal("null") }

// object reads {"key": value, ...}, calling field with the decoder positioned
// at each value. A null object is accepted and leaves everything unset.
func (d *decoder) object(field func(key string) error) error {
	if d.null() {
		return nil
	}
	if d.peek() != '{' {
		return d.errorf("want an object")
	}
	d.i++
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.rawString()
		if err != nil {
			return err
		}
		if d.peek() != ':' {
			return d.errorf("want ':'")
		}
		d.i++
		d.ws()
		if err := field(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or '}'")
		}
	}
}

// rawString reads a string and returns its decoded value; without escapes or
// non-ASCII bytes it is a slice of the input.
func (d *decoder) rawString() (string, error) {
	if d.peek() != '"' {
		return "", d.errorf("want a string")
	}
	start := d.i + 1
	for i := start; i < len(d.b); i++ {
		if c := d.b[i]; !plainByte[c] {
			if c == '"' {
				d.i = i + 1
				return d.b[start:i], nil
			}
			return d.slowString(start - 1)
		}
	}
	d.i = len(d.b)
	return "", d.errorf("unterminated string")
}

// plainByte is true for the bytes rawString passes over: printable ASCII
// other than '"' and '\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// slowString reads the string opening at quote that holds escapes or
// non-ASCII bytes: encoding/json handles escapes and their validation, and
// replaces invalid UTF-8 as it does.
func (d *decoder) slowString(quote int) (string, error) {
	escaped := false
	d.i = quote + 1
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			v := d.b[quote+1 : d.i-1]
			if !escaped && utf8.ValidString(v) {
				return v, nil // what encoding/json would return
			}
			var s string
			if err := json.Unmarshal([]byte(d.b[quote:d.i]), &s); err != nil {
				return "", d.errorf("bad string: %v", err)
			}
			return s, nil
		case c == '\\':
			escaped = true
			d.i += 2
		case c < 0x20:
			return "", d.errorf("control character in string")
		default:
			d.i++
		}
	}
	return "", d.errorf("unterminated string")
}

func (d *decoder) str(dst *string) error {
	if d.null() {
		return nil
	}
	b, err := d.rawString()
	if err != nil {
		return err
	}
	*dst = b
	return nil
}

func (d *decoder) date(dst *Date) error {
	if d.null() {
		return nil
	}
	b, err := d.rawString()
	if err != nil {
		return err
	}
	v, err := ParseDate(b)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

func (d *decoder) bool(dst *bool) error {
	switch {
	case d.literal("true"):
		*dst = true
	case d.literal("false"):
		*dst = false
	case d.null():
	default:
		return d.errorf("want true or false")
	}
	return nil
}

// int reads a JSON integer (no fraction or exponent, as an int field needs).
func (d *decoder) int(dst *int) error {
	var n int64
	if err := d.int64(&n); err != nil {
		return err
	}
	if int64(int(n)) != n {
		return d.errorf("integer out of range")
	}
	if !d.wasNull {
		*dst = int(n)
	}
	return nil
}

// strings reads an array of strings; null leaves dst unset.
func (d *decoder) strings(dst *[]string) error {
	if d.null() {
		return nil
	}
	if d.peek() != '[' {
		return d.errorf("want an array")
	}
	d.i++
	out := []string{}
	if d.peek() == ']' {
		d.i++
		*dst = out
		return nil
	}
	for {
		var s string
		if d.peek() == 'n' { // null element: "" as encoding/json leaves it
			if err := d.want("null"); err != nil {
				return err
			}
		} else if err := d.str(&s); err != nil {
			return err
		}
		out = append(out, s)
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			*dst = out
			return nil
		default:
			return d.errorf("want ',' or ']'")
		}
	}
}

// int64 reads a JSON integer (no fraction or exponent); null leaves dst
// unset and sets wasNull.
func (d *decoder) int64(dst *int64) error {
	d.wasNull = false
	if d.null() {
		d.wasNull = true
		return nil
	}
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || (d.b[digits] == '0' && d.i-digits > 1) {
		return d.errorf("want an integer")
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return d.errorf("want an integer, not a fraction")
	}
	n, err := strconv.ParseInt(d.b[start:d.i], 10, 64)
	if err != nil {
		return d.errorf("integer out of range")
	}
	*dst = n
	return nil
}

// skip passes over any JSON value, for keys this version does not know.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return d.errorf("nested too deeply")
	}
	switch c := d.peek(); {
	case c == '"':
		_, err := d.rawString()
		return err
	case c == '{':
		return d.object(func(string) error { return d.skip(depth + 1) })
	case c == '[':
		d.i++
		if d.peek() == ']' {
			d.i++
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				return nil
			default:
				return d.errorf("want ',' or ']'")
			}
		}
	case c == 't':
		return d.want("true")
	case c == 'f':
		return d.want("false")
	case c == 'n':
		return d.want("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return d.errorf("want a value")
}

func (d *decoder) want(lit string) error {
	if !d.literal(lit) {
		return d.errorf("want %s", lit)
	}
	return nil
}

// number passes over a JSON number, checking its grammar.
func (d *decoder) number() error {
	start := d.i
	isDigit := func() bool { return d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' }
	digits := func() bool {
		s := d.i
		for isDigit() {
			d.i++
		}
		return d.i > s
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if !digits() {
		return d.errorf("bad number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !digits() {
			return d.errorf("bad number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !digits() {
			return d.errorf("bad number")
		}
	}
	if d.i == start {
		return errors.New("bad number")
	}
	return nil
}

// parseUTCSeconds parses the form Sign writes, "2006-01-02T15:04:05Z", by
// hand (time.Time.UnmarshalText was a visible share of Verify). It accepts
// only values UnmarshalText accepts and returns the same time; anything else
// is left to UnmarshalText.
func parseUTCSeconds(s string) (time.Time, bool) {
	if len(s) != len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !(Date{y, time.Month(mo), d}).valid() ||
		h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
}

// decodeMap reads a JSON object of values read by value into *m (made on
// first use); null leaves *m as it is.
func decodeMap[T any](d *decoder, m *map[string]T, value func(*T) error) error {
	if d.null() {
		return nil
	}
	if *m == nil {
		*m = make(map[string]T)
	}
	return d.object(func(key string) error {
		var v T
		err := value(&v)
		(*m)[key] = v
		return err
	})
}
