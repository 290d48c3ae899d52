package commerce

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

// Issue 18: a license file a keyring verified is kept, so the next sync
// presenting it is not verified again; a kept one is still refused once it
// counts as issued in the future, callers get copies, and a file that does
// not verify is not kept.
func TestVerifiedLicenseFilesAreKept(t *testing.T) {
	t.Parallel()
	signer, err := license.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := license.NewKeyring(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	data, err := signer.Sign(license.Payload{Version: license.PayloadVersion, ID: "lic_kept", Plan: "premium", Seats: 10,
		SubscriptionID: "sub_kept", StartsAt: license.DateOf(now), ExpiresAt: license.DateOf(now.AddDate(1, 0, 0)), IssuedAt: now,
		AddOns: map[string]int{"duo": 2}})
	if err != nil {
		t.Fatal(err)
	}
	key := verifiedKey{ring: ring, sum: sha256.Sum256(data)}
	p, err := verifyCached(ring, data, now)
	if err != nil || p.SubscriptionID != "sub_kept" {
		t.Fatalf("first verification: %+v, %v", p, err)
	}
	verified.Lock()
	_, kept := verified.m[key]
	verified.Unlock()
	if !kept {
		t.Fatal("a verified file is not kept")
	}
	p.AddOns["duo"] = 99 // a caller's copy
	again, err := verifyCached(ring, data, now)
	if err != nil || again.AddOns["duo"] != 2 {
		t.Fatalf("second verification: %+v, %v; want the file's 2 duo seats", again, err)
	}
	if _, err := verifyCached(ring, data, now.Add(-time.Hour)); !errors.Is(err, license.ErrIssuedInFuture) {
		t.Errorf("a kept file an hour before its issue: %v, want ErrIssuedInFuture", err)
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 1
	if _, err := verifyCached(ring, bad, now); err == nil {
		t.Fatal("a changed file verified")
	}
	verified.Lock()
	_, kept = verified.m[verifiedKey{ring: ring, sum: sha256.Sum256(bad)}]
	verified.Unlock()
	if kept {
		t.Error("a file that did not verify is kept")
	}
}
