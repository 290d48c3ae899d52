// Package webhook signs and verifies Fulfill webhook deliveries. It is public
// and uses only the standard library, so a receiver can copy or import it.
//
// Every delivery carries the header
//
//	Fulfill-Signature: t=1767225600,v1=5257a869…
//
// where t is the Unix time of signing and each v1 is the lowercase hex
// HMAC-SHA256, keyed with one endpoint secret, of t, a dot and the raw
// request body. While a secret is being rotated both the new and the old
// secret sign, so the header holds several v1 entries and a receiver that
// knows either secret accepts it.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	SignatureHeader = "Fulfill-Signature"
	EventIDHeader   = "Fulfill-Event-Id"
	EventTypeHeader = "Fulfill-Event-Type"
)

// DefaultTolerance is how far the signing time may be from the receiver's
// clock when Verify is given a zero tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns; test them with errors.Is.
var (
	ErrNoHeader          = errors.New("webhook: no Fulfill-Signature header")
	ErrInvalidHeader     = errors.New("webhook: Fulfill-Signature header is malformed")
	ErrNoSignatures      = errors.New("webhook: Fulfill-Signature header has no v1 signature")
	ErrTimestamp         = errors.New("webhook: signature timestamp is outside the tolerance")
	ErrNoSecrets         = errors.New("webhook: no secret to verify with")
	ErrSignatureMismatch = errors.New("webhook: no signature matches the body")
)

// Sign returns the Fulfill-Signature header value for body signed at t with
// one secret.
func Sign(secret string, t time.Time, body []byte) string {
	return SignAll([]string{secret}, t, body)
}

// SignAll returns the header value with one v1 entry per secret, in order:
// what the sender uses while a secret is rotated.
func SignAll(secrets []string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Fulfill-Signature header against the raw body: at least one
// v1 entry must be the HMAC of one of the secrets, and the timestamp must be
// within tolerance of now (either way), which stops replays of old
// deliveries. Unknown schemes (v0, v2, …) are ignored. A zero tolerance
// means DefaultTolerance.
func Verify(header string, body []byte, secrets []string, now time.Time, tolerance time.Duration) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrNoHeader
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrInvalidHeader
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrInvalidHeader
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrInvalidHeader
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts == "" {
		return ErrInvalidHeader
	}
	if len(sigs) == 0 {
		return ErrNoSignatures
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	// An empty secret is a key anyone can sign with (an unset variable, say):
	// it never verifies anything.
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return s == "" })
	if len(secrets) == 0 {
		return ErrNoSecrets
	}
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return ErrSignatureMismatch
}
