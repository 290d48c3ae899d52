package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/license"
)

func TestMain(m *testing.M) {
	// A test can re-run this binary as a real `fulfill` process, to kill it
	// at a chosen point (see TestStripeCrashReplay).
	if os.Getenv("FULFILL_TEST_CHILD") == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("FULFILL_TEST_ARGS")), &args); err != nil {
			panic(err)
		}
		// As main does: SIGTERM stops the server gracefully.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := Main(ctx, args, os.Stdout, os.Stderr, os.Getenv); err != nil {
			fmt.Fprintln(os.Stderr, "fulfill:", err)
			os.Exit(exitCode(err))
		}
		os.Exit(0)
	}
	dbtest.Main(m)
}

const e2eToken = "e2e-admin-token-0123456789abcdefghij"

// server is a running `fulfill serve`.
type server struct {
	t       *testing.T
	addr    string
	dataDir string
	out     *syncBuffer // the server's standard output
}

func startServer(t *testing.T, dbURL string, extra ...string) *server {
	return startServerEnv(t, dbURL, nil, extra...)
}

func startServerEnv(t *testing.T, dbURL string, vars map[string]string, extra ...string) *server {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	args := append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--simulated-clock", "2026-01-01"}, extra...)
	if strings.HasPrefix(dbURL, "postgres") {
		args = append(args, "--database-url", dbURL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		// The shared test cluster runs with fsync off, for speed.
		all := map[string]string{"FULFILL_ADMIN_TOKEN": e2eToken, "FULFILL_ACCEPT_DATA_LOSS": "1"}
		for k, v := range vars {
			all[k] = v
		}
		done <- Main(ctx, args, &out, io.Discard, env(all))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			return &server{t: t, addr: m[1], dataDir: dir, out: &out}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) call(method, path string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// run runs a fulfill command and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Main(context.Background(), args, &out, &errOut, env(nil))
	return out.String() + errOut.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("fulfill %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Issue 3, acceptance 1 and 4, end to end against a running server: purchase,
// activate an instance, verify offline, sync, add seats, sync again; then
// rotate and remove keys.
func TestInstanceEndToEnd(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		s := startServer(t, url)
		var cus struct{ ID string }
		if c := s.call("POST", "/api/v1/customers", map[string]any{"email": "it@example.com", "name": "Ivan IT", "country": "US"}, &cus); c != 201 {
			t.Fatalf("customer: %d", c)
		}
		var p struct {
			Subscription   struct{ ID string }
			ActivationCode string `json:"activation_code"`
		}
		if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 100,
			"payment_method": "pm_card_visa"}, &p); c != 201 {
			t.Fatalf("purchase: %d", c)
		}
		state := filepath.Join(t.TempDir(), "instance")
		out := mustRun(t, "instance", "activate", "--server", s.addr, "--code", p.ActivationCode, "--state-dir", state)
		if !strings.Contains(out, "100") {
			t.Errorf("activate said: %s", out)
		}
		lic := filepath.Join(state, "license.lic")

		// Offline verification with the published public key.
		var keys struct {
			Data []struct {
				KID       string `json:"kid"`
				PublicKey string `json:"public_key"`
			}
		}
		if c := s.call("GET", "/api/v1/license_keys", nil, &keys); c != 200 || len(keys.Data) != 1 {
			t.Fatalf("license_keys: %d %+v", c, keys)
		}
		pub, err := license.ParsePublicKey(keys.Data[0].PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		ring, _ := license.NewKeyring(pub)
		data, _ := os.ReadFile(lic)
		pl, err := ring.Verify(data, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
		if err != nil || pl.Seats != 100 || pl.SubscriptionID != p.Subscription.ID {
			t.Fatalf("offline verify: %v %+v", err, pl)
		}
		mustRun(t, "license", "verify", lic, "--public-key", keys.Data[0].PublicKey)
		// An instance that pins the vendor's key trusts nothing else.
		pinned := filepath.Join(t.TempDir(), "pinned")
		mustRun(t, "instance", "activate", "--server", s.addr, "--code", p.ActivationCode, "--state-dir", pinned,
			"--public-key", keys.Data[0].PublicKey)
		other, _ := license.GenerateKey(nil)
		if out, err := run(t, "instance", "activate", "--server", s.addr, "--code", p.ActivationCode, "--state-dir",
			filepath.Join(t.TempDir(), "wrong"), "--public-key", license.MarshalPublicKey(other.PublicKey())); err == nil {
			t.Fatalf("activation trusted a key it was not given: %s", out)
		}

		out = mustRun(t, "instance", "sync", "--server", s.addr, "--state-dir", state, "--billable", "108", "--max", "108", "--now", "2026-01-01")
		if strings.Contains(strings.ToLower(out), "new license") && !strings.Contains(strings.ToLower(out), "no new license") {
			t.Fatalf("first sync should bring no new license: %s", out)
		}
		if c := s.call("POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/seats", map[string]any{"seats": 120}, nil); c != 200 {
			t.Fatalf("add seats: %d", c)
		}
		mustRun(t, "instance", "sync", "--server", s.addr, "--state-dir", state, "--billable", "108", "--max", "108", "--now", "2026-01-01")
		data, _ = os.ReadFile(lic)
		if pl, err = ring.Verify(data, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)); err != nil || pl.Seats != 120 {
			t.Fatalf("after adding seats the instance has %+v (%v), want 120 seats", pl, err)
		}
		var reports struct {
			Data []struct{ MaxUsers, BillableUsers int64 }
		}
		s.call("GET", "/api/v1/subscriptions/"+p.Subscription.ID+"/seat_reports", nil, &reports)
		if len(reports.Data) != 1 {
			t.Fatalf("two syncs on one day stored %d reports, want 1", len(reports.Data))
		}

		// Rotation: the old license verifies while its key is trusted.
		old := keys.Data[0].KID
		oldLic := filepath.Join(t.TempDir(), "old.lic")
		if err := os.WriteFile(oldLic, data, 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(t, "keys", "rotate", "--data-dir", s.dataDir)
		mustRun(t, "license", "verify", oldLic, "--data-dir", s.dataDir)
		if c := s.call("POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/seats", map[string]any{"seats": 121}, nil); c != 200 {
			t.Fatalf("add seats after rotation: %d", c)
		}
		mustRun(t, "instance", "sync", "--server", s.addr, "--state-dir", state, "--billable", "108", "--max", "108", "--now", "2026-01-01")
		data, _ = os.ReadFile(lic)
		f, err := license.Parse(data)
		if err != nil || f.KeyID == old || f.Payload.Seats != 121 {
			t.Fatalf("license after rotation: kid %s (old %s), %v", f.KeyID, old, err)
		}
		mustRun(t, "keys", "remove", old, "--data-dir", s.dataDir)
		if out, err := run(t, "license", "verify", oldLic, "--data-dir", s.dataDir); err == nil || !strings.Contains(err.Error(), "unknown") {
			t.Fatalf("a license of a removed key still verifies: %v %s", err, out)
		}
		mustRun(t, "license", "verify", lic, "--data-dir", s.dataDir)
		if out, err := run(t, "keys", "remove", f.KeyID, "--data-dir", s.dataDir); err == nil {
			t.Fatalf("removing the active key worked: %s", out)
		}
	})
}
