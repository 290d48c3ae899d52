package webhook_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/webhook"
)

// vector is one case of testdata/vectors.json, which the sender's tests
// (package integrations) read too.
type vector struct {
	Name           string   `json:"name"`
	SigningSecrets []string `json:"signing_secrets"`
	Timestamp      int64    `json:"timestamp"`
	Body           string   `json:"body"`
	Header         string   `json:"header"`
	VerifySecrets  []string `json:"verify_secrets"`
	Now            int64    `json:"now"`
	Tolerance      int64    `json:"tolerance_seconds"`
	Sign           bool     `json:"sign"`
	Valid          bool     `json:"valid"`
	Error          string   `json:"error"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 10 {
		t.Fatalf("only %d vectors", len(f.Vectors))
	}
	return f.Vectors
}

var errByName = map[string]error{
	"no_header":          webhook.ErrNoHeader,
	"invalid_header":     webhook.ErrInvalidHeader,
	"no_signatures":      webhook.ErrNoSignatures,
	"timestamp":          webhook.ErrTimestamp,
	"signature_mismatch": webhook.ErrSignatureMismatch,
}

func TestSignVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		if !v.Sign {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			got := webhook.SignAll(v.SigningSecrets, time.Unix(v.Timestamp, 0), []byte(v.Body))
			if got != v.Header {
				t.Fatalf("SignAll = %s\nwant      %s", got, v.Header)
			}
			if len(v.SigningSecrets) == 1 {
				if got := webhook.Sign(v.SigningSecrets[0], time.Unix(v.Timestamp, 0), []byte(v.Body)); got != v.Header {
					t.Fatalf("Sign = %s, want %s", got, v.Header)
				}
			}
		})
	}
}

func TestVerifyVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			err := webhook.Verify(v.Header, []byte(v.Body), v.VerifySecrets, time.Unix(v.Now, 0), time.Duration(v.Tolerance)*time.Second)
			if v.Valid {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			want := errByName[v.Error]
			if want == nil {
				t.Fatalf("vector names unknown error %q", v.Error)
			}
			if !errors.Is(err, want) {
				t.Fatalf("Verify = %v, want %v", err, want)
			}
		})
	}
}

// Flipping any single byte of the body makes the signature fail.
func TestVerifyEveryChangedByte(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	now := time.Unix(1767225600, 0)
	h := webhook.Sign("whsec_x", now, body)
	for i := range body {
		b := append([]byte(nil), body...)
		b[i] ^= 0x01
		if err := webhook.Verify(h, b, []string{"whsec_x"}, now, 0); !errors.Is(err, webhook.ErrSignatureMismatch) {
			t.Fatalf("byte %d changed: Verify = %v", i, err)
		}
	}
	if err := webhook.Verify(h, body, nil, now, 0); !errors.Is(err, webhook.ErrNoSecrets) {
		t.Fatalf("no secrets: %v", err)
	}
	// An empty secret (an unset variable) must not let anyone sign.
	forged := webhook.Sign("", now, body)
	if err := webhook.Verify(forged, body, []string{""}, now, 0); !errors.Is(err, webhook.ErrNoSecrets) {
		t.Fatalf("empty secret: %v", err)
	}
	if err := webhook.Verify(forged, body, []string{"", "whsec_x"}, now, 0); !errors.Is(err, webhook.ErrSignatureMismatch) {
		t.Fatalf("empty secret beside a real one: %v", err)
	}
}

func ExampleVerify() {
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1767225600, 0)
	header := webhook.Sign("whsec_example", now, body) // what Fulfill sends
	err := webhook.Verify(header, body, []string{"whsec_example"}, now.Add(time.Minute), 5*time.Minute)
	fmt.Println(err == nil)
	// Output: true
}
