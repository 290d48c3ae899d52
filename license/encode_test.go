package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestB64Encode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		for range 5 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			want := b64.EncodeToString(src)
			got := make([]byte, b64.EncodedLen(n))
			b64Encode(got, src)
			if string(got) != want {
				t.Fatalf("b64Encode(%x) = %q, want %q", src, got, want)
			}
		}
	}
}

// randPayload returns a payload exercising what appendPayload must write
// exactly as encoding/json does: escapes, HTML characters, invalid UTF-8,
// U+2028, extreme integers, unset, unnormalised and far dates, add-on maps of
// every size.
func randPayload(r *rand.Rand) Payload {
	strs := []string{"", "a", "lic_0001", "Ada Lovelace", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\tnl\n\r\b\f\x00\x1f\x7f",
		"Zoë 😀", "bad\xffutf8\xc3", "line\u2028sep\u2029", "ünïcödé", strings.Repeat("x", 70), "\u00e9\ufffd"}
	str := func() string {
		if r.IntN(3) == 0 {
			b := make([]byte, r.IntN(12))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			return string(b)
		}
		return strs[r.IntN(len(strs))]
	}
	ints := []int{0, 1, -1, 9, 10, 100, 12345, math.MaxInt, math.MinInt, -42}
	num := func() int {
		if r.IntN(2) == 0 {
			return int(r.Int64()) >> r.IntN(64)
		}
		return ints[r.IntN(len(ints))]
	}
	date := func() Date {
		switch r.IntN(6) {
		case 0:
			return Date{}
		case 1: // not normalised, or years without 4 digits
			return Date{r.IntN(30000) - 10000, time.Month(r.IntN(30) - 5), r.IntN(80) - 10}
		default:
			return NewDate(r.IntN(10000), time.Month(1+r.IntN(12)), 1+r.IntN(31))
		}
	}
	var addOns map[string]int
	switch k := r.IntN(4); k {
	case 0:
	case 1:
		addOns = map[string]int{}
	default:
		addOns = map[string]int{}
		for range r.IntN(12) {
			addOns[str()] = num()
		}
	}
	var features []string
	var limits map[string]int64
	if r.IntN(3) > 0 {
		for range r.IntN(4) {
			features = append(features, str())
		}
		limits = map[string]int64{}
		for range r.IntN(4) {
			limits[str()] = r.Int64() - r.Int64()
		}
	}
	issued := time.Date(r.IntN(10000), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
	return Payload{
		ID: str(), Version: num(), Licensee: Licensee{str(), str(), str()}, Plan: str(),
		Seats: num(), PreviousUserCount: num(), TrueUpQuantity: num(),
		TrueUpFrom: date(), TrueUpTo: date(), StartsAt: date(), ExpiresAt: date(),
		NotifyAdminsAt: date(), NotifyUsersAt: date(), BlockChangesAt: date(),
		IssuedAt: issued, SubscriptionID: str(), AddOns: addOns,
		Trial: r.IntN(2) == 0, CloudLicensing: r.IntN(2) == 0, OfflineCloudLicensing: r.IntN(2) == 0,
		AutoRenew: r.IntN(2) == 0, SeatReconciliation: r.IntN(2) == 0,
		SubscriptionName: str(), TrueUpPeriodSeatCount: num(), ReconciliationCompleted: r.IntN(2) == 0,
		GeneratedFromCancellation: r.IntN(2) == 0, Features: features, Limits: limits,
	}
}

// TestAppendPayloadMatchesJSON: Sign's hand-written encoder writes exactly
// json.Marshal's bytes, so signatures do not depend on which one ran.
func TestAppendPayloadMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ps := []Payload{testPayload(), {}, {IssuedAt: time.Date(2025, 1, 1, 9, 30, 0, 0, time.UTC)}}
	for range 20000 {
		ps = append(ps, randPayload(r))
	}
	for _, p := range ps {
		want, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendPayload([]byte("prefix"), &p)
		if !ok || !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("appendPayload (ok=%v):\n%s\njson.Marshal:\n%s", ok, got, want)
		}
	}
	// Times outside what appendTime writes are left to encoding/json.
	for _, tm := range []time.Time{
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)),
	} {
		if _, ok := appendPayload(nil, &Payload{IssuedAt: tm}); ok {
			t.Errorf("appendPayload accepted issued_at %v", tm)
		}
	}
}

// TestSignMatchesJSON: Sign's output equals that of the encoding/json path,
// including the error for an issued_at json.Marshal refuses.
func TestSignMatchesJSON(t *testing.T) {
	s := testSigner(t, "primary")
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		p := randPayload(r)
		p.Version = PayloadVersion
		got, err := s.Sign(p)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		sig := ed25519.Sign(s.priv, append([]byte(signingPrefix), payload...))
		if want := encodeFile(s.KeyID(), AlgEd25519, payload, sig); !bytes.Equal(got, want) {
			t.Fatalf("Sign:\n%s\nwant:\n%s", got, want)
		}
	}
	_, err := s.Sign(Payload{IssuedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || !strings.HasPrefix(err.Error(), "license: sign: json: ") {
		t.Fatalf("Sign of year 10000 = %v, want encoding/json's error", err)
	}
}

// TestParseUTCSeconds: the fast issued_at parser agrees with
// time.Time.UnmarshalText wherever it accepts.
func TestParseUTCSeconds(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 100000 {
		s := []byte("2025-01-01T09:30:00Z")
		if i > 0 {
			for range 1 + r.IntN(3) {
				s[r.IntN(len(s))] = "0123456789-:TZtz 9"[r.IntN(18)]
			}
		}
		got, ok := parseUTCSeconds(string(s))
		var want time.Time
		err := want.UnmarshalText(s)
		if ok && (err != nil || got != want) {
			t.Fatalf("parseUTCSeconds(%q) = %v; UnmarshalText = %v, %v", s, got, want, err)
		}
		if !ok && err == nil && s[19] == 'Z' && s[10] == 'T' {
			t.Errorf("parseUTCSeconds(%q) refused what UnmarshalText reads as %v", s, want)
		}
	}
}

// decodeArmorReference is the straightforward decoding: check the layout,
// then decode the whole text, line breaks and all, with encoding/base64.
func decodeArmorReference(data []byte) ([]byte, bool) {
	body, ok := bytes.CutPrefix(data, []byte(armorBegin))
	if !ok {
		return nil, false
	}
	if body, ok = bytes.CutSuffix(body, []byte(armorEnd)); !ok || len(body) == 0 || bytes.IndexByte(body, '\r') >= 0 {
		return nil, false
	}
	enc := body
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		if i <= 0 || i > lineLen || (i != lineLen && i+1 != len(body)) {
			return nil, false
		}
		body = body[i+1:]
	}
	raw, err := b64.AppendDecode(nil, enc)
	return raw, err == nil
}

// TestDecodeArmor: the line-by-line decoder (fast path and error path)
// agrees with decodeArmorReference on mutated files.
func TestDecodeArmor(t *testing.T) {
	s := testSigner(t, "primary")
	r := rand.New(rand.NewPCG(9, 10))
	var seeds [][]byte
	for _, n := range []int{0, 1, 2, 3, 20, 45, 46, 47, 48, 49, 200} {
		p := testPayload()
		p.ID = strings.Repeat("x", n)
		seeds = append(seeds, mustSign(t, s, p))
	}
	for i := range 50000 {
		data := bytes.Clone(seeds[i%len(seeds)])
		body := len(armorBegin) + r.IntN(len(data)-len(armorBegin)-len(armorEnd)+2)
		switch r.IntN(6) {
		case 0:
			data[body] = "=\n\rA/+-"[r.IntN(7)]
		case 1:
			data = append(data[:body:body], data[body+1:]...)
		case 2:
			data = append(data[:body:body], append([]byte{"=\n\rA"[r.IntN(4)]}, data[body:]...)...)
		case 3:
			data[r.IntN(len(data))] ^= byte(1 + r.IntN(255))
		case 4: // cut to a line boundary and re-terminate
			enc := data[len(armorBegin) : len(data)-len(armorEnd)]
			k := r.IntN(len(enc) + 1)
			data = append(append([]byte(armorBegin), enc[:k]...), armorEnd...)
		}
		want, wantOK := decodeArmorReference(data)
		got, err := decodeArmor([]byte("keep"), data)
		if (err == nil) != wantOK || (wantOK && !bytes.Equal(got, append([]byte("keep"), want...))) {
			t.Fatalf("decodeArmor(%q) = %q, %v; reference %q, %v", data, got, err, want, wantOK)
		}
		if err != nil && !bytes.Equal(got, []byte("keep")) {
			t.Fatalf("decodeArmor changed dst on error: %q", got)
		}
	}
}
