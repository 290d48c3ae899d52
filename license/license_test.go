package license

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// testSigner returns a deterministic signer, so vectors are reproducible.
func testSigner(t testing.TB, name string) *Signer {
	t.Helper()
	seed := sha256.Sum256([]byte("fulfill license test key: " + name))
	return NewSigner(ed25519.NewKeyFromSeed(seed[:]))
}

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testPayload() Payload {
	return Payload{
		ID:                "lic_0001",
		Licensee:          Licensee{Name: "Ada Lovelace", Company: "Analytical Engines Ltd", Email: "ada@example.com"},
		Plan:              "premium",
		Seats:             100,
		PreviousUserCount: 80,
		TrueUpQuantity:    12,
		TrueUpFrom:        NewDate(2024, 1, 1),
		TrueUpTo:          NewDate(2024, 12, 31),
		StartsAt:          NewDate(2025, 1, 1),
		ExpiresAt:         NewDate(2026, 1, 1),
		BlockChangesAt:    NewDate(2026, 1, 15),
		IssuedAt:          time.Date(2025, 1, 1, 9, 30, 0, 0, time.UTC),
		SubscriptionID:    "sub_0001",
		AddOns:            map[string]int{"duo_pro": 5},
		AutoRenew:         true,
	}
}

func mustSign(t testing.TB, s *Signer, p Payload) []byte {
	t.Helper()
	b, err := s.Sign(p)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return b
}

func mustKeyring(t testing.TB, keys ...ed25519.PublicKey) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys...)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := testSigner(t, "primary")
	want := testPayload()
	data := mustSign(t, s, want)

	if !bytes.HasPrefix(data, []byte("-----BEGIN FULFILL LICENSE-----\n")) ||
		!bytes.HasSuffix(data, []byte("\n-----END FULFILL LICENSE-----\n")) {
		t.Fatalf("armor missing:\n%s", data)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, l := range lines[1 : len(lines)-2] {
		if len(l) != 64 {
			t.Errorf("line %d has %d characters, want 64", i+2, len(l))
		}
	}

	got, err := mustKeyring(t, s.PublicKey()).Verify(data, testNow)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want.Version = PayloadVersion
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
		t.Errorf("payload round trip:\n got %+v\nwant %+v", *got, want)
	}

	f, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.KeyID != s.KeyID() || f.Algorithm != "ed25519" || len(f.Signature) != 64 {
		t.Errorf("Parse: kid %q alg %q sig %d bytes", f.KeyID, f.Algorithm, len(f.Signature))
	}
	if !ed25519.Verify(s.PublicKey(), append([]byte("fulfill-license-v1\n"), f.RawPayload...), f.Signature) {
		t.Error("signature is not over prefix + RawPayload")
	}
	if !bytes.Equal(encodeFile(f.KeyID, f.Algorithm, f.RawPayload, f.Signature), data) {
		t.Error("re-encoding the parsed file does not give the same bytes")
	}
}

func TestSignNormalisesIssuedAt(t *testing.T) {
	s := testSigner(t, "primary")
	p := testPayload()
	p.IssuedAt = time.Date(2025, 1, 1, 10, 30, 0, 999, time.FixedZone("CET", 3600))
	f, err := Parse(mustSign(t, s, p))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(f.RawPayload, []byte(`"issued_at":"2025-01-01T09:30:00Z"`)) {
		t.Errorf("issued_at not UTC seconds: %s", f.RawPayload)
	}
}

func TestSignRejects(t *testing.T) {
	s := testSigner(t, "primary")
	tests := []struct {
		name   string
		modify func(*Payload)
	}{
		{"no issued_at", func(p *Payload) { p.IssuedAt = time.Time{} }},
		{"version 2", func(p *Payload) { p.Version = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPayload()
			tt.modify(&p)
			if _, err := s.Sign(p); err == nil {
				t.Fatal("Sign succeeded, want error")
			}
		})
	}
}

// TestEveryByteMatters changes, deletes and inserts each byte of a real file:
// every variant must be refused as malformed or with a bad signature.
func TestEveryByteMatters(t *testing.T) {
	s := testSigner(t, "primary")
	ring := mustKeyring(t, s.PublicKey())
	data := mustSign(t, s, testPayload())

	check := func(t *testing.T, what string, v []byte) {
		t.Helper()
		_, err := ring.Verify(v, testNow)
		switch {
		case err == nil:
			t.Fatalf("%s: accepted", what)
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrBadSignature),
			// a changed kid or alg byte is reported as such
			errors.Is(err, ErrUnknownKey), errors.Is(err, ErrUnsupportedAlgorithm):
		default:
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		if _, err := Parse(v); err == nil && !bytes.Equal(v, data) {
			// Parse may accept a file whose signature is wrong, but then the
			// change must be inside kid, alg, payload or sig values.
			f, _ := Parse(v)
			if !bytes.Equal(encodeFile(f.KeyID, f.Algorithm, f.RawPayload, f.Signature), v) {
				t.Fatalf("%s: Parse accepted a non-canonical file", what)
			}
		}
	}
	t.Run("substitute", func(t *testing.T) {
		// Every single-bit flip, plus the bytes decoders like to skip or
		// treat specially. (All 255 values per byte also pass, in ~12s.)
		special := []byte{0, '\t', '\n', '\r', ' ', '"', '\\', '+', '/', '=', '-', 'A', 'a', '0', 0xff}
		v := slices.Clone(data)
		for i := range data {
			var repl []byte
			for bit := range 8 {
				repl = append(repl, data[i]^1<<bit)
			}
			for _, b := range append(repl, special...) {
				if b == data[i] {
					continue
				}
				v[i] = b
				check(t, fmt.Sprintf("byte %d = %#x", i, b), v)
			}
			v[i] = data[i]
		}
	})
	t.Run("delete", func(t *testing.T) {
		for i := range data {
			check(t, fmt.Sprintf("delete byte %d", i), slices.Delete(slices.Clone(data), i, i+1))
		}
	})
	t.Run("insert", func(t *testing.T) {
		for i := 0; i <= len(data); i++ {
			for _, b := range []byte{'\n', '\r', ' ', 'A', '='} {
				check(t, fmt.Sprintf("insert %q at %d", b, i), slices.Insert(slices.Clone(data), i, b))
			}
		}
	})
}

func TestVerifyErrors(t *testing.T) {
	primary := testSigner(t, "primary")
	other := testSigner(t, "other")
	ring := mustKeyring(t, primary.PublicKey())
	good := mustSign(t, primary, testPayload())
	f, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	reencode := func(kid, alg string, payload, sig []byte) []byte { return encodeFile(kid, alg, payload, sig) }
	issued := func(d time.Duration) []byte {
		p := testPayload()
		p.IssuedAt = testNow.Add(d)
		return mustSign(t, primary, p)
	}

	tests := []struct {
		name string
		data []byte
		want error // nil: accepted
		msg  string
	}{
		{"valid", good, nil, ""},
		{"unknown key", mustSign(t, other, testPayload()), ErrUnknownKey, other.KeyID()},
		{"kid of a trusted key, signature of another", reencode(primary.KeyID(), "ed25519",
			f.RawPayload, ed25519.Sign(other.PrivateKey(), append([]byte(signingPrefix), f.RawPayload...))), ErrBadSignature, ""},
		{"bad alg", reencode(f.KeyID, "rsa-pss-sha256", f.RawPayload, f.Signature), ErrUnsupportedAlgorithm, `"rsa-pss-sha256"`},
		{"alg in capitals", reencode(f.KeyID, "ED25519", f.RawPayload, f.Signature), ErrUnsupportedAlgorithm, ""},
		{"payload changed", reencode(f.KeyID, f.Algorithm, bytes.Replace(f.RawPayload, []byte(`"seats":100`), []byte(`"seats":900`), 1), f.Signature), ErrBadSignature, ""},
		{"payload gets a trailing newline", reencode(f.KeyID, f.Algorithm, append(slices.Clone(f.RawPayload), '\n'), f.Signature), ErrBadSignature, ""},
		{"signature without prefix", reencode(f.KeyID, f.Algorithm, f.RawPayload, ed25519.Sign(primary.PrivateKey(), f.RawPayload)), ErrBadSignature, ""},
		{"short signature", reencode(f.KeyID, f.Algorithm, f.RawPayload, f.Signature[:63]), ErrMalformed, ""},
		{"empty", nil, ErrMalformed, ""},
		{"CRLF line ends", bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), ErrMalformed, ""},
		{"no final newline", bytes.TrimSuffix(good, []byte("\n")), ErrMalformed, ""},
		{"text after end", append(slices.Clone(good), "x\n"...), ErrMalformed, ""},
		{"issued 4m59s ahead", issued(4*time.Minute + 59*time.Second), nil, ""},
		{"issued 5m ahead", issued(5 * time.Minute), nil, ""},
		{"issued 5m01s ahead", issued(5*time.Minute + time.Second), ErrIssuedInFuture, "check the system clock"},
		{"issued long ago", issued(-5 * 365 * 24 * time.Hour), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ring.Verify(tt.data, testNow)
			if tt.want == nil {
				if err != nil || p == nil {
					t.Fatalf("Verify = %v, %v; want payload", p, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || p != nil {
				t.Fatalf("Verify = %v, %v; want %v", p, err, tt.want)
			}
			for _, other := range []error{ErrMalformed, ErrUnknownKey, ErrUnsupportedAlgorithm, ErrBadSignature, ErrIssuedInFuture, ErrUnsupportedVersion} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.want.Error()) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not say %q / %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestUnsupportedVersion(t *testing.T) {
	s := testSigner(t, "primary")
	payload := []byte(`{"version":2,"issued_at":"2025-01-01T00:00:00Z"}`)
	msg := append([]byte(signingPrefix), payload...)
	data := encodeFile(s.KeyID(), AlgEd25519, payload, ed25519.Sign(s.PrivateKey(), msg))
	if _, err := mustKeyring(t, s.PublicKey()).Verify(data, testNow); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("Verify = %v, want ErrUnsupportedVersion", err)
	}
	if _, err := Parse(data); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("Parse = %v, want ErrUnsupportedVersion", err)
	}
}

func TestKeyRotation(t *testing.T) {
	old, next := testSigner(t, "old"), testSigner(t, "next")
	ring := mustKeyring(t, old.PublicKey(), next.PublicKey())
	oldLic, nextLic := mustSign(t, old, testPayload()), mustSign(t, next, testPayload())

	wantIDs := []string{old.KeyID(), next.KeyID()}
	slices.Sort(wantIDs)
	if got := ring.KeyIDs(); !slices.Equal(got, wantIDs) {
		t.Fatalf("KeyIDs = %v, want %v", got, wantIDs)
	}
	for name, lic := range map[string][]byte{"old": oldLic, "next": nextLic} {
		if _, err := ring.Verify(lic, testNow); err != nil {
			t.Fatalf("both trusted: %s license: %v", name, err)
		}
	}
	if !ring.Remove(old.KeyID()) || ring.Remove(old.KeyID()) {
		t.Fatal("Remove should report true once, then false")
	}
	if _, err := ring.Verify(oldLic, testNow); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old license after removal: %v, want ErrUnknownKey", err)
	}
	if _, err := ring.Verify(nextLic, testNow); err != nil {
		t.Fatalf("next license after removal: %v", err)
	}
	if got := ring.KeyIDs(); !slices.Equal(got, []string{next.KeyID()}) {
		t.Fatalf("KeyIDs = %v", got)
	}
}

func TestZeroKeyring(t *testing.T) {
	var ring Keyring
	s := testSigner(t, "primary")
	if _, err := ring.Verify(mustSign(t, s, testPayload()), testNow); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("empty keyring: %v", err)
	}
	kid, err := ring.Add(s.PublicKey())
	if err != nil || kid != s.KeyID() {
		t.Fatalf("Add = %q, %v", kid, err)
	}
	if _, err := ring.Add(make([]byte, 31)); err == nil {
		t.Fatal("Add accepted a 31-byte key")
	}
	if _, err := NewKeyring(make([]byte, 33)); err == nil {
		t.Fatal("NewKeyring accepted a 33-byte key")
	}
}

func TestKeyEncoding(t *testing.T) {
	s := testSigner(t, "primary")

	priv := MarshalPrivateKey(s.PrivateKey())
	if !bytes.HasPrefix(priv, []byte("fulfill-ed25519-private:")) || priv[len(priv)-1] != '\n' {
		t.Fatalf("private form %q", priv)
	}
	back, err := ParsePrivateKey(priv)
	if err != nil || !back.Equal(s.PrivateKey()) {
		t.Fatalf("ParsePrivateKey round trip: %v", err)
	}
	pub := MarshalPublicKey(s.PublicKey())
	pk, err := ParsePublicKey("  " + pub + "\n")
	if err != nil || !pk.Equal(s.PublicKey()) {
		t.Fatalf("ParsePublicKey round trip: %v", err)
	}
	sum := sha256.Sum256(s.PublicKey())
	if want := fmt.Sprintf("%x", sum[:8]); s.KeyID() != want || KeyID(pk) != want || len(want) != 16 {
		t.Fatalf("KeyID = %q, want %q", s.KeyID(), want)
	}

	bad := []struct {
		name string
		text string
	}{
		{"no prefix", strings.TrimPrefix(pub, "fulfill-ed25519-public:")},
		{"private prefix", strings.Replace(pub, "public", "private", 1)},
		{"short", pub[:len(pub)-4]},
		{"line break inside", pub[:30] + "\n" + pub[30:]},
		{"not base64", pub[:len(pub)-2] + "!="},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePublicKey(tt.text); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := ParsePrivateKey([]byte(pub)); err == nil {
		t.Fatal("ParsePrivateKey accepted a public key")
	}
}

func TestGenerateKey(t *testing.T) {
	s, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	data := mustSign(t, s, testPayload())
	if _, err := mustKeyring(t, s.PublicKey()).Verify(data, testNow); err != nil {
		t.Fatal(err)
	}
}

func TestDate(t *testing.T) {
	d, err := ParseDate("2024-02-29")
	if err != nil || d != NewDate(2024, 2, 29) || d.String() != "2024-02-29" {
		t.Fatalf("ParseDate = %v, %v", d, err)
	}
	for _, s := range []string{"2023-02-29", "2024-2-29", "24-02-29", "2024-02-29T00:00:00Z", " 2024-02-29"} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) accepted", s)
		}
	}
	if got := NewDate(2024, 12, 31).AddDays(1); got != NewDate(2025, 1, 1) {
		t.Errorf("AddDays = %v", got)
	}
	if got := NewDate(2024, 3, 1).DaysUntil(NewDate(2024, 2, 28)); got != -2 {
		t.Errorf("DaysUntil = %d, want -2", got)
	}
	if got := DateOf(time.Date(2025, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600))); got != NewDate(2024, 12, 31) {
		t.Errorf("DateOf uses UTC: got %v", got)
	}
	var z Date
	if b, _ := z.MarshalJSON(); string(b) != `""` {
		t.Errorf("zero Date JSON %s", b)
	}
	if err := z.UnmarshalJSON([]byte(`"2025-13-01"`)); err == nil {
		t.Error("month 13 accepted")
	}
}
