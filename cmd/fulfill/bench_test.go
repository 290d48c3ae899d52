package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func init() {
	// bench starts its server and billing run as child processes: in
	// tests, this binary re-run as fulfill (see TestMain).
	benchExec = func(args []string) *exec.Cmd {
		a, _ := json.Marshal(args)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "FULFILL_TEST_CHILD=1", "FULFILL_TEST_ARGS="+string(a))
		return cmd
	}
}

// Issue 18, acceptance 1: `fulfill bench --quick --json` runs (here shorter
// still) and prints JSON with every workload, each measured beside its
// baseline, and the start-up, memory and drain figures. No thresholds: the
// machine running tests is shared and noisy.
func TestBenchQuickJSONHasEveryWorkload(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	prof := filepath.Join(t.TempDir(), "billing.cpu")
	err := Main(context.Background(), []string{"bench", "--quick", "--json", "--duration", "1s", "--renewals", "200", "--data-dir", t.TempDir(),
		"--billing-cpuprofile", prof}, &out, &errOut, env(nil))
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var r struct {
		Workloads []struct {
			Name         string
			Rate         float64
			P99          float64 `json:"p99_ms"`
			Baseline     string
			BaselineRate float64 `json:"baseline_rate"`
			Ratio        float64
		}
		StartupMS float64 `json:"startup_ms"`
		RSSIdleMB float64 `json:"rss_idle_mb"`
		RSSLoadMB float64 `json:"rss_load_mb"`
		JobsLeft  *int    `json:"jobs_left"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("bench --json printed no JSON: %v\n%s", err, out.String())
	}
	want := map[string]bool{"purchase": true, "seat_link": true, "billing_run": true, "verify": true, "sign": true, "portal_page": true}
	for _, w := range r.Workloads {
		if !want[w.Name] {
			t.Errorf("unexpected or repeated workload %q", w.Name)
		}
		delete(want, w.Name)
		if w.Rate <= 0 || w.BaselineRate <= 0 || w.Baseline == "" || w.Ratio <= 0 {
			t.Errorf("workload %s: %+v, want rates > 0 beside a named baseline", w.Name, w)
		}
	}
	for name := range want {
		t.Errorf("workload %s missing", name)
	}
	if r.StartupMS <= 0 || r.RSSIdleMB <= 0 || r.RSSLoadMB < r.RSSIdleMB || r.JobsLeft == nil {
		t.Errorf("start-up %.1f ms, memory %.1f / %.1f MB, jobs left %v", r.StartupMS, r.RSSIdleMB, r.RSSLoadMB, r.JobsLeft)
	}
	// --billing-cpuprofile: the billing run's process wrote its profile
	// (gzipped protobuf).
	if b, err := os.ReadFile(prof); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("billing run profile: %d bytes, %v; want a gzipped pprof profile", len(b), err)
	}
}

// --workloads runs only the workloads it names, and refuses a name it does
// not know with the list of those it does.
func TestBenchRunsOnlyTheWorkloadsNamed(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := Main(context.Background(), []string{"bench", "--json", "--workloads", "license", "--duration", "200ms", "--starts", "1", "--data-dir", t.TempDir()},
		&out, &errOut, env(nil))
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var r struct{ Workloads []struct{ Name string } }
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("bench --json printed no JSON: %v\n%s", err, out.String())
	}
	var names []string
	for _, w := range r.Workloads {
		names = append(names, w.Name)
	}
	if len(names) != 2 || names[0] != "verify" || names[1] != "sign" {
		t.Errorf("--workloads license ran %v, want [verify sign]", names)
	}
	err = Main(context.Background(), []string{"bench", "--workloads", "purchase,nope", "--data-dir", t.TempDir()}, &out, &errOut, env(nil))
	if err == nil || !strings.Contains(err.Error(), `unknown workload "nope"`) || !strings.Contains(err.Error(), "seat_link") {
		t.Errorf("--workloads purchase,nope: %v, want an unknown-workload error listing the workloads", err)
	}
}
