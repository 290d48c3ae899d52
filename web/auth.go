package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/fulfillhq/fulfill/commerce"
)

// Password hashing: argon2id with OWASP's minimum parameters (19 MiB, 2
// passes, 1 lane), so a sign-in costs tens of milliseconds on a small box.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// hashSlots bounds how many argon2id hashes run at once in this process:
// each takes argonMemory (19 MiB), so a burst of sign-ins or sign-ups
// waits its turn instead of taking the machine's memory.
var hashSlots = make(chan struct{}, hashConcurrency)

// hashConcurrency is how many hashes, and sign-in attempts (Server.signinSlots), run at once.
var hashConcurrency = max(4, runtime.GOMAXPROCS(0))

func argonKey(password, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(password, salt, t, m, p, n)
}

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	c := passwordCost()
	key := argonKey([]byte(password), salt, c.Time, c.MemoryKiB, c.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, c.MemoryKiB, c.Time, c.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether password matches a PHC argon2id hash. An
// empty or malformed hash matches nothing but still costs one hash, so an
// unknown account takes as long as a wrong password.
func CheckPassword(hash, password string) bool {
	var m uint32
	var t uint32
	var p uint8
	parts := strings.Split(hash, "$")
	ok := len(parts) == 6 && parts[1] == "argon2id"
	var salt, want []byte
	if ok {
		_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p)
		salt, _ = base64.RawStdEncoding.DecodeString(parts[4])
		want, _ = base64.RawStdEncoding.DecodeString(parts[5])
		ok = err == nil && len(salt) > 0 && len(want) > 0 && m <= 1<<20 && t <= 10 && p > 0
	}
	if !ok {
		c := passwordCost()
		m, t, p, salt, want = c.MemoryKiB, c.Time, c.Threads, make([]byte, 16), make([]byte, argonKeyLen)
	}
	got := argonKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1 && ok
}

// newSecret returns a random URL-safe secret and its SHA-256 hash, which is
// all the database keeps.
func newSecret() (secret, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret)
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// clientIP is the peer address without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Session cookie.
const (
	sessionCookie = "fulfill_session"
	sessionTTL    = commerce.SessionTTL
)

// secureCookies reports whether cookies must carry Secure: always, except
// on plain HTTP to a loopback host (local development and tests).
func secureCookies(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return false
	}
	return true
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secureCookies(r), SameSite: http.SameSiteLaxMode})
}
