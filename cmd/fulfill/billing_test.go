package main

import (
	"strings"
	"testing"
)

// `fulfill billing run` renews what falls due on the day, by hand.
func TestBillingRun(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	var cus struct{ ID string }
	s.call("POST", "/api/v1/customers", map[string]any{"email": "run@example.com", "name": "Rae Run", "country": "US"}, &cus)
	var p struct{ Subscription struct{ ID string } }
	if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 3,
		"payment_method": "invoice"}, &p); c != 201 {
		t.Fatalf("purchase: %d", c)
	}
	out := mustRun(t, "billing", "run", "--date", "2027-01-01", "--data-dir", s.dataDir)
	if !strings.Contains(out, "2027-01-01: 1 subscriptions renewed, expired or lapsed") {
		t.Fatalf("billing run said:\n%s", out)
	}
	var sub struct {
		StartsOn string `json:"starts_on"`
	}
	s.call("GET", "/api/v1/subscriptions/"+p.Subscription.ID, nil, &sub)
	if sub.StartsOn != "2027-01-01" {
		t.Fatalf("after the run the term starts %s", sub.StartsOn)
	}
	out = mustRun(t, "billing", "run", "--date", "2027-01-01", "--data-dir", s.dataDir)
	if !strings.Contains(out, "0 subscriptions") {
		t.Fatalf("second run on the same day: %s", out)
	}
	if _, err := run(t, "billing", "run", "--date", "someday", "--data-dir", s.dataDir); err == nil {
		t.Fatal("a bad date was accepted")
	}
}
