package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/saas"
)

// `fulfill saas-receiver` accepts a request whose token verifies with the
// JWKS, refuses one signed by another key, and prints the namespace.
func TestSaaSReceiverCommand(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(saas.JWKS{Keys: []saas.JWK{saas.NewJWK("k1", pub)}})
	}))
	defer jwks.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"saas-receiver", "--addr", "127.0.0.1:0", "--jwks", jwks.URL}, &out, &out, func(string) string { return "" })
	}()
	re := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/fulfill/provision`)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("receiver did not start: %s", out.String())
		}
	}
	send := func(key ed25519.PrivateKey) int {
		tok, err := saas.SignToken(key, "k1", saas.NewClaims(time.Now(), "jti-1"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(saas.Request{Namespace: "acme", Plan: "saas-premium", Seats: 7, StartsOn: "2026-01-01", EndsOn: "2027-01-01", State: "active"})
		req, _ := http.NewRequest("POST", base+saas.ProvisionPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send(otherPriv); got != 401 {
		t.Fatalf("token of another key: %d, want 401", got)
	}
	if got := send(priv); got != 200 {
		t.Fatalf("valid token: %d, want 200", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "provisioned namespace acme: plan saas-premium, 7 seats") {
		t.Fatalf("output: %s", out.String())
	}
	if err := Main(context.Background(), []string{"saas-receiver", "--jwks", "ftp://x"}, &out, &out, func(string) string { return "" }); exitCode(err) != 2 {
		t.Fatalf("bad --jwks: %v", err)
	}
}
