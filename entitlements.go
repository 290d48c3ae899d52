package fulfill

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
)

// Entitlements are what a plan or an add-on grants by name: flags (sso) and
// limits (max_projects: 100). In JSON they are one object whose values are
// true (a flag) or a non-negative integer (a limit):
// {"max_projects": 100, "sso": true}.
type Entitlements struct {
	Flags  []string         // sorted, without duplicates
	Limits map[string]int64 // name → limit
}

// MaxEntitlements bounds the entitlements of one plan or add-on.
const MaxEntitlements = 50

// MaxEntitlementLimit bounds a limit.
const MaxEntitlementLimit = 1_000_000_000_000

var entitlementNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// IsZero reports whether nothing is granted.
func (e Entitlements) IsZero() bool { return len(e.Flags) == 0 && len(e.Limits) == 0 }

// Len is the number of entitlements granted.
func (e Entitlements) Len() int { return len(e.Flags) + len(e.Limits) }

// Merge returns e with o's entitlements added: flags are united and, for a
// limit both grant, the larger wins. A name that is a limit on one side and
// a flag on the other becomes the limit.
func (e Entitlements) Merge(o Entitlements) Entitlements {
	out := Entitlements{Limits: map[string]int64{}}
	for _, src := range []Entitlements{e, o} {
		for k, v := range src.Limits {
			if cur, ok := out.Limits[k]; !ok || v > cur {
				out.Limits[k] = v
			}
		}
	}
	for _, src := range []Entitlements{e, o} {
		for _, f := range src.Flags {
			if _, isLimit := out.Limits[f]; !isLimit && !slices.Contains(out.Flags, f) {
				out.Flags = append(out.Flags, f)
			}
		}
	}
	slices.Sort(out.Flags)
	if len(out.Limits) == 0 {
		out.Limits = nil
	}
	return out
}

// Validate checks names, values and count, naming field in the error.
func (e Entitlements) Validate(field string) error {
	if e.Len() > MaxEntitlements {
		return FieldError(EOutOfRange, field, "At most %d entitlements.", MaxEntitlements)
	}
	for _, f := range e.Flags {
		if !entitlementNameRE.MatchString(f) {
			return FieldError(EInvalid, field, "Entitlement %q: a name is 1 to 63 lower-case letters, digits and underscores, starting with a letter.", f)
		}
	}
	for k, v := range e.Limits {
		if !entitlementNameRE.MatchString(k) {
			return FieldError(EInvalid, field, "Entitlement %q: a name is 1 to 63 lower-case letters, digits and underscores, starting with a letter.", k)
		}
		if v < 0 || v > MaxEntitlementLimit {
			return FieldError(EOutOfRange, field, "Entitlement %q: a limit is between 0 and %d.", k, int64(MaxEntitlementLimit))
		}
		if slices.Contains(e.Flags, k) {
			return FieldError(EInvalid, field, "Entitlement %q is both a flag and a limit.", k)
		}
	}
	return nil
}

// MarshalJSON writes the object form, keys sorted.
func (e Entitlements) MarshalJSON() ([]byte, error) {
	names := append([]string(nil), e.Flags...)
	for k := range e.Limits {
		names = append(names, k)
	}
	slices.Sort(names)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		q, _ := json.Marshal(k)
		b.Write(q)
		b.WriteByte(':')
		if v, ok := e.Limits[k]; ok {
			b.WriteString(strconv.FormatInt(v, 10))
		} else {
			b.WriteString("true")
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the object form: true is a flag, an integer a limit;
// false grants nothing and is dropped; anything else is an error.
func (e *Entitlements) UnmarshalJSON(data []byte) error {
	*e = Entitlements{}
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return FieldError(EInvalidType, "entitlements", "entitlements must be an object of flags (true) and limits (integers).")
	}
	for k, v := range raw {
		switch s := string(bytes.TrimSpace(v)); s {
		case "true":
			e.Flags = append(e.Flags, k)
		case "false":
		default:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return FieldError(EInvalidType, "entitlements", "Entitlement %q must be true (a flag) or a whole-number limit.", k)
			}
			if e.Limits == nil {
				e.Limits = map[string]int64{}
			}
			e.Limits[k] = n
		}
	}
	slices.Sort(e.Flags)
	return nil
}

// ParseEntitlements reads the stored (or submitted) JSON object form; ""
// is none.
func ParseEntitlements(s string) (Entitlements, error) {
	var e Entitlements
	if s == "" {
		return e, nil
	}
	err := json.Unmarshal([]byte(s), &e)
	return e, err
}

// String is the JSON object form, for storage.
func (e Entitlements) String() string {
	b, _ := e.MarshalJSON()
	return string(b)
}
