package fulfill

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

var idClock struct {
	sync.Mutex
	last int64
}

// NewID returns an identifier with a readable prefix, "sub_…": a
// microsecond timestamp, so ids sort by creation (lists page by id), then
// random bits. Wall time is right here even under a simulated clock: ids
// order rows, they carry no business meaning.
func NewID(prefix string) string {
	idClock.Lock()
	ts := max(time.Now().UnixMicro(), idClock.last+1)
	idClock.last = ts
	idClock.Unlock()
	var b [15]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ts))
	rand.Read(b[8:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// activationAlphabet leaves out characters people confuse (0/O, 1/I/L, U/V).
const activationAlphabet = "ABCDEFGHJKMNPQRSTWXYZ23456789"

// NewActivationCode returns a 24-character activation code from an
// unambiguous alphabet.
func NewActivationCode() string {
	var b [24]byte
	rand.Read(b[:])
	var s strings.Builder
	for _, c := range b {
		// 29 symbols: the modulo bias is under 1% and harmless here, as the
		// code carries over 110 bits either way.
		s.WriteByte(activationAlphabet[int(c)%len(activationAlphabet)])
	}
	return s.String()
}

type idSeedKey struct{}

type idSeed struct {
	mu   sync.Mutex
	seed string
	n    map[string]int
}

// WithIDSeed makes NewIDFor derive identifiers from seed: a request retried
// with the same Idempotency-Key after a crash gets the same subscription and
// invoice ids, so the payment provider sees the same idempotency key and
// charges once.
func WithIDSeed(ctx context.Context, seed string) context.Context {
	if seed == "" {
		return ctx
	}
	return context.WithValue(ctx, idSeedKey{}, &idSeed{seed: seed, n: map[string]int{}})
}

// NewIDFor returns a new identifier, derived from the context's seed when
// it has one (the nth id of a prefix is always the same), else random.
func NewIDFor(ctx context.Context, prefix string) string {
	s, ok := ctx.Value(idSeedKey{}).(*idSeed)
	if !ok {
		return NewID(prefix)
	}
	s.mu.Lock()
	n := s.n[prefix]
	s.n[prefix]++
	s.mu.Unlock()
	// The seed is itself an id ("req_…"): keep its time part so derived ids
	// still sort by creation, and hash the rest.
	raw, _ := idEncoding.DecodeString(strings.TrimPrefix(s.seed, "req_"))
	var b [15]byte
	copy(b[:8], raw)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d", s.seed, prefix, n)))
	copy(b[8:], sum[:7])
	// Distinct prefixes drawn in one request must still sort after the seed.
	binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(b[:8])+uint64(n))
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}
