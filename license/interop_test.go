package license_test

// This file is a second, minimal verifier written from FORMAT.md alone. It
// deliberately does not import the license package, so it checks the
// specification (and the vectors in testdata/) rather than the code, and can
// be ported line by line to another language.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// grants is what an "ok" license grants, read as FORMAT.md §8 says.
type grants struct {
	AddOns   map[string]int   `json:"add_ons"`
	Features []string         `json:"features"`
	Limits   map[string]int64 `json:"limits"`
}

// entitled is FORMAT.md §8's rule: a limit decides when the name has one
// (above zero: entitled), else the name must be in features.
func (g grants) entitled(name string) bool {
	if n, ok := g.Limits[name]; ok {
		return n > 0
	}
	for _, f := range g.Features {
		if f == name {
			return true
		}
	}
	return false
}

// minimalVerify follows FORMAT.md "Verifying" step by step and returns the
// result name used in expected.json, and the payload id when "ok".
func minimalVerify(file []byte, trusted []ed25519.PublicKey, now time.Time) (result, payloadID string) {
	result, payloadID, _ = minimalVerifyGrants(file, trusted, now)
	return result, payloadID
}

// minimalVerifyGrants is minimalVerify with what the license grants.
func minimalVerifyGrants(file []byte, trusted []ed25519.PublicKey, now time.Time) (result, payloadID string, g grants) {
	// 1. Armor and wrapping: exact lines, LF only, final LF.
	const begin, end = "-----BEGIN FULFILL LICENSE-----", "-----END FULFILL LICENSE-----"
	text := string(file)
	if !strings.HasSuffix(text, "\n") || strings.Contains(text, "\r") {
		return "malformed", "", g
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != begin || lines[len(lines)-1] != end {
		return "malformed", "", g
	}
	body := lines[1 : len(lines)-1]
	for i, l := range body {
		if len(l) == 0 || len(l) > 64 || (i < len(body)-1 && len(l) != 64) {
			return "malformed", "", g
		}
	}
	// 2. Canonical base64: decode, then re-encoding must give the same text.
	envText := strings.Join(body, "")
	envBytes, ok := canonicalBase64(envText)
	if !ok {
		return "malformed", "", g
	}
	// 3. Envelope: a JSON object with four strings, in canonical form.
	var env struct{ Kid, Alg, Payload, Sig string }
	if err := json.Unmarshal(envBytes, &env); err != nil {
		return "malformed", "", g
	}
	for _, v := range []string{env.Kid, env.Alg, env.Payload, env.Sig} {
		if v == "" || strings.ContainsAny(v, `"\`) || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			return "malformed", "", g
		}
	}
	canonical := `{"kid":"` + env.Kid + `","alg":"` + env.Alg + `","payload":"` + env.Payload + `","sig":"` + env.Sig + `"}`
	if string(envBytes) != canonical {
		return "malformed", "", g
	}
	// 4. payload and sig are canonical base64, whatever the algorithm.
	payload, ok := canonicalBase64(env.Payload)
	if !ok {
		return "malformed", "", g
	}
	sig, ok := canonicalBase64(env.Sig)
	if !ok {
		return "malformed", "", g
	}
	// 5. Algorithm, then key id, then the Ed25519 signature length.
	if env.Alg != "ed25519" {
		return "unsupported_algorithm", "", g
	}
	var pub ed25519.PublicKey
	for _, k := range trusted {
		sum := sha256.Sum256(k)
		if hex.EncodeToString(sum[:8]) == env.Kid {
			pub = k
		}
	}
	if pub == nil {
		return "unknown_key", "", g
	}
	if len(sig) != 64 {
		return "malformed", "", g
	}
	// 6. Signature over the prefix and the payload bytes as received.
	if !ed25519.Verify(pub, append([]byte("fulfill-license-v1\n"), payload...), sig) {
		return "bad_signature", "", g
	}
	// 7. Only now read the payload.
	var p struct {
		ID       string `json:"id"`
		Version  int    `json:"version"`
		IssuedAt string `json:"issued_at"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || json.Unmarshal(payload, &g) != nil {
		return "malformed", "", g
	}
	if p.Version != 1 {
		return "unsupported_version", "", g
	}
	issued, err := time.Parse(time.RFC3339, p.IssuedAt)
	if err != nil {
		return "malformed", "", g
	}
	if issued.After(now.Add(5 * time.Minute)) {
		return "issued_in_future", "", g
	}
	return "ok", p.ID, g
}

// canonicalBase64 decodes standard padded base64 and accepts it only if
// encoding the result gives back the same text, the portable way to reject
// skipped characters and non-zero padding bits.
func canonicalBase64(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

func TestIndependentVerifier(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		PublicKeys []string `json:"public_keys"`
		Cases      []struct {
			File, Now, Result string
			PayloadID         string           `json:"payload_id"`
			AddOns            map[string]int   `json:"add_ons"`
			Entitled          []string         `json:"entitled"`
			NotEntitled       []string         `json:"not_entitled"`
			Limits            map[string]int64 `json:"limits"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	var trusted []ed25519.PublicKey
	for _, s := range set.PublicKeys {
		b, ok := canonicalBase64(strings.TrimPrefix(s, "fulfill-ed25519-public:"))
		if !ok || len(b) != 32 {
			t.Fatalf("bad public key %q", s)
		}
		trusted = append(trusted, b)
	}
	// The private key file holds the seed of the first trusted key.
	keyFile, err := os.ReadFile(filepath.Join("testdata", "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	seed, ok := canonicalBase64(strings.TrimPrefix(string(bytes.TrimSpace(keyFile)), "fulfill-ed25519-private:"))
	if !ok || len(seed) != 32 || !ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey).Equal(trusted[0]) {
		t.Fatal("signing.key is not the seed of the first public key")
	}

	if len(set.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range set.Cases {
		t.Run(c.File, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", c.File))
			if err != nil {
				t.Fatal(err)
			}
			now, err := time.Parse(time.RFC3339, c.Now)
			if err != nil {
				t.Fatal(err)
			}
			result, id, g := minimalVerifyGrants(data, trusted, now)
			if result != c.Result || id != c.PayloadID {
				t.Errorf("got %s %q, want %s %q", result, id, c.Result, c.PayloadID)
			}
			for k, n := range c.AddOns {
				if g.AddOns[k] != n {
					t.Errorf("add_ons[%q] = %d, want %d", k, g.AddOns[k], n)
				}
			}
			for _, n := range c.Entitled {
				if !g.entitled(n) {
					t.Errorf("%q not entitled, want entitled", n)
				}
			}
			for _, n := range c.NotEntitled {
				if g.entitled(n) {
					t.Errorf("%q entitled, want not", n)
				}
			}
			for k, n := range c.Limits {
				if got, ok := g.Limits[k]; !ok || got != n {
					t.Errorf("limit %q = %d (set %v), want %d", k, got, ok, n)
				}
			}
		})
	}
}
