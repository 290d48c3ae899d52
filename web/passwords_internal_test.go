package web

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
)

// TestSafeNextRefusesOpenRedirects runs OWASP's open-redirect payloads
// (and a few more) through the sign-in redirect.
func TestSafeNextRefusesOpenRedirects(t *testing.T) {
	t.Parallel()
	const def = "/subscriptions"
	for _, bad := range []string{
		"", "//evil.example", "///evil.example", "////evil.example", "/\\evil.example", "\\/evil.example", "\\\\evil.example",
		"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/ /evil.example", "/%09/evil.example", "/%0a/evil.example",
		"/%5Cevil.example", "/%2F/evil.example", "/%2f%2fevil.example", "https:evil.example", "https://evil.example",
		"http:/evil.example", "//evil.example/%2F..", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
		"evil.example", ".evil.example", "/\u3000/evil.example", "/\u2028/evil.example", "/\x00/evil.example",
		"/invoices?x=%0d%0aSet-Cookie:a", "/\xff", "/invoices\\", "/" + strings.Repeat("a", 3000),
	} {
		if got := safeNext(bad, def); got != def {
			t.Errorf("safeNext(%q) = %q, want %q", bad, got, def)
		}
	}
	for _, good := range []string{"/", "/invoices", "/invoices?status=open&page=2", "/subscriptions/sub_1#seats", "/buy?plan=sm-premium", "/caf%C3%A9"} {
		if got := safeNext(good, def); got != good {
			t.Errorf("safeNext(%q) = %q, want it kept", good, got)
		}
	}
}

func TestPasswordRules(t *testing.T) {
	t.Parallel()
	for pw, ok := range map[string]bool{
		"password123": false, "qwertyuiop": false, "QWERTYUIOP": false, "1234567890": false,
		"ébène-été!":                  true, // 10 characters, 14 bytes
		strings.Repeat("é", 9):        false,
		strings.Repeat("ab", 32):      true, // 64 characters
		strings.Repeat("ü", 128):      true,
		strings.Repeat("a", 129):      false,
		"correct horse battery":       true,
		"nul\x00 inside the password": false,
	} {
		if got := passwordProblem(pw) == ""; got != ok {
			t.Errorf("passwordProblem(%q) accepts=%v, want %v (%s)", pw, got, ok, passwordProblem(pw))
		}
	}
	if n := len(commonPasswords()); n != 10000 {
		t.Fatalf("%d common passwords, want 10000", n)
	}
}

// TestLongSignInPasswordIsNotHashed: a password over 1024 bytes is
// refused as a wrong one, without being hashed. Not parallel: it counts
// calls of a package variable.
func TestLongSignInPasswordIsNotHashed(t *testing.T) {
	te := testenv.New(t, dbtest.SQLiteURL(t), fulfill.NewDate(2026, 3, 1).Time(), "DE")
	s, err := New(Config{Service: te.Svc, DB: te.DB, Clock: te.Clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	orig := checkPassword
	checkPassword = func(hash, pw string) bool { calls.Add(1); return orig(hash, pw) }
	t.Cleanup(func() { checkPassword = orig })
	post := func(pw string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "http://127.0.0.1/signin", strings.NewReader(url.Values{"email": {"ann@example.com"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	short := post("a wrong password")
	if short.Code != http.StatusUnauthorized || calls.Load() != 1 {
		t.Fatalf("status %d, %d hashes", short.Code, calls.Load())
	}
	long := post(strings.Repeat("x", 1025))
	if long.Code != http.StatusUnauthorized || calls.Load() != 1 {
		t.Fatalf("a 1025-byte password: status %d, %d hashes, want 401 without hashing", long.Code, calls.Load())
	}
	if long.Body.String() != short.Body.String() {
		t.Fatal("a long password answers differently from a wrong one")
	}
}

// What a server hashes at unless a test's TestMain chose otherwise: OWASP's
// argon2id minimum. (cmd/fulfill's TestAdminCreateUser checks the hash a
// real command stores.)
func TestDefaultPasswordHashCostIsOWASPs(t *testing.T) {
	t.Parallel()
	if got, want := DefaultPasswordHashCost(), (PasswordHashCost{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}); got != want {
		t.Fatalf("default cost %+v, want %+v", got, want)
	}
	// This binary's TestMain chose the cheap cost: new hashes say so, and
	// a hash made at the default cost still verifies.
	if h := HashPassword("correct horse battery"); !strings.HasPrefix(h, "$argon2id$v=19$m=8,t=1,p=1$") {
		t.Fatalf("hash under the test cost: %.40s", h)
	}
	salt := make([]byte, 16)
	strong := "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argonKey([]byte("correct horse battery"), salt, 2, 19*1024, 1, argonKeyLen))
	if !CheckPassword(strong, "correct horse battery") || CheckPassword(strong, "wrong horse battery") {
		t.Fatal("a hash made at the default cost does not verify as it should")
	}
}
