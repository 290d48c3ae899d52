package license

import (
	"crypto/ed25519"
	"testing"
)

// The Verify and Sign benchmarks are paired with bare ed25519 on a message of
// the same size, to show the format's overhead (targets: Verify >= 90% and
// Sign >= 80% of the bare rate).

func benchFixture(b *testing.B) (*Signer, *Keyring, []byte, []byte) {
	s := testSigner(b, "primary")
	data := mustSign(b, s, testPayload())
	f, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	msg := append([]byte(signingPrefix), f.RawPayload...)
	return s, mustKeyring(b, s.PublicKey()), data, msg
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
