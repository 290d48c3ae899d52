package license_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

func Example() {
	// Server side: the signing key normally comes from a 0600 file via
	// license.ParsePrivateKey; a fixed seed keeps this example repeatable.
	seed := sha256.Sum256([]byte("example"))
	signer := license.NewSigner(ed25519.NewKeyFromSeed(seed[:]))
	file, err := signer.Sign(license.Payload{
		ID:        "lic_42",
		Licensee:  license.Licensee{Name: "Grace Hopper", Company: "Navy", Email: "grace@example.com"},
		Plan:      "premium",
		Seats:     100,
		StartsAt:  license.NewDate(2025, 1, 1),
		ExpiresAt: license.NewDate(2026, 1, 1),
		IssuedAt:  time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}

	// Product side: the public key text is compiled in.
	pubText := license.MarshalPublicKey(signer.PublicKey())
	pub, err := license.ParsePublicKey(pubText)
	if err != nil {
		panic(err)
	}
	ring, err := license.NewKeyring(pub)
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 12, 20, 8, 0, 0, 0, time.UTC)
	p, err := ring.Verify(file, now)
	if err != nil {
		panic(err)
	}
	st := p.Check(now, 111, 0)
	fmt.Println(p.Licensee.Company, p.Plan, p.Seats)
	fmt.Println(st.State, "notify admins:", st.NotifyAdmins, "days left:", st.DaysLeft, "seat limit:", st.SeatLimit)

	// Any change to the file is refused.
	file[100] ^= 1
	_, err = ring.Verify(file, now)
	fmt.Println(errors.Is(err, license.ErrMalformed) || errors.Is(err, license.ErrBadSignature))
	// Output:
	// Navy premium 100
	// over_seats notify admins: true days left: 12 seat limit: 110
	// true
}
