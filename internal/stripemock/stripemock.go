// Package stripemock starts the real stripe-mock server for tests.
package stripemock

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the stripe-mock the tests run against; the newest the
// module proxy served when this was written. stripe-mock follows Stripe's
// latest API, so bump it together with stripe-go.
const Version = "v0.203.0"

var (
	mockOnce sync.Once
	mockBin  string
	mockErr  error
)

// stripeMockBinary installs stripe-mock once into the user cache
// (…/fulfill-stripe-mock/VERSION/stripe-mock), so later test runs reuse it.
// `go install pkg@version` builds outside our module: stripe-mock's
// dependencies never enter go.mod.
func stripeMockBinary() (string, error) {
	mockOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "fulfill-stripe-mock", Version)
		mockBin = filepath.Join(dir, "stripe-mock")
		if fi, err := os.Stat(mockBin); err == nil && fi.Mode().IsRegular() {
			return
		}
		if mockErr = os.MkdirAll(dir, 0o755); mockErr != nil {
			return
		}
		// Install into a private directory, then rename: atomic, so two test
		// processes installing at once never run a half-written binary.
		tmp, err := os.MkdirTemp(dir, "install-")
		if err != nil {
			mockErr = err
			return
		}
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/stripe/stripe-mock@"+Version)
		cmd.Dir = tmp // outside our module
		cmd.Env = append(os.Environ(), "GOBIN="+tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			mockErr = fmt.Errorf("go install stripe-mock@%s: %v\n%s", Version, err, out)
			return
		}
		mockErr = os.Rename(filepath.Join(tmp, "stripe-mock"), mockBin)
	})
	return mockBin, mockErr
}

// startStripeMock runs stripe-mock on loopback ports of its own choosing
// (no race for a "free" port) and returns its base URL. It is killed when
// the test ends. When it cannot be built or started the test is skipped,
// except under CI=true, where that is a failure.
// Start builds (once, cached) and starts stripe-mock on a free port and
// returns its base URL. Without it, the test skips, or fails when CI=true.
func Start(t testing.TB) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf("stripe-mock unavailable: "+format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (set CI=true to fail instead)")
	}
	bin, err := stripeMockBinary()
	if err != nil {
		unavailable("%v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// -https-addr too: with only -http-addr, stripe-mock also opens HTTPS on
	// the fixed port 12112, which parallel test processes would fight over.
	cmd := exec.CommandContext(ctx, bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		unavailable("%v", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		unavailable("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel() // kills the process
		_ = cmd.Wait()
	})

	addr := make(chan string, 1)
	go func() {
		const prefix = "Listening for HTTP at address: "
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep draining so it never blocks
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(60 * time.Second):
		unavailable("no listening address after 60 s; stderr: %s", stderr.String())
	}
	// Wait until it answers, not just listens.
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/v1/customers", nil)
		req.SetBasicAuth("sk_test_123", "")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			unavailable("%s does not answer: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
