package license

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// The Verify and Sign benchmarks are paired with bare ed25519 on a message of
// the same size, to show the format's overhead (targets: Verify >= 90% and
// Sign >= 80% of the bare rate).

// benchFixture returns the signer, a keyring trusting it, the signed test
// license and the exact message its signature covers (prefix + payload), so
// the bare ed25519 benchmarks hash and verify the same bytes and signature.
func benchFixture(b testing.TB) (*Signer, *Keyring, []byte, []byte) {
	s := testSigner(b, "primary")
	data := mustSign(b, s, testPayload())
	f, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	msg := append([]byte(signingPrefix), f.RawPayload...)
	if !bytes.Equal(ed25519.Sign(s.priv, msg), f.Signature) {
		b.Fatal("bench fixture: the bare message is not what the license signs")
	}
	return s, mustKeyring(b, s.PublicKey()), data, msg
}

// TestBenchmarkFairness checks (untimed) that the paired benchmarks do the
// same cryptographic work: same key, same message, same signature.
func TestBenchmarkFairness(t *testing.T) {
	s, ring, data, msg := benchFixture(t)
	p, err := ring.Verify(data, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := appendPayload(nil, p); !bytes.Equal(raw, msg[len(signingPrefix):]) {
		t.Fatal("Verify's payload is not the benchmarked message")
	}
	if again := mustSign(t, s, testPayload()); !bytes.Equal(again, data) {
		t.Fatal("BenchmarkSign signs a different license than the fixture")
	}
}

func BenchmarkVerify(b *testing.B) {
	_, ring, data, _ := benchFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.Verify(data, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	s, _, _, msg := benchFixture(b)
	sig := ed25519.Sign(s.priv, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(s.pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s, _, _, _ := benchFixture(b)
	p := testPayload()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Sign(b *testing.B) {
	s, _, _, msg := benchFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(s.priv, msg)
	}
}

func BenchmarkParse(b *testing.B) {
	_, _, data, _ := benchFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	p := testPayload()
	b.ReportAllocs()
	for b.Loop() {
		p.Check(testNow, 105, 90)
	}
}
