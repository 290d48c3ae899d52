// Package license reads, signs and verifies the license files issued by the
// fulfillment server, and applies GitLab's license rules (seat tolerance,
// expiry notices, grace period, read-only mode) to a verified payload.
//
// It is meant to be embedded in a vendor's product, so it uses the standard
// library only and works offline: the product ships one or more trusted public
// keys and checks a file with [Keyring.Verify], then asks [Payload.Check] what
// to show or enforce today.
//
// A license file is an armored block of base64 around a small JSON envelope
// holding the key id, the algorithm, the exact payload bytes and an Ed25519
// signature over "fulfill-license-v1\n" followed by those bytes. FORMAT.md in
// this directory specifies it precisely enough to write a verifier in another
// language; testdata/ holds vectors to test one against.
//
// Parsing is strict: the encoder has exactly one output for a given envelope
// and the parser accepts nothing else, so every byte of a file matters and any
// change is reported as [ErrMalformed] or [ErrBadSignature].
//
// Typical use in a product:
//
//	pub, err := license.ParsePublicKey(vendorPublicKey) // compiled into the product
//	...
//	ring, err := license.NewKeyring(pub)
//	...
//	p, err := ring.Verify(fileBytes, clock.Now())
//	if err != nil {
//		return err // errors.Is(err, license.ErrBadSignature) etc.
//	}
//	st := p.Check(clock.Now(), billableUsers, historicalMax)
//	if st.Blocked {
//		enterReadOnlyMode()
//	}
package license
