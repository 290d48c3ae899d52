package stripe

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"invoice.paid","created":1700000000,"data":{"object":{"id":"in_1"}}}`)
	const oldSecret, newSecret = "whsec_old", "whsec_new"
	good := Sign(body, newSecret, now)
	ts := "t=" + strconv.FormatInt(now.Unix(), 10)
	v1 := strings.TrimPrefix(good, ts+",")
	changed := append([]byte(nil), body...)
	changed[10] ^= 1

	for _, tc := range []struct {
		name    string
		body    []byte
		header  string
		secrets []string
		want    error // nil = accepted
	}{
		{"good", body, good, []string{newSecret}, nil},
		{"missing header", body, "", []string{newSecret}, ErrNoHeader},
		{"t= only", body, ts, []string{newSecret}, ErrNoValidSignature},
		{"no t", body, v1, []string{newSecret}, ErrMalformedHeader},
		{"bad t", body, "t=abc," + v1, []string{newSecret}, ErrMalformedHeader},
		{"two t", body, ts + "," + ts + "," + v1, []string{newSecret}, ErrMalformedHeader},
		{"no equals", body, "garbage", []string{newSecret}, ErrMalformedHeader},
		{"wrong secret", body, good, []string{"whsec_other"}, ErrNoValidSignature},
		{"one changed body byte", changed, good, []string{newSecret}, ErrNoValidSignature},
		{"v0 scheme only", body, ts + ",v0=" + strings.TrimPrefix(v1, "v1="), []string{newSecret}, ErrNoValidSignature},
		{"301 s old", body, Sign(body, newSecret, now.Add(-301*time.Second)), []string{newSecret}, ErrTooOld},
		{"301 s ahead", body, Sign(body, newSecret, now.Add(301*time.Second)), []string{newSecret}, ErrTooNew},
		{"299 s old", body, Sign(body, newSecret, now.Add(-299*time.Second)), []string{newSecret}, nil},
		{"300 s old", body, Sign(body, newSecret, now.Add(-300*time.Second)), []string{newSecret}, nil},
		{"good v1 beside junk", body, ts + ",v1=deadbeef,v1=zz," + v1, []string{newSecret}, nil},
		{"junk v1 after good", body, good + ",v1=00", []string{newSecret}, nil},
		{"rotation: old secret", body, Sign(body, oldSecret, now), []string{newSecret, oldSecret}, nil},
		{"rotation: new secret", body, good, []string{newSecret, oldSecret}, nil},
		{"rotation: both signatures", body, good + "," + strings.TrimPrefix(Sign(body, oldSecret, now), ts+","), []string{oldSecret}, nil},
		{"empty secret is never a key", body, Sign(body, "", now), []string{""}, ErrNoSecret},
		{"no secrets", body, good, nil, ErrNoSecret},
		{"spaces after commas", body, ts + ", " + v1, []string{newSecret}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.body, tc.header, tc.secrets, now, 0)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifySignatureTolerance(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{}`)
	h := Sign(body, "s", now.Add(-20*time.Second))
	if err := VerifySignature(body, h, []string{"s"}, now, 10*time.Second); !errors.Is(err, ErrTooOld) {
		t.Errorf("20 s old, tolerance 10 s: %v", err)
	}
	if err := VerifySignature(body, h, []string{"s"}, now, time.Minute); err != nil {
		t.Errorf("20 s old, tolerance 1 min: %v", err)
	}
}

func TestParseEvent(t *testing.T) {
	ev, err := ParseEvent([]byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1700000000,
		"data":{"object":{"id":"pi_1","object":"payment_intent"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "evt_1" || ev.Type != "payment_intent.succeeded" || ev.Created != 1700000000 ||
		string(ev.Object) != `{"id":"pi_1","object":"payment_intent"}` {
		t.Errorf("event = %+v (object %s)", ev, ev.Object)
	}
	for _, bad := range []string{``, `[]`, `{"type":"x"}`, `{"id":"evt_1"}`, `{"id":1}`} {
		if _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("ParseEvent(%q): want error", bad)
		}
	}
}

// FuzzVerifySignature: arbitrary headers never panic, and nothing but a
// genuine signature is accepted.
func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add([]byte(`{}`), Sign([]byte(`{}`), "s", now))
	f.Add([]byte(`{}`), "t=1700000000,v1=,v1=zz,v0=ab")
	f.Add([]byte(``), "t=-1,,=,v1")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		err := VerifySignature(body, header, []string{"s"}, now, 0)
		if err == nil && !strings.Contains(header, Sign(body, "s", now)[len("t=1700000000,"):]) {
			t.Errorf("accepted %q for %q without its signature", header, body)
		}
	})
}
