package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := New(10, time.Minute)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d of a burst of 10 refused", i+1)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait <= 0 || wait > 6*time.Second {
		t.Fatalf("11th request: ok=%v wait=%v, want refused with a wait up to 6s", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another key is limited by a's requests")
	}
	if ok, _ := l.Allow("a", now.Add(wait)); !ok {
		t.Fatal("refused after waiting the time it said")
	}
	// A steady 1 per 6 s is always allowed.
	at := now.Add(2 * time.Minute)
	for i := range 30 {
		if ok, _ := l.Allow("a", at); !ok {
			t.Fatalf("steady request %d refused", i)
		}
		at = at.Add(6 * time.Second)
	}
	// Idle keys are forgotten.
	l.Allow("c", at)
	l.Allow("x", at.Add(10*time.Minute))
	l.mu.Lock()
	n := len(l.tat)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d keys kept after sweep, want 1", n)
	}
	if RetryAfterSeconds(1500*time.Millisecond) != 2 || RetryAfterSeconds(0) != 1 {
		t.Fatal("RetryAfterSeconds")
	}
}
