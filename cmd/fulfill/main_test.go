package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine to write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// A fresh start creates the data directory, loads the demo catalog, prints
// the address and a working admin token, and serves.
func TestServeFreshStart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, &out, io.Discard, env(nil))
	}()
	var addr, token string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" || token == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no address and token printed:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
		if m := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		if m := regexp.MustCompile(`\n  (ful_\S+)\n`).FindStringSubmatch(out.String()); m != nil {
			token = m[1]
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "fulfill.db")); err != nil {
		t.Fatalf("no database in the data directory: %v", err)
	}
	req, _ := http.NewRequest("GET", addr+"/api/v1/plans", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/plans: %d %s", resp.StatusCode, body)
	}
	for _, code := range []string{"sm-premium", "sm-ultimate", "saas-premium", "saas-ultimate", "compute-minutes-1000", "storage-10gb"} {
		if !strings.Contains(string(body), `"`+code+`"`) {
			t.Errorf("demo catalog lacks %s", code)
		}
	}
	if !strings.Contains(string(body), `"USD": 34800`) || !strings.Contains(string(body), `"USD": 118800`) {
		t.Errorf("demo prices wrong: %s", body)
	}
	// The test clock is refused on a real clock.
	req, _ = http.NewRequest("POST", addr+"/api/v1/test_clock/advance", strings.NewReader(`{"to":"2030-01-01"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("test clock on a real clock: %d, want 404", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestCommandLineErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command", nil, nil, "no command"},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"short admin token", []string{"serve", "--data-dir", dir}, map[string]string{"FULFILL_ADMIN_TOKEN": "short"}, "at least 32"},
		{"bad addr", []string{"serve", "--data-dir", dir, "--addr", "nowhere"}, nil, "HOST:PORT"},
		{"bad trusted proxies", []string{"serve", "--data-dir", dir, "--trusted-proxies", "10.0.0.0/8,proxy.example"}, nil, "--trusted-proxies"},
		{"bad clock", []string{"serve", "--data-dir", dir, "--simulated-clock", "tomorrow"}, nil, "simulated-clock"},
		{"old schema", []string{"serve", "--data-dir", dir, "--migrate=false", "--addr", "127.0.0.1:0"}, nil, "run `fulfill migrate`"},
		{"bad database", []string{"migrate", "--database-url", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"}, nil, "connect to PostgreSQL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Main(context.Background(), c.args, io.Discard, io.Discard, env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := Main(context.Background(), []string{"migrate", "--data-dir", dir}, &out, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "schema version 0 → ") {
		t.Fatalf("migrate said %q", out.String())
	}
	out.Reset()
	if err := Main(context.Background(), []string{"migrate", "--data-dir", dir}, &out, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "version 0 →") {
		t.Fatalf("second migrate said %q", out.String())
	}
}
