package license

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestDecodeJSON compares the hand-written payload decoder with encoding/json.
func TestDecodeJSON(t *testing.T) {
	full, err := json.Marshal(testPayload())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"as signed", string(full), true},
		{"white space", " {\n\t\"id\" : \"a\" ,\r\n \"seats\": 3 } ", true},
		{"escapes and unicode", `{"id":"a\"b\\c\u00e9\n","licensee":{"name":"Zoë 😀","company":"\u0041"}}`, true},
		{"unknown nested fields", `{"future":{"a":[1,2.5e-3,{"b":null}],"c":true},"seats":7,"later":[]}`, true},
		{"nulls leave zero", `{"id":null,"seats":null,"trial":null,"starts_at":null,"add_ons":null,"licensee":null}`, true},
		{"negative and zero", `{"seats":-0,"trueup_quantity":-12}`, true},
		{"empty object", `{}`, true},
		{"entitlements", `{"features":["sso","audit_events"],"limits":{"max_projects":500,"big":-9223372036854775808}}`, true},
		{"entitlement nulls", `{"features":null,"limits":null}`, true},
		{"empty entitlements", `{"features":[],"limits":{}}`, true},
		{"feature not a string", `{"features":[1]}`, false},
		{"limit not an integer", `{"limits":{"a":true}}`, false},
		{"limit out of range", `{"limits":{"a":9223372036854775808}}`, false},
		{"fraction in int", `{"seats":1.5}`, false},
		{"leading zero", `{"seats":01}`, false},
		{"string for int", `{"seats":"1"}`, false},
		{"bad date", `{"starts_at":"2025-02-30"}`, false},
		{"trailing comma", `{"seats":1,}`, false},
		{"trailing data", `{"seats":1}x`, false},
		{"unterminated", `{"id":"a`, false},
		{"control char", "{\"id\":\"a\x01\"}", false},
		{"not an object", `[]`, false},
		{"bad issued_at", `{"issued_at":"yesterday"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want Payload
			err := decodeJSON([]byte(tt.in), &got)
			if (err == nil) != tt.ok {
				t.Fatalf("decodeJSON error = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatalf("encoding/json rejects it: %v", err)
			}
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
				t.Errorf("decodeJSON:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// FuzzDecodePayload: never panics, accepts only valid JSON, and agrees with
// encoding/json on what it accepts (keys are compared exactly here, while
// encoding/json also folds case, so inputs are re-encoded first).
func FuzzDecodePayload(f *testing.F) {
	full, _ := json.Marshal(testPayload())
	f.Add(full)
	f.Add([]byte(`{"id":"a\"b","x":[1,{"y":null}],"add_ons":{"a":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got Payload
		if decodeJSON(data, &got) != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		again, err := json.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		var back Payload
		if err := decodeJSON(again, &back); err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if g, w := fmt.Sprintf("%+v", back), fmt.Sprintf("%+v", got); g != w {
			t.Fatalf("round trip:\n got %s\nwant %s", g, w)
		}
	})
}

func TestDecodeReadsGitLabRestrictionsAndOldPayloadsStayTheSame(t *testing.T) {
	t.Parallel()
	p := Payload{ID: "lic_1", Version: 1, SubscriptionName: "A-S0001", TrueUpPeriodSeatCount: 12,
		ReconciliationCompleted: true, GeneratedFromCancellation: true, IssuedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	b, ok := appendPayload(nil, &p)
	if !ok {
		t.Fatal("appendPayload refused")
	}
	var got Payload
	if err := decodeJSON(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.SubscriptionName != "A-S0001" || got.TrueUpPeriodSeatCount != 12 || !got.ReconciliationCompleted || !got.GeneratedFromCancellation {
		t.Fatalf("decoded %+v", got)
	}
	old, _ := appendPayload(nil, &Payload{ID: "lic_1", IssuedAt: p.IssuedAt})
	for _, k := range []string{"subscription_name", "trueup_period_seat_count", "reconciliation_completed", "generated_from_cancellation"} {
		if bytes.Contains(old, []byte(k)) {
			t.Errorf("a payload without %s encodes it: %s", k, old)
		}
	}
}
