package commerce

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

// An instance presents the same license file on every sync, and a seat
// link verified it twice (its throttle names the subscription, then the
// sync itself): the Ed25519 check was an eighth of a seat link's CPU.
// Verification is a function of the file's bytes and the keyring, except
// for the issued-in-the-future check, which depends on the time; so the
// files a keyring verified are kept, by the keyring and a SHA-256 of the
// bytes, and a file found there is only checked against the time again. A
// keyring is rebuilt when the keys change (keys.Store), which starts
// anew. Only files that verified are kept, at most verifiedCap of them.

// verifiedCap bounds the verified license files kept.
const verifiedCap = 4096

type verifiedKey struct {
	ring *license.Keyring
	sum  [sha256.Size]byte
}

var verified = struct {
	sync.Mutex
	m map[verifiedKey]*license.Payload
}{m: map[verifiedKey]*license.Payload{}}

// verifyCached is ring.Verify(data, now), from what it verified before when
// it can.
func verifyCached(ring *license.Keyring, data []byte, now time.Time) (*license.Payload, error) {
	k := verifiedKey{ring: ring, sum: sha256.Sum256(data)}
	verified.Lock()
	p, ok := verified.m[k]
	verified.Unlock()
	if ok {
		if limit := now.Add(license.MaxClockSkew); p.IssuedAt.After(limit) {
			return nil, fmt.Errorf("%w: issued_at %s is more than %v after now (%s); check the system clock",
				license.ErrIssuedInFuture, p.IssuedAt.Format(time.RFC3339), license.MaxClockSkew, now.UTC().Format(time.RFC3339))
		}
		return clonePayload(p), nil
	}
	p, err := ring.Verify(data, now)
	if err != nil {
		return nil, err
	}
	verified.Lock()
	if len(verified.m) >= verifiedCap {
		clear(verified.m)
	}
	verified.m[k] = clonePayload(p)
	verified.Unlock()
	return p, nil
}

func clonePayload(p *license.Payload) *license.Payload {
	c := *p
	c.AddOns = maps.Clone(p.AddOns)
	c.Features = slices.Clone(p.Features)
	c.Limits = maps.Clone(p.Limits)
	return &c
}
