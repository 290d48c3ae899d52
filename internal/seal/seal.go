// Package seal encrypts small secrets at rest under a key that the
// database never holds: the key is derived (HKDF-SHA256) from a secret only
// the client has, such as a raw Idempotency-Key or a session cookie, of which
// the database keeps only a hash.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// prefix marks sealed text and its scheme (AES-256-GCM, random 96-bit nonce).
const prefix = "v1:"

func aead(secret, salt []byte, info string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, salt, info, 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext under the key derived from secret, salt and info;
// aad is authenticated, not encrypted (bind the text to where it is stored).
// The result is printable text.
func Seal(secret, salt []byte, info string, plaintext, aad []byte) (string, error) {
	a, err := aead(secret, salt, info)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return prefix + base64.RawStdEncoding.EncodeToString(a.Seal(nonce, nonce, plaintext, aad)), nil
}

// IsSealed reports whether s is the output of Seal.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// Open decrypts the output of Seal with the same secret, salt, info and aad.
func Open(secret, salt []byte, info string, sealed string, aad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, errors.New("seal: not sealed text")
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	a, err := aead(secret, salt, info)
	if err != nil {
		return nil, err
	}
	if len(raw) < a.NonceSize() {
		return nil, errors.New("seal: sealed text too short")
	}
	out, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("seal: open: %w", err)
	}
	return out, nil
}
