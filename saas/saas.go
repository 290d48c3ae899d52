// Package saas is the contract between Fulfill and a vendor's SaaS product:
// the provisioning request Fulfill sends to POST {base}/fulfill/provision,
// and the short-lived token that authenticates it, a JWT signed with
// Ed25519 (alg EdDSA) by the license signing key and verified against the
// JWKS Fulfill publishes at /.well-known/jwks.json. Standard library only.
package saas

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Audience is the aud claim of provisioning tokens.
const Audience = "saas-provisioning"

// Issuer is the iss claim of provisioning tokens.
const Issuer = "fulfill"

// TokenLifetime is how long a provisioning token is valid.
const TokenLifetime = 5 * time.Minute

// ProvisionPath is the product's endpoint, relative to its base URL.
const ProvisionPath = "/fulfill/provision"

// Request is what the product must apply to a namespace: the whole current
// entitlement (not a delta), so applying it twice is harmless and the newest
// request wins.
type Request struct {
	Namespace      string         `json:"namespace"`
	Plan           string         `json:"plan"`
	Seats          int64          `json:"seats"`
	StartsOn       string         `json:"starts_on"`
	EndsOn         string         `json:"ends_on"`
	State          string         `json:"state"`
	AddOns         map[string]int `json:"add_ons"`
	SubscriptionID string         `json:"subscription_id"`
	EventID        string         `json:"event_id"`
}

// Claims are the JWT claims of a provisioning token.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	ID        string `json:"jti"`
}

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

var b64 = base64.RawURLEncoding

// SignToken returns a compact JWT: header {"alg":"EdDSA","typ":"JWT","kid"},
// the claims, and the Ed25519 signature of the first two parts.
func SignToken(priv ed25519.PrivateKey, kid string, c Claims) (string, error) {
	h, err := json.Marshal(header{Alg: "EdDSA", Typ: "JWT", Kid: kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	return signing + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(signing))), nil
}

// NewClaims returns the claims of a token issued at now for one request.
func NewClaims(now time.Time, id string) Claims {
	return Claims{Issuer: Issuer, Subject: "fulfill-provisioning", Audience: Audience,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(TokenLifetime).Unix(), ID: id}
}

// JWK is one public key in a JWKS (RFC 8037: kty OKP, crv Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// NewJWK describes an Ed25519 public key.
func NewJWK(kid string, pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pub), Kid: kid, Alg: "EdDSA", Use: "sig"}
}

// Key returns the key with this id.
func (s JWKS) Key(kid string) (ed25519.PublicKey, bool) {
	for _, k := range s.Keys {
		if k.Kid != kid || k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		b, err := b64.DecodeString(k.X)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, false
		}
		return ed25519.PublicKey(b), true
	}
	return nil, false
}

// Errors of VerifyToken.
var (
	ErrMalformedToken = errors.New("saas: malformed token")
	ErrUnknownKey     = errors.New("saas: token signed by an unknown key")
	ErrBadSignature   = errors.New("saas: token signature does not verify")
	ErrExpired        = errors.New("saas: token expired or not yet valid")
	ErrAudience       = errors.New("saas: token has the wrong audience")
)

// KeyID returns the kid of a token without verifying it, to pick the key.
func KeyID(token string) (string, error) {
	h, _, _, err := split(token)
	if err != nil {
		return "", err
	}
	return h.Kid, nil
}

func split(token string) (header, []byte, []byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return header{}, nil, nil, ErrMalformedToken
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return header{}, nil, nil, ErrMalformedToken
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return header{}, nil, nil, ErrMalformedToken
	}
	return h, pb, sig, nil
}

// VerifyToken checks a provisioning token against a key set: algorithm
// EdDSA only, a known kid, a valid signature, aud, and the time window
// (with one minute of clock skew allowed).
func VerifyToken(token string, keys JWKS, now time.Time) (*Claims, error) {
	h, payload, sig, err := split(token)
	if err != nil {
		return nil, err
	}
	if h.Alg != "EdDSA" {
		return nil, fmt.Errorf("%w: alg %q", ErrMalformedToken, h.Alg)
	}
	pub, ok := keys.Key(h.Kid)
	if !ok {
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, h.Kid)
	}
	signing := token[:strings.LastIndexByte(token, '.')]
	if !ed25519.Verify(pub, []byte(signing), sig) {
		return nil, ErrBadSignature
	}
	var c Claims
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&c); err != nil {
		return nil, ErrMalformedToken
	}
	if c.Audience != Audience {
		return nil, ErrAudience
	}
	const skew = 60
	if n := now.Unix(); n+skew < c.NotBefore || n-skew >= c.Expires {
		return nil, ErrExpired
	}
	return &c, nil
}
