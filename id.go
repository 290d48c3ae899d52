package fulfill

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
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
