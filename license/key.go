package license

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// Text forms of keys. The seed, not the 64-byte private key, is stored,
// because the seed is the canonical form and cannot disagree with a stored
// public half.
const (
	privateKeyPrefix = "fulfill-ed25519-private:"
	publicKeyPrefix  = "fulfill-ed25519-public:"
)

// KeyID returns the key id of pub: the first 16 hex characters (8 bytes) of
// the SHA-256 of the 32-byte public key. Every license names the id of the
// key that signed it, so a product can trust several keys during rotation.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs licenses with one Ed25519 private key. It is safe for
// concurrent use.
type Signer struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	kid  string
}

// GenerateKey returns a Signer for a new key read from rand (use
// crypto/rand.Reader; nil also means crypto/rand).
func GenerateKey(rand io.Reader) (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("license: generate key: %w", err)
	}
	return NewSigner(priv), nil
}

// NewSigner returns a Signer for priv. Like crypto/ed25519, it panics if priv
// is not ed25519.PrivateKeySize bytes long.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	if len(priv) != ed25519.PrivateKeySize {
		panic("license: bad private key length")
	}
	priv = slices.Clone(priv)
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{priv: priv, pub: pub, kid: KeyID(pub)}
}

// KeyID returns the id of the signer's public key.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the public key that verifies the signer's licenses.
func (s *Signer) PublicKey() ed25519.PublicKey { return slices.Clone(s.pub) }

// PrivateKey returns the private key, for storing with MarshalPrivateKey.
func (s *Signer) PrivateKey() ed25519.PrivateKey { return slices.Clone(s.priv) }

// MarshalPrivateKey returns the file form of priv:
// "fulfill-ed25519-private:" + base64 (standard, padded) of the 32-byte
// seed + "\n". Store it with mode 0600; it never belongs in a database or log.
func MarshalPrivateKey(priv ed25519.PrivateKey) []byte {
	seed := priv.Seed()
	b := make([]byte, 0, len(privateKeyPrefix)+base64.StdEncoding.EncodedLen(len(seed))+1)
	b = append(b, privateKeyPrefix...)
	b = base64.StdEncoding.AppendEncode(b, seed)
	return append(b, '\n')
}

// ParsePrivateKey reads the form written by MarshalPrivateKey. Surrounding
// white space is ignored, as key files are often edited by hand.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(data), []byte(privateKeyPrefix))
	if !ok {
		return nil, errors.New("license: private key: missing " + privateKeyPrefix + " prefix")
	}
	seed, err := decodeKeyBytes(rest, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("license: private key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// MarshalPublicKey returns the text form of pub:
// "fulfill-ed25519-public:" + base64 (standard, padded) of the 32 bytes. It is
// a string because it is meant to be pasted into a product's source or config.
func MarshalPublicKey(pub ed25519.PublicKey) string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads the form written by MarshalPublicKey. Surrounding white
// space is ignored.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), publicKeyPrefix)
	if !ok {
		return nil, errors.New("license: public key: missing " + publicKeyPrefix + " prefix")
	}
	b, err := decodeKeyBytes([]byte(rest), ed25519.PublicKeySize)
	if err != nil {
		return nil, fmt.Errorf("license: public key: %w", err)
	}
	return ed25519.PublicKey(b), nil
}

func decodeKeyBytes(b64 []byte, size int) ([]byte, error) {
	if bytes.ContainsAny(b64, "\r\n") { // the decoder would skip them silently
		return nil, errors.New("line break inside key")
	}
	b, err := base64.StdEncoding.Strict().AppendDecode(nil, b64)
	if err != nil {
		return nil, fmt.Errorf("bad base64: %w", err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return b, nil
}

// Keyring is the set of public keys a product trusts, by key id. Holding
// several at once lets the server rotate its signing key without breaking
// licenses already issued. The zero Keyring is empty and ready to use; a
// Keyring is safe for concurrent use.
type Keyring struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey
}

// NewKeyring returns a Keyring trusting keys.
func NewKeyring(keys ...ed25519.PublicKey) (*Keyring, error) {
	k := &Keyring{keys: make(map[string]ed25519.PublicKey, len(keys))}
	for _, pub := range keys {
		if _, err := k.Add(pub); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Add trusts pub and returns its key id. Adding a key twice is harmless.
func (k *Keyring) Add(pub ed25519.PublicKey) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("license: public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	kid := KeyID(pub)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[string]ed25519.PublicKey)
	}
	k.keys[kid] = slices.Clone(pub)
	return kid, nil
}

// Remove stops trusting the key with id kid, so licenses it signed fail with
// ErrUnknownKey. It reports whether the key was present.
func (k *Keyring) Remove(kid string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.keys[kid]
	delete(k.keys, kid)
	return ok
}

// KeyIDs returns the ids of the trusted keys, sorted.
func (k *Keyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for kid := range k.keys {
		ids = append(ids, kid)
	}
	slices.Sort(ids)
	return ids
}

func (k *Keyring) lookup(kid []byte) (ed25519.PublicKey, bool) {
	k.mu.RLock()
	pub, ok := k.keys[string(kid)] // no allocation for a map index
	k.mu.RUnlock()
	return pub, ok
}
