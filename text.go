package fulfill

import (
	"strings"
	"unicode/utf8"
)

// Text inputs are checked once, where they enter (the JSON API and the web
// pages): valid UTF-8 without NUL, which PostgreSQL refuses in text and which
// no field of ours needs, and lengths counted in characters (runes), never in
// bytes, so "é" counts as one like "e".

// TextLen is the length of s in characters (runes): the unit of every length
// limit.
func TextLen(s string) int { return utf8.RuneCountInString(s) }

// ValidText reports whether s is valid UTF-8 without a NUL character.
func ValidText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// CheckText checks one text input named field: valid UTF-8, no NUL, and at
// most max characters (no limit when max is 0). Bad bytes are EInvalid, a
// text too long EOutOfRange, both about field.
func CheckText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return FieldError(EInvalid, field, "%s is not valid UTF-8 text.", field)
	}
	if strings.ContainsRune(s, 0) {
		return FieldError(EInvalid, field, "%s contains a NUL character, which is not allowed.", field)
	}
	if max > 0 && TextLen(s) > max {
		return FieldError(EOutOfRange, field, "%s is at most %d characters.", field, max)
	}
	return nil
}
