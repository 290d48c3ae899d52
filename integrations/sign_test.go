package integrations

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/webhook"
)

// The sender signs the public package's test vectors byte for byte: one
// secret normally, the current and the previous one during a rotation, and
// only the current one once the 24-hour overlap has passed.
func TestSenderSignatureVectors(t *testing.T) {
	b, err := os.ReadFile("../webhook/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			Name           string   `json:"name"`
			SigningSecrets []string `json:"signing_secrets"`
			Timestamp      int64    `json:"timestamp"`
			Body           string   `json:"body"`
			Header         string   `json:"header"`
			Sign           bool     `json:"sign"`
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	rotatedAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for _, v := range f.Vectors {
		if !v.Sign {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			clock := fulfill.NewSimulatedClock(rotatedAt)
			s := &Service{Clock: clock}
			ep := &store.WebhookEndpoint{Secret: v.SigningSecrets[0]}
			if len(v.SigningSecrets) == 2 {
				exp := rotatedAt.Add(SecretOverlap)
				ep.PreviousSecret, ep.PreviousExpiresAt = v.SigningSecrets[1], &exp
			}
			at := time.Unix(v.Timestamp, 0)
			if got := s.signature(ep, at, []byte(v.Body)); got != v.Header {
				t.Fatalf("signature = %s\nwant        %s", got, v.Header)
			}
			if len(v.SigningSecrets) == 2 {
				clock.Set(rotatedAt.Add(SecretOverlap))
				want := webhook.Sign(v.SigningSecrets[0], at, []byte(v.Body))
				if got := s.signature(ep, at, []byte(v.Body)); got != want {
					t.Fatalf("after the overlap: %s, want only the new secret %s", got, want)
				}
			}
		})
	}
	if n < 3 {
		t.Fatalf("%d signing vectors", n)
	}
}

func TestRetryDelay(t *testing.T) {
	p := RetryPolicy{Base: time.Second, Cap: 10 * time.Second, Window: time.Hour, NoJitter: true}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := p.Delay(i+1, 42); got != w*time.Second {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w*time.Second)
		}
	}
	p.NoJitter = false
	for attempt := 1; attempt <= 8; attempt++ {
		d := p.Delay(attempt, 7)
		if d < 0 || d > p.WithDefaults().Cap || d != p.Delay(attempt, 7) {
			t.Fatalf("jittered Delay(%d) = %s", attempt, d)
		}
	}
	// The default schedule keeps a delivery trying for at least three days.
	if DefaultRetry.Window < 72*time.Hour {
		t.Fatalf("default window %s", DefaultRetry.Window)
	}
}

func TestEventPatterns(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{[]string{"*"}, "invoice.paid", true},
		{[]string{"invoice.*"}, "invoice.paid", true},
		{[]string{"invoice.*"}, "invoices.paid", false},
		{[]string{"subscription.created"}, "subscription.created", true},
		{[]string{"subscription.created"}, "subscription.renewed", false},
	} {
		if got := matches(c.patterns, c.typ); got != c.want {
			t.Errorf("matches(%v, %s) = %v", c.patterns, c.typ, got)
		}
	}
	if knownPattern("subscription.create") || knownPattern("nope.*") || !knownPattern("support_request.*") {
		t.Fatal("knownPattern")
	}
}
