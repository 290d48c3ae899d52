package license_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

// FuzzParse checks that Parse and Verify never panic, that Parse accepts only
// the encoder's exact output (so every byte matters), and that Verify agrees
// with the independent verifier in interop_test.go.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.lic"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("-----BEGIN FULFILL LICENSE-----\n-----END FULFILL LICENSE-----\n"))
	f.Add([]byte{})

	pubText, err := os.ReadFile(filepath.Join("testdata", "signing.pub"))
	if err != nil {
		f.Fatal(err)
	}
	pub, err := license.ParsePublicKey(string(pubText))
	if err != nil {
		f.Fatal(err)
	}
	ring, err := license.NewKeyring(pub)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := license.Parse(data)
		if err != nil {
			if !errors.Is(err, license.ErrMalformed) && !errors.Is(err, license.ErrUnsupportedVersion) {
				t.Fatalf("Parse error %v wraps neither ErrMalformed nor ErrUnsupportedVersion", err)
			}
		} else if again := license.EncodeFile(file.KeyID, file.Algorithm, file.RawPayload, file.Signature); !bytes.Equal(again, data) {
			t.Fatalf("Parse accepted a file the encoder would write differently:\n%q\n%q", data, again)
		}

		p, err := ring.Verify(data, now)
		if (p == nil) == (err == nil) {
			t.Fatalf("Verify = %v, %v: want exactly one", p, err)
		}
		got := resultOf(err)
		want, _ := minimalVerify(data, []ed25519.PublicKey{pub}, now)
		if got != want {
			t.Fatalf("Verify says %s (%v), independent verifier says %s", got, err, want)
		}
	})
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, license.ErrMalformed):
		return "malformed"
	case errors.Is(err, license.ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, license.ErrUnsupportedAlgorithm):
		return "unsupported_algorithm"
	case errors.Is(err, license.ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, license.ErrIssuedInFuture):
		return "issued_in_future"
	case errors.Is(err, license.ErrUnsupportedVersion):
		return "unsupported_version"
	}
	return "unexpected: " + err.Error()
}
