package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Format constants; FORMAT.md is the specification.
const (
	armorBegin = "-----BEGIN FULFILL LICENSE-----\n"
	armorEnd   = "-----END FULFILL LICENSE-----\n"
	lineLen    = 64 // base64 characters per armored line
	lineBytes  = lineLen / 4 * 3

	// signingPrefix separates license signatures from anything else the same
	// key might ever sign.
	signingPrefix = "fulfill-license-v1\n"

	// AlgEd25519 is the only signature algorithm defined.
	AlgEd25519 = "ed25519"

	// MaxClockSkew is how far in the future of the verifier's clock a
	// license's issued_at may be; beyond it the clock is probably wrong (or
	// set back to stretch a license) and Verify refuses the file.
	MaxClockSkew = 5 * time.Minute
)

// Envelope keys, in their fixed order, with the punctuation around them.
const (
	envKid     = `{"kid":"`
	envAlg     = `","alg":"`
	envPayload = `","payload":"`
	envSig     = `","sig":"`
	envEnd     = `"}`
)

var b64 = base64.StdEncoding.Strict() // strict: non-zero padding bits are rejected

// Errors returned by Parse and Verify. Each failure wraps exactly one of them,
// with details, so callers can use errors.Is.
var (
	// ErrMalformed: the bytes are not a well-formed license file (armor,
	// line wrapping, base64, envelope or payload JSON).
	ErrMalformed = errors.New("license: malformed license file")
	// ErrUnknownKey: the file names a key id the Keyring does not trust.
	ErrUnknownKey = errors.New("license: signed by an unknown key")
	// ErrUnsupportedAlgorithm: the envelope's alg is not "ed25519".
	ErrUnsupportedAlgorithm = errors.New("license: unsupported signature algorithm")
	// ErrBadSignature: the signature does not match the payload; the file was
	// changed or not signed by the named key.
	ErrBadSignature = errors.New("license: bad signature")
	// ErrIssuedInFuture: issued_at is more than MaxClockSkew after now.
	ErrIssuedInFuture = errors.New("license: issued in the future")
	// ErrUnsupportedVersion: the payload version is not PayloadVersion.
	ErrUnsupportedVersion = errors.New("license: unsupported payload version")
)

// File is a parsed, not yet verified, license file.
type File struct {
	KeyID     string
	Algorithm string
	// RawPayload is the exact signed bytes; the signature covers these, not
	// any re-encoding of Payload.
	RawPayload []byte
	Signature  []byte
	// Payload is RawPayload decoded. Nothing in it is trustworthy until
	// Keyring.Verify has accepted the file.
	Payload Payload
}

// envelope holds sub-slices of the decoded envelope.
type envelope struct {
	kid, alg, payload64, sig64 []byte
}

// Parse decodes a license file without verifying it, for display and
// diagnostics. It accepts only the exact bytes the encoder produces, so any
// change to armor, line breaks, base64 or envelope is ErrMalformed.
func Parse(data []byte) (*File, error) {
	bp := getBuf()
	f, buf, err := parse(*bp, data)
	putBuf(bp, buf)
	return f, err
}

// parse is Parse with the decoded envelope in buf, which it returns for reuse;
// nothing in the File aliases it.
func parse(buf, data []byte) (*File, []byte, error) {
	env, buf, err := parseEnvelope(buf[:0], data)
	if err != nil {
		return nil, buf, err
	}
	// Payload and signature share one allocation.
	np := b64.DecodedLen(len(env.payload64))
	raw := make([]byte, np+b64.DecodedLen(len(env.sig64)))
	n, err := b64.Decode(raw[:np], env.payload64)
	if err != nil {
		return nil, buf, fmt.Errorf("%w: payload: bad base64", ErrMalformed)
	}
	payload := raw[:n:n]
	m, err := b64.Decode(raw[np:], env.sig64)
	if err != nil {
		return nil, buf, fmt.Errorf("%w: sig: bad base64", ErrMalformed)
	}
	f := &File{
		KeyID:      string(env.kid),
		Algorithm:  string(env.alg),
		RawPayload: payload,
		Signature:  raw[np : np+m : np+m],
	}
	if err := decodePayload(payload, &f.Payload); err != nil {
		return nil, buf, err
	}
	return f, buf, nil
}

func decodePayload(raw []byte, p *Payload) error {
	if err := decodeJSON(raw, p); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if p.Version != PayloadVersion {
		return fmt.Errorf("%w: version %d, this verifier knows %d", ErrUnsupportedVersion, p.Version, PayloadVersion)
	}
	return nil
}

// parseEnvelope removes the armor, decodes the base64 into dst (appending;
// the returned buffer, possibly grown, holds it and must outlive the
// envelope) and splits the envelope, whose fields alias that buffer.
func parseEnvelope(dst, data []byte) (envelope, []byte, error) {
	dst, err := decodeArmor(dst, data)
	if err != nil {
		return envelope{}, dst, err
	}
	env, err := splitEnvelope(dst)
	return env, dst, err
}

// decodeArmorFast is decodeArmor in one pass for a well-formed file; on any
// error it reports false and decodeArmor finds and describes the error.
//
// A full line is accepted only if it is followed by '\n' and decodes to 48
// bytes: the decoder skips '\r' and '\n', and padding ends the text, so a
// line of 64 bytes holding any of them decodes to fewer. The last line is
// checked by hand.
func decodeArmorFast(dst, data []byte) ([]byte, bool) {
	body, ok := bytes.CutPrefix(data, []byte(armorBegin))
	if !ok {
		return dst, false
	}
	if body, ok = bytes.CutSuffix(body, []byte(armorEnd)); !ok || len(body) < 2 {
		return dst, false
	}
	start := len(dst)
	dst = slices.Grow(dst, b64.DecodedLen(len(body)))
	out := dst[:cap(dst)]
	n := start
	for len(body) > lineLen+1 {
		if body[lineLen] != '\n' {
			return dst[:start], false
		}
		if m, err := b64.Decode(out[n:], body[:lineLen]); err != nil || m != lineBytes {
			return dst[:start], false
		}
		n += lineBytes
		body = body[lineLen+1:]
	}
	last := body[:len(body)-1] // up to 64 characters
	if len(last) == 0 || body[len(body)-1] != '\n' || bytes.IndexByte(last, '\n') >= 0 || bytes.IndexByte(last, '\r') >= 0 {
		return dst[:start], false
	}
	m, err := b64.Decode(out[n:], last)
	if err != nil {
		return dst[:start], false
	}
	return out[:n+m], true
}

// decodeArmor checks the armor and line layout of data and appends the
// decoded base64 text to dst.
func decodeArmor(dst, data []byte) ([]byte, error) {
	if out, ok := decodeArmorFast(dst, data); ok {
		return out, nil
	}
	// Something is wrong: find what, in the order FORMAT.md gives.
	body, ok := bytes.CutPrefix(data, []byte(armorBegin))
	if !ok {
		return dst, fmt.Errorf("%w: first line is not %q", ErrMalformed, armorBegin[:len(armorBegin)-1])
	}
	body, ok = bytes.CutSuffix(body, []byte(armorEnd))
	if !ok {
		return dst, fmt.Errorf("%w: file does not end with %q and one newline", ErrMalformed, armorEnd[:len(armorEnd)-1])
	}
	// The decoder skips '\r' and '\n' anywhere; the layout is checked here
	// instead so that a moved or added line break is an error.
	if len(body) == 0 || bytes.IndexByte(body, '\r') >= 0 {
		return dst, fmt.Errorf("%w: empty body or carriage return", ErrMalformed)
	}
	// Check the wrapping here; the decoder then skips the line breaks.
	enc := body
	for line := 1; len(body) > 0; line++ {
		i := bytes.IndexByte(body, '\n')
		if i < 0 {
			return dst, fmt.Errorf("%w: line %d: missing newline", ErrMalformed, line)
		}
		// Full lines carry 64 characters; the last one 1 to 64.
		if i == 0 || i > lineLen || (i != lineLen && i+1 != len(body)) {
			return dst, fmt.Errorf("%w: line %d is %d characters, want %d (last line 1-%d)", ErrMalformed, line, i, lineLen, lineLen)
		}
		body = body[i+1:]
	}
	// Decode line by line: every line but the last is 64 characters, whole
	// quanta, so this equals decoding the joined text, without the decoder's
	// slow path for line breaks. Padding can only end the text, so a full
	// line that decodes to fewer than 48 bytes is an error.
	start := len(dst)
	dst = slices.Grow(dst, b64.DecodedLen(len(enc)))
	out := dst[:cap(dst)]
	n := start
	for len(enc) > lineLen+1 {
		m, err := b64.Decode(out[n:], enc[:lineLen])
		if err != nil || m != lineBytes {
			return dst[:start], fmt.Errorf("%w: bad base64 in the armored block", ErrMalformed)
		}
		n += m
		enc = enc[lineLen+1:]
	}
	m, err := b64.Decode(out[n:], enc[:len(enc)-1])
	if err != nil {
		return dst[:start], fmt.Errorf("%w: bad base64 in the armored block", ErrMalformed)
	}
	return out[:n+m], nil
}

// splitEnvelope reads the envelope JSON in its one accepted form: keys kid,
// alg, payload, sig in that order, no white space, string values without
// escapes. kid and alg must be printable ASCII other than '"' and '\';
// payload and sig must be strict base64, which their decoding checks, except
// for line breaks, which the decoder would skip and are refused here.
func splitEnvelope(b []byte) (envelope, error) {
	var env envelope
	fields := [...]struct {
		lead      string
		dst       *[]byte
		printable bool
	}{{envKid, &env.kid, true}, {envAlg, &env.alg, true}, {envPayload, &env.payload64, false}, {envSig, &env.sig64, false}}
	for _, f := range fields {
		rest, ok := bytes.CutPrefix(b, []byte(f.lead))
		if !ok {
			return envelope{}, fmt.Errorf("%w: envelope is not {\"kid\",\"alg\",\"payload\",\"sig\"} in canonical form", ErrMalformed)
		}
		i := bytes.IndexByte(rest, '"')
		if i <= 0 {
			return envelope{}, fmt.Errorf("%w: envelope: empty or unterminated value", ErrMalformed)
		}
		v := rest[:i]
		if f.printable {
			for _, c := range v {
				if c < 0x20 || c > 0x7e || c == '\\' {
					return envelope{}, fmt.Errorf("%w: envelope: byte %#x in kid or alg", ErrMalformed, c)
				}
			}
		} else if bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
			return envelope{}, fmt.Errorf("%w: envelope: line break in payload or sig", ErrMalformed)
		}
		*f.dst = v
		b = rest[i:]
	}
	if string(b) != envEnd {
		return envelope{}, fmt.Errorf("%w: envelope: unexpected bytes after sig", ErrMalformed)
	}
	return env, nil
}

// encodeFile is the only encoder; parseEnvelope accepts exactly its output.
func encodeFile(kid, alg string, payload, sig []byte) []byte {
	out, _ := armorFile(nil, kid, alg, payload, sig)
	return out
}

// armorFile builds the envelope in scratch (from its start; payload and sig
// must not overlap scratch's capacity) and returns the armored file, in one
// allocation of its exact size, and the envelope buffer for reuse.
func armorFile(scratch []byte, kid, alg string, payload, sig []byte) (out, env []byte) {
	envLen := len(envKid) + len(kid) + len(envAlg) + len(alg) + len(envPayload) +
		b64.EncodedLen(len(payload)) + len(envSig) + b64.EncodedLen(len(sig)) + len(envEnd)
	env = slices.Grow(scratch[:0], envLen)
	env = append(env, envKid...)
	env = append(env, kid...)
	env = append(env, envAlg...)
	env = append(env, alg...)
	env = append(env, envPayload...)
	n := len(env)
	env = env[:n+b64.EncodedLen(len(payload))]
	b64Encode(env[n:], payload)
	env = append(env, envSig...)
	n = len(env)
	env = env[:n+b64.EncodedLen(len(sig))]
	b64Encode(env[n:], sig)
	env = append(env, envEnd...)

	encLen := b64.EncodedLen(len(env))
	out = make([]byte, len(armorBegin)+encLen+(encLen+lineLen-1)/lineLen+len(armorEnd))
	n = copy(out, armorBegin)
	for rest := env; len(rest) > 0; {
		k := min(len(rest), lineBytes)
		b64Encode(out[n:], rest[:k])
		n += b64.EncodedLen(k)
		out[n] = '\n'
		n++
		rest = rest[k:]
	}
	copy(out[n:], armorEnd)
	return out, env
}

// Sign returns the license file for p. A zero Version is set to
// PayloadVersion; IssuedAt must be set and is stored in UTC to the second so
// that any RFC 3339 parser reads it.
func (s *Signer) Sign(p Payload) ([]byte, error) {
	if p.Version == 0 {
		p.Version = PayloadVersion
	}
	if p.Version != PayloadVersion {
		return nil, fmt.Errorf("license: sign: version %d, want %d", p.Version, PayloadVersion)
	}
	if p.IssuedAt.IsZero() {
		return nil, errors.New("license: sign: issued_at is not set")
	}
	p.IssuedAt = p.IssuedAt.UTC().Truncate(time.Second)
	// ed25519 takes one message slice: prefix and payload in one pooled
	// buffer, the payload written by appendPayload (json.Marshal's exact
	// bytes, without reflection) and the envelope after it.
	bp := getBuf()
	msg := append((*bp)[:0], signingPrefix...)
	msg, ok := appendPayload(msg, &p)
	if !ok {
		pp := p // only this copy escapes to the heap, not p on every Sign
		payload, err := json.Marshal(&pp)
		if err != nil {
			putBuf(bp, msg)
			return nil, fmt.Errorf("license: sign: %w", err)
		}
		msg = append(msg[:len(signingPrefix)], payload...)
	}
	var sig [ed25519.SignatureSize]byte
	signInto(&sig, s.priv, msg)
	out, env := armorFile(msg[len(msg):], s.kid, AlgEd25519, msg[len(signingPrefix):], sig[:])
	if cap(env) > cap(msg) {
		msg = env
	}
	putBuf(bp, msg)
	return out, nil
}

// signInto is ed25519.Sign with the signature in dst: inlined, its result
// stays off the heap.
func signInto(dst *[ed25519.SignatureSize]byte, priv ed25519.PrivateKey, msg []byte) {
	copy(dst[:], ed25519.Sign(priv, msg))
}

// Verify checks that data is a license file signed by a trusted key and not
// issued more than MaxClockSkew after now, and returns its payload. It checks
// the signature over the payload bytes as received, before decoding them.
// It does not judge expiry or seats: that is Payload.Check, because an expired
// license still has a grace period and an over-seats one still works.
func (k *Keyring) Verify(data []byte, now time.Time) (*Payload, error) {
	bp := getBuf()
	p, buf, err := k.verify(*bp, data, now)
	putBuf(bp, buf)
	return p, err
}

// verify is Verify with scratch space buf (decoded envelope, then prefix and
// payload), which it returns, possibly grown, for reuse. Nothing it returns
// aliases buf.
func (k *Keyring) verify(buf, data []byte, now time.Time) (*Payload, []byte, error) {
	env, buf, err := parseEnvelope(buf[:0], data)
	if err != nil {
		return nil, buf, err
	}
	// Decode payload and sig first: whatever the key or algorithm, a file
	// whose values are not strict base64 is malformed (FORMAT.md order).
	// The payload goes straight after the prefix, after the envelope in the
	// same buffer (env keeps pointing at the old array if it grows).
	start := len(buf)
	buf = slices.Grow(buf, len(signingPrefix)+b64.DecodedLen(len(env.payload64)))
	msg := append(buf[start:start], signingPrefix...)
	if msg, err = b64.AppendDecode(msg, env.payload64); err != nil {
		return nil, buf, fmt.Errorf("%w: payload: bad base64", ErrMalformed)
	}
	var sigBuf [ed25519.SignatureSize + 2]byte // room for DecodedLen of 88 characters
	sig := sigBuf[:0]
	if len(env.sig64) > b64.EncodedLen(ed25519.SignatureSize) {
		sig = nil // too long for Ed25519; decoded only to check it
	}
	if sig, err = b64.AppendDecode(sig, env.sig64); err != nil {
		return nil, buf, fmt.Errorf("%w: sig: bad base64", ErrMalformed)
	}
	if string(env.alg) != AlgEd25519 {
		return nil, buf, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, env.alg)
	}
	pub, ok := k.lookup(env.kid)
	if !ok {
		return nil, buf, fmt.Errorf("%w: key id %q is not in the keyring", ErrUnknownKey, env.kid)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, buf, fmt.Errorf("%w: sig is %d bytes, want %d", ErrMalformed, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return nil, buf, fmt.Errorf("%w: payload does not match the signature of key %s", ErrBadSignature, env.kid)
	}
	p := new(Payload)
	if err := decodePayload(msg[len(signingPrefix):], p); err != nil {
		return nil, buf, err
	}
	if limit := now.Add(MaxClockSkew); p.IssuedAt.After(limit) {
		return nil, buf, fmt.Errorf("%w: issued_at %s is more than %v after now (%s); check the system clock",
			ErrIssuedInFuture, p.IssuedAt.Format(time.RFC3339), MaxClockSkew, now.UTC().Format(time.RFC3339))
	}
	return p, buf, nil
}
