package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/instance"
	"github.com/fulfillhq/fulfill/license"
)

const cliCode = "ABCDEFGHJKMNPQRSTWXYZ234"

// instanceServer fakes the instance API of a Fulfill server.
type instanceServer struct {
	*httptest.Server
	mu        sync.Mutex
	seatLinks []map[string]any
	seatReply func(w http.ResponseWriter) // nil: {"license": null}
}

func newInstanceServer(t *testing.T) (*instanceServer, *license.Signer, string) {
	t.Helper()
	key, err := license.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	today := license.DateOf(time.Now())
	p := license.Payload{ID: "lic_1", Plan: "sm-premium", Seats: 100, StartsAt: today.AddDays(-10),
		ExpiresAt: today.AddDays(365), IssuedAt: time.Now().Add(-time.Minute), SubscriptionID: "sub_1"}
	lic, err := key.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	s := &instanceServer{}
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/license_keys", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"data": []any{map[string]string{"kid": key.KeyID(), "algorithm": "ed25519",
			"public_key": license.MarshalPublicKey(key.PublicKey()), "status": "active"}}})
	})
	mux.HandleFunc("POST /api/v1/activations", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		if body["activation_code"] != cliCode {
			reply(w, 404, map[string]any{"error": map[string]string{"code": "activation_code_invalid", "message": "unknown activation code", "field": "activation_code"}})
			return
		}
		reply(w, 201, map[string]any{"license_key": string(lic), "subscription_id": "sub_1", "plan": "sm-premium",
			"seats": 100, "expires_at": p.ExpiresAt.String(), "future_subscriptions": []any{}})
	})
	mux.HandleFunc("POST /api/v1/seat_links", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.seatLinks = append(s.seatLinks, body)
		f := s.seatReply
		s.mu.Unlock()
		if f != nil {
			f(w)
			return
		}
		reply(w, 200, map[string]any{"license": nil, "next_reconciliation_date": nil, "subscription_id": "sub_1", "seats": 100})
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s, key, string(lic)
}

func runInstance(t *testing.T, vars map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := instanceCmd(context.Background(), args, &out, &errOut, func(k string) string { return vars[k] })
	return out.String(), errOut.String(), err
}

func TestInstanceCommands(t *testing.T) {
	t.Parallel()
	srv, key, lic := newInstanceServer(t)
	dir := filepath.Join(t.TempDir(), "inst")
	vars := map[string]string{"FULFILL_INSTANCE_DIR": dir}
	expires := license.DateOf(time.Now()).AddDays(365).String()

	// activate
	out, _, err := runInstance(t, vars, "activate", "--server", srv.URL, "--code", cliCode)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Activated: subscription sub_1, plan sm-premium, 100 seats, expires %s.\nLicense stored in %s.\n", expires, filepath.Join(dir, "license.lic"))
	if out != want {
		t.Errorf("activate printed\n%q\nwant\n%q", out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "license.lic")); string(b) != lic {
		t.Error("license.lic does not hold the server's license")
	}

	// sync without a new license; the server URL is the stored one.
	out, _, err = runInstance(t, vars, "sync", "--billable", "98", "--max", "104")
	if err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("No new license.\nSeats: 100\nExpires: %s\nNext reconciliation: none\n", expires)
	if out != want {
		t.Errorf("sync printed\n%q\nwant\n%q", out, want)
	}
	srv.mu.Lock()
	first := srv.seatLinks[0]
	srv.mu.Unlock()
	if b := first; b["billable_users_count"] != 98.0 || b["max_historical_user_count"] != 104.0 || b["gitlab_version"] != "fulfill-cli" {
		t.Errorf("seat link body = %v", b)
	}

	// sync with a newer license, server URL from the environment.
	newExp := license.DateOf(time.Now()).AddDays(730)
	newer, err := key.Sign(license.Payload{ID: "lic_2", Plan: "sm-premium", Seats: 150, ExpiresAt: newExp, IssuedAt: time.Now(), SubscriptionID: "sub_1"})
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.seatReply = func(w http.ResponseWriter) {
		json.NewEncoder(w).Encode(map[string]any{"license": string(newer), "next_reconciliation_date": "2030-01-15", "subscription_id": "sub_1", "seats": 150})
	}
	srv.mu.Unlock()
	out, _, err = runInstance(t, map[string]string{"FULFILL_INSTANCE_DIR": dir, "FULFILL_SERVER_URL": srv.URL}, "sync", "--billable", "140", "--max", "140")
	if err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("New license received and stored.\nSeats: 150\nExpires: %s\nNext reconciliation: 2030-01-15\n", newExp)
	if out != want {
		t.Errorf("sync printed\n%q\nwant\n%q", out, want)
	}

	// status
	out, _, err = runInstance(t, nil, "status", "--state-dir", dir, "--billable", "170", "--max", "170")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"Subscription:         sub_1\n",
		"Plan:                 sm-premium\n",
		"Seats:                150 (up to 165 with the 10% tolerance)\n",
		fmt.Sprintf("Expires:              %s (730 days left)\n", newExp),
		"State:                over_seats\n",
		"Next reconciliation:  2030-01-15\n",
		"Pending reports:      0\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("status lacks %q:\n%s", line, out)
		}
	}

	// a refused sync: one-line error with the server's code, no retry
	srv.mu.Lock()
	before := len(srv.seatLinks)
	srv.seatReply = func(w http.ResponseWriter) {
		w.WriteHeader(422)
		io.WriteString(w, `{"error":{"code":"license_invalid","message":"license\nis not valid","field":"license_key"}}`)
	}
	srv.mu.Unlock()
	_, _, err = runInstance(t, vars, "sync", "--billable", "1", "--max", "1")
	if err == nil || err.Error() != "instance: sync: server: 422 license_invalid: license is not valid (field license_key)" {
		t.Errorf("err = %v", err)
	}
	srv.mu.Lock()
	after := len(srv.seatLinks)
	srv.mu.Unlock()
	if n := after - before; n != 1 {
		t.Errorf("%d attempts on 422, want 1", n)
	}

	// export-usage
	file := filepath.Join(t.TempDir(), "usage.json")
	out, _, err = runInstance(t, vars, "export-usage", "--out", file, "--billable", "7", "--max", "9")
	if err != nil {
		t.Fatal(err)
	}
	if out != "Wrote 1 daily report(s) to "+file+".\n" {
		t.Errorf("export-usage printed %q", out)
	}
	data, _ := os.ReadFile(file)
	f, err := instance.ParseUsageFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.LicenseKey != string(newer) || len(f.Reports) != 1 || f.Reports[0].BillableUsersCount != 7 || f.Reports[0].MaxHistoricalUserCount != 9 || f.Version != "fulfill-cli" {
		t.Errorf("usage file = %+v", f)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("usage file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestInstanceCommandErrors(t *testing.T) {
	t.Parallel()
	srv, _, _ := newInstanceServer(t)
	dir := t.TempDir()
	tests := []struct {
		args  []string
		usage bool   // a usageError (exit 2)
		msg   string // exact message
	}{
		{nil, true, "instance: no subcommand given"},
		{[]string{"frobnicate"}, true, `instance: unknown subcommand "frobnicate"`},
		{[]string{"activate", "--code", cliCode, "--state-dir", dir}, true, "instance activate: --server or FULFILL_SERVER_URL is required"},
		{[]string{"activate", "--server", srv.URL, "--state-dir", dir}, true, "instance activate: --code is required"},
		{[]string{"activate", "--server", "ftp://x", "--code", cliCode}, true, `instance: --server "ftp://x": want an http:// or https:// URL`},
		{[]string{"activate", "--server", srv.URL, "--code", cliCode, "extra"}, true, `instance: unexpected argument "extra"`},
		{[]string{"activate", "--bogus"}, true, "instance: flag provided but not defined: -bogus"},
		{[]string{"activate", "--server", srv.URL, "--code", "ZZZZZZZZZZZZZZZZZZZZZZZZ", "--state-dir", dir}, false,
			"instance: activate: server: 404 activation_code_invalid: unknown activation code (field activation_code)"},
		{[]string{"sync", "--state-dir", dir}, true, "instance: --billable and --max are required"},
		{[]string{"sync", "--billable", "3", "--state-dir", dir}, true, "instance: give both --billable and --max"},
		{[]string{"sync", "--billable", "-3", "--max", "2", "--state-dir", dir}, true, "instance: --billable and --max must not be negative"},
		{[]string{"sync", "--billable", "3", "--max", "3", "--state-dir", dir}, false, instance.ErrNotActivated.Error()},
		{[]string{"status", "--state-dir", dir}, false, instance.ErrNotActivated.Error()},
		{[]string{"export-usage", "--state-dir", dir}, true, "instance export-usage: --out is required"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runInstance(t, nil, tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			var u usageError
			if errors.As(err, &u) != tt.usage {
				t.Errorf("usageError = %v, want %v (err %T)", !tt.usage, tt.usage, err)
			}
			if err.Error() != tt.msg {
				t.Errorf("err = %q, want %q", err, tt.msg)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "license.lic")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed activation stored a license")
	}
}

func TestInstanceHelp(t *testing.T) {
	t.Parallel()
	out, _, err := runInstance(t, nil, "help")
	if err != nil || !strings.Contains(out, "fulfill instance activate") {
		t.Errorf("help: %v\n%s", err, out)
	}
	for _, sub := range []string{"activate", "sync", "export-usage", "status"} {
		out, errOut, err := runInstance(t, nil, sub, "-h")
		if err != nil || !strings.Contains(out, "Usage: fulfill instance "+sub) || !strings.Contains(out, "-state-dir") || errOut != "" {
			t.Errorf("%s -h: %v\nstdout:\n%s\nstderr:\n%s", sub, err, out, errOut)
		}
	}
}
