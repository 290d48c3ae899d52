package license

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
)

// appendPayload appends the JSON form of p: byte for byte what
// json.Marshal(p) writes (field order, HTML-safe string escapes, sorted
// add_ons keys, omitempty), without reflection. It reports false, having
// appended an unspecified prefix, when p holds something only encoding/json
// should decide about (an issued_at outside the years 0-9999, which
// json.Marshal refuses); the caller then falls back to json.Marshal.
// TestAppendPayloadMatchesJSON holds it to encoding/json's output.
func appendPayload(b []byte, p *Payload) ([]byte, bool) {
	if len(p.Entitlements) > 0 {
		return b, false // any values: left to encoding/json
	}
	b = append(b, `{"id":`...)
	b = appendString(b, p.ID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(p.Version), 10)
	b = append(b, `,"licensee":{"name":`...)
	b = appendString(b, p.Licensee.Name)
	b = append(b, `,"company":`...)
	b = appendString(b, p.Licensee.Company)
	b = append(b, `,"email":`...)
	b = appendString(b, p.Licensee.Email)
	b = append(b, `},"plan":`...)
	b = appendString(b, p.Plan)
	b = append(b, `,"seats":`...)
	b = strconv.AppendInt(b, int64(p.Seats), 10)
	b = append(b, `,"previous_user_count":`...)
	b = strconv.AppendInt(b, int64(p.PreviousUserCount), 10)
	b = append(b, `,"trueup_quantity":`...)
	b = strconv.AppendInt(b, int64(p.TrueUpQuantity), 10)
	b = append(b, `,"trueup_from":`...)
	b = appendDate(b, p.TrueUpFrom)
	b = append(b, `,"trueup_to":`...)
	b = appendDate(b, p.TrueUpTo)
	b = append(b, `,"starts_at":`...)
	b = appendDate(b, p.StartsAt)
	b = append(b, `,"expires_at":`...)
	b = appendDate(b, p.ExpiresAt)
	b = append(b, `,"notify_admins_at":`...)
	b = appendDate(b, p.NotifyAdminsAt)
	b = append(b, `,"notify_users_at":`...)
	b = appendDate(b, p.NotifyUsersAt)
	b = append(b, `,"block_changes_at":`...)
	b = appendDate(b, p.BlockChangesAt)
	b = append(b, `,"issued_at":`...)
	b, ok := appendTime(b, p.IssuedAt)
	if !ok {
		return b, false
	}
	b = append(b, `,"subscription_id":`...)
	b = appendString(b, p.SubscriptionID)
	if len(p.AddOns) > 0 { // omitempty
		b = append(b, `,"add_ons":{`...)
		var arr [8]string
		keys := arr[:0]
		for k := range p.AddOns {
			keys = append(keys, k)
		}
		slices.Sort(keys) // encoding/json sorts map keys bytewise
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(p.AddOns[k]), 10)
		}
		b = append(b, '}')
	}
	b = append(b, `,"trial":`...)
	b = strconv.AppendBool(b, p.Trial)
	b = append(b, `,"cloud_licensing":`...)
	b = strconv.AppendBool(b, p.CloudLicensing)
	b = append(b, `,"offline_cloud_licensing":`...)
	b = strconv.AppendBool(b, p.OfflineCloudLicensing)
	b = append(b, `,"auto_renew":`...)
	b = strconv.AppendBool(b, p.AutoRenew)
	b = append(b, `,"seat_reconciliation":`...)
	b = strconv.AppendBool(b, p.SeatReconciliation)
	if p.SubscriptionName != "" { // omitempty, as the four below
		b = append(b, `,"subscription_name":`...)
		b = appendString(b, p.SubscriptionName)
	}
	if p.TrueUpPeriodSeatCount != 0 {
		b = append(b, `,"trueup_period_seat_count":`...)
		b = strconv.AppendInt(b, int64(p.TrueUpPeriodSeatCount), 10)
	}
	if p.ReconciliationCompleted {
		b = append(b, `,"reconciliation_completed":true`...)
	}
	if p.GeneratedFromCancellation {
		b = append(b, `,"generated_from_cancellation":true`...)
	}
	return append(b, '}'), true
}

// appendString appends s as a JSON string. Printable ASCII without '"', '\'
// and the HTML characters '<', '>', '&' is written as is; anything else goes
// through encoding/json so that escapes, invalid UTF-8 and U+2028/U+2029 come
// out exactly as json.Marshal writes them.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendDate appends d as Date.MarshalJSON writes it.
func appendDate(b []byte, d Date) []byte {
	if d.IsZero() {
		return append(b, `""`...)
	}
	if !d.valid() {
		// Not normalised (e.g. month 13) or a year without 4 digits: let
		// MarshalJSON normalise and format it; it never fails.
		q, _ := d.MarshalJSON()
		return append(b, q...)
	}
	b = append(b, '"')
	b = append4(b, d.Year)
	b = append(b, '-')
	b = append2(b, int(d.Month))
	b = append(b, '-')
	b = append2(b, d.Day)
	return append(b, '"')
}

// appendTime appends t, which Sign has put in UTC and truncated to the
// second, as time.Time.MarshalJSON writes it ("2006-01-02T15:04:05Z"). It
// reports false for anything else, which time.Time.MarshalJSON handles (or
// refuses).
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if t.Location() != time.UTC || t.Nanosecond() != 0 {
		return b, false
	}
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return b, false
	}
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = append4(b, year)
	b = append(b, '-')
	b = append2(b, int(month))
	b = append(b, '-')
	b = append2(b, day)
	b = append(b, 'T')
	b = append2(b, hour)
	b = append(b, ':')
	b = append2(b, minute)
	b = append(b, ':')
	b = append2(b, sec)
	return append(b, `Z"`...), true
}

// append4 and append2 write a non-negative n zero-padded to 4 and 2 digits;
// n is below 10000 and 100.
func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// bufPool holds scratch buffers for Sign (message and envelope) and Verify
// (decoded envelope and message). Nothing handed to a caller aliases them.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBuf keeps an unusually large license from pinning its buffer.
const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte, b []byte) {
	if cap(b) > maxPooledBuf {
		return
	}
	*bp = b[:0]
	bufPool.Put(bp)
}

// b64Pairs maps 12 bits to their two base64 characters (first in the low
// byte), so b64Encode looks up one table entry per two characters where
// encoding/base64 uses one per character: base64 encoding is the largest cost
// of Sign after Ed25519.
var b64Pairs = func() (t [1 << 12]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = uint16(alphabet[i>>6]) | uint16(alphabet[i&0x3f])<<8
	}
	return t
}()

// b64Encode writes the standard, padded base64 of src to dst, which is at
// least b64.EncodedLen(len(src)) long; the output equals b64.Encode's
// (TestB64Encode).
func b64Encode(dst, src []byte) {
	di, si := 0, 0
	// 6 bytes to 8 characters, reading 8 bytes at a time while they exist.
	for ; len(src)-si >= 8; si, di = si+6, di+8 {
		v := binary.BigEndian.Uint64(src[si:])
		binary.LittleEndian.PutUint64(dst[di:], uint64(b64Pairs[v>>52])|uint64(b64Pairs[v>>40&0xfff])<<16|
			uint64(b64Pairs[v>>28&0xfff])<<32|uint64(b64Pairs[v>>16&0xfff])<<48)
	}
	for ; len(src)-si >= 3; si, di = si+3, di+4 {
		v := uint(src[si])<<16 | uint(src[si+1])<<8 | uint(src[si+2])
		binary.LittleEndian.PutUint32(dst[di:], uint32(b64Pairs[v>>12])|uint32(b64Pairs[v&0xfff])<<16)
	}
	switch len(src) - si {
	case 1:
		v := uint32(b64Pairs[uint(src[si])<<4])
		binary.LittleEndian.PutUint32(dst[di:], v|'='<<16|'='<<24)
	case 2:
		v := uint(src[si])<<8 | uint(src[si+1])
		binary.LittleEndian.PutUint32(dst[di:], uint32(b64Pairs[v>>4])|uint32(b64Pairs[(v&0xf)<<8]&0xff)<<16|'='<<24)
	}
}
