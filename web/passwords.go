package web

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Password rules (NIST SP 800-63B, OWASP ASVS 2.1): lengths count
// characters, not bytes; any character is allowed; no composition rules;
// a new password must not be one of the most common ones.
const (
	// MaxPasswordLength is the longest new password accepted, in characters.
	MaxPasswordLength = 128
	// maxSigninPasswordBytes bounds what a sign-in hashes: a longer
	// password is refused before hashing, so no one can make the server
	// hash megabytes. 128 characters of 4 bytes fit twice over.
	maxSigninPasswordBytes = 1024
)

// commonPasswordList is the 10,000 most common passwords; the file says
// where it comes from.
//
//go:embed commonpasswords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10000)
	for line := range strings.Lines(commonPasswordList) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[line] = struct{}{}
	}
	return set
})

// isCommonPassword reports whether pw, ignoring case, is on the list.
func isCommonPassword(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(pw)]
	return ok
}

// passwordProblem says why a new password is refused, or "" if it is
// acceptable.
func passwordProblem(pw string) string {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw) || strings.ContainsRune(pw, 0):
		return "A password cannot contain invalid or NUL characters."
	case n < MinPasswordLength || n > MaxPasswordLength:
		return fmt.Sprintf("Choose a password of at least %d and at most %d characters.", MinPasswordLength, MaxPasswordLength)
	case isCommonPassword(pw):
		return "That password is one of the most common ones, which attackers try first. Choose another: a few unrelated words are easy to remember and hard to guess."
	}
	return ""
}
