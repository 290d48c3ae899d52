package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook's timestamp may be from now, as in
// Stripe's libraries. It bounds replays of a captured delivery; events must
// still be deduplicated by id, since Stripe itself delivers some twice.
const DefaultTolerance = 300 * time.Second

// Errors of VerifySignature.
var (
	ErrNoHeader         = errors.New("stripe webhook: no Stripe-Signature header")
	ErrMalformedHeader  = errors.New("stripe webhook: malformed Stripe-Signature header")
	ErrNoValidSignature = errors.New("stripe webhook: no valid signature")
	ErrTooOld           = errors.New("stripe webhook: timestamp too old")
	ErrTooNew           = errors.New("stripe webhook: timestamp in the future")
	ErrNoSecret         = errors.New("stripe webhook: no signing secret configured")
)

// VerifySignature checks the Stripe-Signature header of a webhook against
// the raw request body. It accepts when any v1 signature matches any of
// secrets (several during a secret rotation) and the timestamp is within
// tolerance of now, in either direction; tolerance <= 0 means
// DefaultTolerance. The scheme is Stripe's: header "t=UNIX,v1=HEX[,v1=HEX…]",
// HMAC-SHA256 over t + "." + body. Other schemes (v0) are ignored.
func VerifySignature(payload []byte, header string, secrets []string, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return ErrNoHeader
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, sigs, err := parseHeader(header)
	if err != nil {
		return err
	}
	// An empty secret is a key anyone can sign with: never use one.
	var keys []string
	for _, s := range secrets {
		if s != "" {
			keys = append(keys, s)
		}
	}
	if len(keys) == 0 {
		return ErrNoSecret
	}
	ok := false
	for _, k := range keys {
		want := mac(payload, k, ts)
		for _, s := range sigs {
			// hmac.Equal is constant-time; no early exit on a match either,
			// so timing does not tell which secret or signature matched.
			if hmac.Equal(want, s) {
				ok = true
			}
		}
	}
	if !ok {
		return ErrNoValidSignature
	}
	// Checked after the signature so that only genuine but stale (replayed or
	// badly delayed) deliveries are reported as such.
	age := now.Sub(time.Unix(ts, 0))
	if age > tolerance {
		return fmt.Errorf("%w: %s old", ErrTooOld, age.Round(time.Second))
	}
	if -age > tolerance {
		return fmt.Errorf("%w: %s ahead", ErrTooNew, (-age).Round(time.Second))
	}
	return nil
}

// parseHeader reads t and the decoded v1 signatures. Undecodable v1 values
// are skipped, not fatal: a junk signature beside a good one must pass.
func parseHeader(header string) (int64, [][]byte, error) {
	var ts int64
	haveT := false
	var sigs [][]byte
	for item := range strings.SplitSeq(header, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(item), "=")
		if !found {
			return 0, nil, ErrMalformedHeader
		}
		switch k {
		case "t":
			if haveT {
				return 0, nil, ErrMalformedHeader // two timestamps: which one was signed?
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return 0, nil, ErrMalformedHeader
			}
			ts, haveT = n, true
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if !haveT {
		return 0, nil, ErrMalformedHeader
	}
	if len(sigs) == 0 {
		return 0, nil, ErrNoValidSignature
	}
	return ts, sigs, nil
}

func mac(payload []byte, secret string, ts int64) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte("."))
	m.Write(payload)
	return m.Sum(nil)
}

// Sign returns a Stripe-Signature header for payload as Stripe would send
// it at t. For tests and local tools.
func Sign(payload []byte, secret string, t time.Time) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac(payload, secret, ts))
}

// Event is the part of a Stripe event Fulfill reads. Object is the raw
// data.object, to be decoded according to Type.
type Event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created int64           `json:"created"`
	Object  json.RawMessage `json:"-"`
}

// ParseEvent decodes a webhook body. Call it only after VerifySignature.
func ParseEvent(payload []byte) (Event, error) {
	var raw struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Created int64  `json:"created"`
		Data    struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Event{}, fmt.Errorf("stripe webhook: bad event: %w", err)
	}
	if raw.ID == "" || raw.Type == "" {
		return Event{}, errors.New("stripe webhook: event without id or type")
	}
	return Event{ID: raw.ID, Type: raw.Type, Created: raw.Created, Object: raw.Data.Object}, nil
}
