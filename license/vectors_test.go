package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/")

// vectorSet is testdata/expected.json: the keys a verifier trusts and, per
// file, the outcome it must reach at the given time.
type vectorSet struct {
	Comment    string       `json:"comment"`
	PublicKeys []string     `json:"public_keys"`
	Cases      []vectorCase `json:"cases"`
}

type vectorCase struct {
	File        string `json:"file"`
	Description string `json:"description"`
	Now         string `json:"now"`    // RFC 3339
	Result      string `json:"result"` // ok, malformed, unknown_key, unsupported_algorithm, bad_signature, issued_in_future
	PayloadID   string `json:"payload_id,omitempty"`
	Seats       int    `json:"seats,omitempty"`
	// What an "ok" license grants (FORMAT.md §8): its add-on quantities,
	// the names Entitled reports true and false for, and its limits.
	AddOns      map[string]int   `json:"add_ons,omitempty"`
	Entitled    []string         `json:"entitled,omitempty"`
	NotEntitled []string         `json:"not_entitled,omitempty"`
	Limits      map[string]int64 `json:"limits,omitempty"`
}

// resultName maps Verify's error to the result names of expected.json.
func resultName(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrMalformed, "malformed"}, {ErrUnknownKey, "unknown_key"},
		{ErrUnsupportedAlgorithm, "unsupported_algorithm"}, {ErrBadSignature, "bad_signature"},
		{ErrIssuedInFuture, "issued_in_future"}, {ErrUnsupportedVersion, "unsupported_version"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

// makeVectors builds every testdata file from fixed keys, so -update is
// reproducible (Ed25519 signatures are deterministic).
func makeVectors(t *testing.T) map[string][]byte {
	t.Helper()
	primary, next, other := testSigner(t, "primary"), testSigner(t, "next"), testSigner(t, "other")
	now := testNow.Format(time.RFC3339)

	valid := mustSign(t, primary, testPayload())
	f, err := Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	trial := testPayload()
	trial.ID, trial.Plan, trial.Trial, trial.Seats = "lic_0002", "ultimate", true, 10
	trial.PreviousUserCount, trial.TrueUpQuantity, trial.TrueUpFrom, trial.TrueUpTo, trial.AddOns = 0, 0, Date{}, Date{}, nil
	future := testPayload()
	future.ID, future.IssuedAt = "lic_0003", testNow.Add(5*time.Minute+time.Second)
	edge := testPayload()
	edge.ID, edge.IssuedAt = "lic_0004", testNow.Add(5*time.Minute)
	// Issue 13, acceptance 3: a plan granting sso and max_projects 100 with
	// the duo-pro add-on granting max_projects 500, as the server resolves it.
	ents := testPayload()
	ents.ID, ents.Plan, ents.Seats, ents.AddOns = "lic_0005", "sm-premium", 50, map[string]int{"duo-pro": 20}
	ents.Features, ents.Limits = []string{"sso"}, map[string]int64{"max_projects": 500, "max_runners": 0}

	files := map[string][]byte{
		"signing.key":           MarshalPrivateKey(primary.PrivateKey()),
		"signing.pub":           []byte(MarshalPublicKey(primary.PublicKey()) + "\n"),
		"valid.lic":             valid,
		"valid_next_key.lic":    mustSign(t, next, trial),
		"future.lic":            mustSign(t, primary, future),
		"future_edge.lic":       mustSign(t, primary, edge),
		"entitlements.lic":      mustSign(t, primary, ents),
		"unknown_key.lic":       mustSign(t, other, testPayload()),
		"tampered_payload.lic":  encodeFile(f.KeyID, f.Algorithm, bytes.Replace(f.RawPayload, []byte(`"seats":100`), []byte(`"seats":900`), 1), f.Signature),
		"tampered_sig.lic":      encodeFile(f.KeyID, f.Algorithm, f.RawPayload, append(f.Signature[:63:63], f.Signature[63]^1)),
		"bad_alg.lic":           encodeFile(f.KeyID, "rsa-pss-sha256", f.RawPayload, f.Signature),
		"tampered_armor.lic":    bytes.Replace(valid, []byte("BEGIN FULFILL"), []byte("BEGIN FULFILl"), 1),
		"tampered_wrapping.lic": joinFirstBodyLines(valid),
	}
	ok := func(file, desc, id string, seats int) vectorCase {
		return vectorCase{File: file, Description: desc, Now: now, Result: "ok", PayloadID: id, Seats: seats}
	}
	bad := func(file, desc, result string) vectorCase {
		return vectorCase{File: file, Description: desc, Now: now, Result: result}
	}
	set := vectorSet{
		Comment:    "Test vectors for FORMAT.md. Trust public_keys, verify each file at now, expect result. signing.key is the private key of the first public key.",
		PublicKeys: []string{MarshalPublicKey(primary.PublicKey()), MarshalPublicKey(next.PublicKey())},
		Cases: []vectorCase{
			ok("valid.lic", "signed by the first trusted key", "lic_0001", 100),
			ok("valid_next_key.lic", "trial signed by the second trusted key (rotation)", "lic_0002", 10),
			ok("future_edge.lic", "issued_at exactly 5 minutes after now: accepted", "lic_0004", 100),
			{File: "entitlements.lic", Description: "add-on duo-pro 20; flag sso; limits max_projects 500 (plan's 100, add-on's 500: the larger) and max_runners 0",
				Now: now, Result: "ok", PayloadID: "lic_0005", Seats: 50, AddOns: map[string]int{"duo-pro": 20},
				Entitled: []string{"sso", "max_projects"}, NotEntitled: []string{"max_runners", "audit_events"},
				Limits: map[string]int64{"max_projects": 500, "max_runners": 0}},
			bad("future.lic", "issued_at 5 minutes 1 second after now", "issued_in_future"),
			bad("unknown_key.lic", "valid signature by a key that is not trusted", "unknown_key"),
			bad("tampered_payload.lic", `valid.lic with "seats":100 changed to 900 in the payload`, "bad_signature"),
			bad("tampered_sig.lic", "valid.lic with one bit of the signature flipped", "bad_signature"),
			bad("bad_alg.lic", `valid.lic with alg "rsa-pss-sha256"`, "unsupported_algorithm"),
			bad("tampered_armor.lic", "valid.lic with one letter of the BEGIN line changed", "malformed"),
			bad("tampered_wrapping.lic", "valid.lic with the first two body lines joined into one of 128 characters", "malformed"),
		},
	}
	exp, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files["expected.json"] = append(exp, '\n')
	return files
}

// TestVectors keeps testdata/ in step with the code (run with -update to
// rewrite it) and checks each vector with this package's Verify.
func TestVectors(t *testing.T) {
	files := makeVectors(t)
	for name, want := range files {
		path := filepath.Join("testdata", name)
		if *update {
			mode := os.FileMode(0o644)
			if filepath.Ext(name) == ".key" {
				mode = 0o600
			}
			if err := os.WriteFile(path, want, mode); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestVectors -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the code produces (run go test -run TestVectors -update)", path)
		}
	}

	var set vectorSet
	if err := json.Unmarshal(files["expected.json"], &set); err != nil {
		t.Fatal(err)
	}
	var ring Keyring
	for _, s := range set.PublicKeys {
		pub, err := ParsePublicKey(s)
		if err != nil {
			t.Fatal(err)
		}
		ring.Add(pub)
	}
	priv, err := ParsePrivateKey(files["signing.key"])
	if err != nil || !priv.Public().(ed25519.PublicKey).Equal(mustParsePub(t, string(files["signing.pub"]))) {
		t.Fatalf("signing.key does not match signing.pub: %v", err)
	}
	for _, c := range set.Cases {
		t.Run(c.File, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, c.Now)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ring.Verify(files[c.File], now)
			if got := resultName(err); got != c.Result {
				t.Fatalf("Verify: %s (%v), want %s", got, err, c.Result)
			}
			if err == nil && (p.ID != c.PayloadID || p.Seats != c.Seats) {
				t.Errorf("payload id %q seats %d, want %q %d", p.ID, p.Seats, c.PayloadID, c.Seats)
			}
			if err == nil {
				checkGrants(t, p, c)
			}
		})
	}
}

func mustParsePub(t *testing.T, s string) ed25519.PublicKey {
	t.Helper()
	pub, err := ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// joinFirstBodyLines removes the line break after the first body line: the
// base64 is unchanged, only the wrapping differs.
func joinFirstBodyLines(file []byte) []byte {
	i := len(armorBegin) + lineLen
	if file[i] != '\n' {
		panic("unexpected layout")
	}
	return append(file[:i:i], file[i+1:]...)
}

// checkGrants holds a verified payload to what its case says it grants.
func checkGrants(t *testing.T, p *Payload, c vectorCase) {
	t.Helper()
	if c.AddOns != nil && !maps.Equal(p.AddOns, c.AddOns) {
		t.Errorf("add_ons %v, want %v", p.AddOns, c.AddOns)
	}
	for _, n := range c.Entitled {
		if !p.Entitled(n) {
			t.Errorf("Entitled(%q) = false, want true", n)
		}
	}
	for _, n := range c.NotEntitled {
		if p.Entitled(n) {
			t.Errorf("Entitled(%q) = true, want false", n)
		}
	}
	for n, want := range c.Limits {
		if got, ok := p.Limit(n); !ok || got != want {
			t.Errorf("Limit(%q) = %d, %v; want %d, true", n, got, ok, want)
		}
	}
	if _, ok := p.Limit("no_such_limit"); ok {
		t.Error(`Limit("no_such_limit") reports a limit`)
	}
}
