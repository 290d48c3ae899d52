package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/license"
	"github.com/fulfillhq/fulfill/payments/testpay"
	"github.com/fulfillhq/fulfill/store"
)

const benchUsage = `Usage: fulfill bench [--quick] [--json] [--duration D] [--renewals N] [--workloads LIST] [--starts N] [--startup-only] [--database-url URL]

Starts a real server (a child process "fulfill serve" on loopback; SQLite in
a temporary directory unless --database-url names a PostgreSQL database,
which it writes into), loads it and prints one table: each workload beside
the bare cost of the same work, measured interleaved in the same run.

  purchase     POST /api/v1/subscriptions, test provider, 32 clients, one
               customer each, each request with its own Idempotency-Key
               vs bare_purchase: the same rows (counted per table from real
               purchases), hand-written INSERTs in one transaction per
               purchase into copies of the tables, same driver, 32 clients
  seat_link    64 activated instances vs one-row upserts, 64 clients
  billing_run  --renewals subscriptions falling due on one day, renewed by
               "fulfill billing run" vs as many one-row commits, 1 client
  verify/sign  license verify and sign in process vs bare ed25519
  portal_page  a signed-in subscription page, 50 users vs the stylesheet

Also: start-up to the first answer (beside a bare open-the-database-and-
listen process; the median of --starts starts of each, in turn; with
--startup-only nothing else but idle memory), resident memory (VmRSS) of the server idle and under load,
and how long the side effects of the purchase load take to drain (River
jobs available or running) after it stops. Progress goes to standard error.
`

// benchExec makes the command of a child fulfill process; tests replace it
// to run their own binary.
var benchExec = func(args []string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, args...)
}

type benchWorkload struct {
	Name         string  `json:"name"`
	Rate         float64 `json:"rate"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	Baseline     string  `json:"baseline"`
	BaselineRate float64 `json:"baseline_rate"`
	BaselineP99  float64 `json:"baseline_p99_ms"`
	Ratio        float64 `json:"ratio"`
	Count        int     `json:"count"`
}

type benchReport struct {
	Database      string          `json:"database"`
	Workloads     []benchWorkload `json:"workloads"`
	StartupMS     float64         `json:"startup_ms"`
	StartupBareMS float64         `json:"startup_bare_ms"`
	Starts        int             `json:"starts"` // start-up is the median of this many
	RSSIdleMB     float64         `json:"rss_idle_mb"`
	RSSLoadMB     float64         `json:"rss_load_mb"`
	RSSBareMB     float64         `json:"rss_bare_mb"`
	// DrainedS is how long after the purchase load the River queue had no
	// job available or running; JobsLeft is what was left if it did not.
	DrainedS   float64 `json:"side_effects_drained_s"`
	JobsAtStop int     `json:"jobs_at_stop"`
	JobsLeft   int     `json:"jobs_left"`
	Renewals   int     `json:"renewals"`
	Duration   string  `json:"duration"`
	Server     string  `json:"server"`
}

type benchEnv struct {
	c        *Config
	stderr   io.Writer
	token    string
	base     string
	db       *store.DB
	svc      *commerce.Service
	hc       *http.Client
	server   *benchProc
	rssPeak  atomic.Int64 // kB
	duration time.Duration
	report   *benchReport
	// starts is how many times start-up is measured (the median is
	// reported); startupOnly skips the workloads.
	starts      int
	startupOnly bool
	// selected names the workloads to run (--workloads); nil: all.
	selected map[string]bool
	// billingProfile, if set, is where the billing run writes its CPU
	// profile (--billing-cpuprofile).
	billingProfile string
}

// benchWorkloads are the names --workloads accepts, in the order they run.
var benchWorkloads = []string{"purchase", "seat_link", "portal_page", "license", "billing_run"}

// parseWorkloads reads --workloads: nil for all.
func parseWorkloads(list string) (map[string]bool, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	out := map[string]bool{}
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(benchWorkloads, w) {
			return nil, usageError{fmt.Sprintf("unknown workload %q in --workloads: want some of %s", w, strings.Join(benchWorkloads, ", "))}
		}
		out[w] = true
	}
	return out, nil
}

// runs says whether the workload w was selected.
func (b *benchEnv) runs(w string) bool { return b.selected == nil || b.selected[w] }

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("bench", stderr, getenv)
	setUsage(fs, benchUsage)
	quick := fs.Bool("quick", false, "short run: each workload about 5 s and few renewals")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	duration := fs.Duration("duration", 0, "how long each workload runs (default 20s, 5s with --quick)")
	renewals := fs.Int("renewals", 0, "subscriptions falling due in the billing run (default 100000, 2000 with --quick)")
	starts := fs.Int("starts", 5, "start-up is the median of this many starts of the server, each beside a start of the bare baseline")
	startupOnly := fs.Bool("startup-only", false, "measure start-up and idle memory only, no workload")
	billingProfile := fs.String("billing-cpuprofile", "", "write a CPU profile of the billing run's process to this file (go tool pprof)")
	only := fs.String("workloads", "", "comma-separated workloads to run (purchase, seat_link, portal_page, license, billing_run); default all")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *duration == 0 {
		*duration = map[bool]time.Duration{true: 5 * time.Second, false: 20 * time.Second}[*quick]
	}
	if *renewals == 0 {
		*renewals = map[bool]int{true: 2000, false: 100000}[*quick]
	}
	if *duration < 100*time.Millisecond || *duration > time.Hour || *renewals < 1 || *renewals > 10_000_000 {
		return usageError{"want 100ms ≤ --duration ≤ 1h and 1 ≤ --renewals ≤ 10000000"}
	}
	if *starts < 1 || *starts > 1000 {
		return usageError{"want 1 ≤ --starts ≤ 1000"}
	}
	selected, err := parseWorkloads(*only)
	if err != nil {
		return err
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "data-dir" })
	if !explicit {
		d, err := os.MkdirTemp("", "fulfill-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.DataDir = d
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return err
	}
	b := &benchEnv{c: c, stderr: stderr, duration: *duration, starts: *starts, startupOnly: *startupOnly, selected: selected, billingProfile: *billingProfile,
		report: &benchReport{Renewals: *renewals, Duration: duration.String(), Server: "child process `fulfill serve` on 127.0.0.1"}}
	tok := make([]byte, 24)
	rand.Read(tok)
	b.token = "bench-" + hex.EncodeToString(tok)
	if err := b.run(ctx); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b.report)
	}
	b.printTable(stdout)
	return nil
}

func (b *benchEnv) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

func (b *benchEnv) run(ctx context.Context) error {
	// A first start migrates, makes the signing key and loads the catalog;
	// start-up is measured on the second, as a restart is.
	b.logf("first start (migrations, key, catalog) in %s", b.c.DataDir)
	p, _, err := b.startServer(ctx)
	if err != nil {
		return err
	}
	p.stop()
	p, err = b.measureStartup(ctx)
	if err != nil {
		return err
	}
	defer p.stop()
	b.server = p

	db, err := b.c.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	b.db = db
	b.report.Database = string(db.Dialect)
	b.svc = &commerce.Service{DB: db, Clock: fulfill.ClockFunc(time.Now), Payments: testpay.New(), Tax: billing.DefaultTaxTable("US"),
		Keys: b.c.keyStore(), PublicURL: b.base}
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	b.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	time.Sleep(time.Second) // let the fresh server settle before measuring it idle
	b.report.RSSIdleMB = rssMB(p.pid())
	if b.startupOnly {
		return nil
	}
	stopSampler := b.sampleRSS()
	defer stopSampler()

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"purchase", b.benchPurchase},
		{"seat_link", b.benchSeatLink},
		{"portal_page", b.benchPortal},
		{"license", func(context.Context) error { b.benchLicense(); return nil }},
	}
	for _, st := range steps {
		if !b.runs(st.name) {
			continue
		}
		if err := st.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	b.report.RSSLoadMB = round1(float64(b.rssPeak.Load()) / 1024)
	if b.runs("billing_run") {
		if err := b.benchBillingRun(ctx); err != nil {
			return fmt.Errorf("billing_run: %w", err)
		}
	}
	return nil
}

// ---- child processes ----

type benchProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func (p *benchProc) pid() int { return p.cmd.Process.Pid }

// stop ends the child as an operator would (SIGTERM), killing it if it
// does not stop in 30 s.
func (p *benchProc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

func (b *benchEnv) dbArgs() []string {
	a := []string{"--data-dir", b.c.DataDir}
	if b.c.DatabaseURL != "" {
		a = append(a, "--database-url", b.c.DatabaseURL)
	}
	return a
}

func (b *benchEnv) startServer(ctx context.Context) (*benchProc, time.Duration, error) {
	return b.startChild(ctx, []string{"serve", "--log-level", "warn"})
}

// startChild starts `fulfill args… --addr 127.0.0.1:PORT` and returns once
// GET /healthz answers, with the time that took from the exec.
func (b *benchEnv) startChild(ctx context.Context, args []string) (*benchProc, time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args = append(append(args, b.dbArgs()...), "--addr", addr)
	cmd := benchExec(args)
	cmd.Env = append(envOf(cmd), "FULFILL_ADMIN_TOKEN="+b.token, "FULFILL_BENCH_UNTHROTTLED=1")
	log, err := os.OpenFile(filepath.Join(b.c.DataDir, "bench-"+args[0]+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, 0, err
	}
	p := &benchProc{cmd: cmd, done: make(chan struct{}), log: log}
	go func() { cmd.Wait(); close(p.done) }()
	b.base = "http://" + addr
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.done:
			log.Close()
			return nil, 0, fmt.Errorf("fulfill %s exited (%v); see %s", args[0], cmd.ProcessState, log.Name())
		case <-ctx.Done():
			p.stop()
			return nil, 0, ctx.Err()
		default:
		}
		if res, err := hc.Get(b.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, time.Since(t0), nil
			}
		}
		if time.Since(t0) > 2*time.Minute {
			p.stop()
			return nil, 0, fmt.Errorf("fulfill %s did not answer in 2 minutes; see %s", args[0], log.Name())
		}
		time.Sleep(time.Millisecond)
	}
}

// measureStartup starts the bare baseline and the server b.starts times
// each, in turn, and records the median times to the first answer; the
// last server started stays up (the caller stops it).
func (b *benchEnv) measureStartup(ctx context.Context) (*benchProc, error) {
	var served, bare []time.Duration
	var p *benchProc
	for i := range b.starts {
		if p != nil {
			p.stop()
		}
		bp, d, err := b.startChild(ctx, []string{"bench-bare-server"})
		if err != nil {
			return nil, fmt.Errorf("bare server: %w", err)
		}
		bare = append(bare, d)
		b.report.RSSBareMB = rssMB(bp.pid())
		bp.stop()
		if p, d, err = b.startServer(ctx); err != nil {
			return nil, err
		}
		served = append(served, d)
		b.logf("start %d: server up in %.1f ms (bare open and listen: %.1f ms)", i+1, msOf(d), msOf(bare[i]))
	}
	b.report.StartupMS, b.report.StartupBareMS, b.report.Starts = msOf(medianOf(served)), msOf(medianOf(bare)), b.starts
	b.logf("start-up: median %.1f ms (bare: %.1f ms) of %d starts", b.report.StartupMS, b.report.StartupBareMS, b.starts)
	return p, nil
}

// medianOf is the median of ds (the lower middle one of an even number).
func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// benchBareServer is the baseline of start-up and memory: open the
// database, check it answers, listen and answer /healthz. Not in the help.
func benchBareServer(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("bench-bare-server", stderr, getenv)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	db, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Write.PingContext(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// envOf is the environment cmd will run with.
func envOf(cmd *exec.Cmd) []string {
	if cmd.Env != nil {
		return cmd.Env
	}
	return os.Environ()
}

// rssMB is the resident set (VmRSS) of a process, in MB.
func rssMB(pid int) float64 { return round1(float64(rssKB(pid)) / 1024) }

func rssKB(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// sampleRSS records the server's peak VmRSS every 100 ms until stopped.
func (b *benchEnv) sampleRSS() func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if kb := rssKB(b.server.pid()); kb > b.rssPeak.Load() {
					b.rssPeak.Store(kb)
				}
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

// ---- load ----

// benchSample is what one side of a workload measured.
type benchSample struct {
	n   int
	el  time.Duration
	lat []time.Duration
}

func (s *benchSample) add(o benchSample) { s.n += o.n; s.el += o.el; s.lat = append(s.lat, o.lat...) }

func (s benchSample) rate() float64 {
	if s.el <= 0 {
		return 0
	}
	return float64(s.n) / s.el.Seconds()
}

// load runs op in a closed loop on clients workers for d; the first error
// stops it.
func load(ctx context.Context, clients int, d time.Duration, op func(ctx context.Context, worker, n int) error) (benchSample, error) {
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			var local []time.Duration
			for n := 0; runCtx.Err() == nil; n++ {
				t0 := time.Now()
				if err := op(context.WithoutCancel(ctx), w, n); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					break
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return benchSample{n: len(all), el: time.Since(start), lat: all}, firstErr
}

// pair measures a workload and its baseline interleaved: A, B, A, B, each
// for half the duration.
func (b *benchEnv) pair(ctx context.Context, name, baseline string, clients, baseClients int,
	op, baseOp func(ctx context.Context, worker, n int) error) (benchSample, error) {
	var a, bs benchSample
	for round := range 2 {
		b.logf("%s: round %d, %d clients, %s", name, round+1, clients, b.duration/2)
		s, err := load(ctx, clients, b.duration/2, op)
		if err != nil {
			return a, fmt.Errorf("%s: %w", name, err)
		}
		a.add(s)
		b.logf("  %s: %.0f/s", name, s.rate())
		s, err = load(ctx, baseClients, b.duration/2, baseOp)
		if err != nil {
			return a, fmt.Errorf("%s: %w", baseline, err)
		}
		bs.add(s)
		b.logf("  %s: %.0f/s", baseline, s.rate())
	}
	b.record(name, baseline, a, bs)
	return a, nil
}

func (b *benchEnv) record(name, baseline string, a, bs benchSample) {
	slices.Sort(a.lat)
	slices.Sort(bs.lat)
	w := benchWorkload{Name: name, Rate: round1(a.rate()), P50: msOf(pct(a.lat, 50)), P99: msOf(pct(a.lat, 99)), Baseline: baseline,
		BaselineRate: round1(bs.rate()), BaselineP99: msOf(pct(bs.lat, 99)), Count: a.n}
	if bs.rate() > 0 {
		w.Ratio = float64(int(a.rate()/bs.rate()*1000+0.5)) / 1000
	}
	b.report.Workloads = append(b.report.Workloads, w)
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// ---- HTTP ----

// apiCall sends a JSON request with the admin token; want is the expected
// status; out, if set, receives the answer.
func (b *benchEnv) apiCall(ctx context.Context, method, path string, body any, want int, out any, hdr ...string) error {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %.300s", method, path, res.StatusCode, want, raw)
	}
	if out != nil {
		if s, ok := out.(*string); ok {
			*s = string(raw)
			return nil
		}
		return json.Unmarshal(raw, out)
	}
	return nil
}

// ---- purchase ----

func (b *benchEnv) customers(ctx context.Context, n int, prefix string) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		c, err := b.svc.CreateCustomer(ctx, commerce.CustomerInput{Email: fmt.Sprintf("%s%d-%d@bench.example", prefix, i, time.Now().UnixNano()),
			Name: fmt.Sprintf("Bench %s %d", prefix, i), Country: "US"})
		if err != nil {
			return nil, err
		}
		ids[i] = c.ID
	}
	return ids, nil
}

func (b *benchEnv) purchaseOp(custs []string) func(ctx context.Context, w, n int) error {
	return func(ctx context.Context, w, n int) error {
		key := make([]byte, 12)
		rand.Read(key)
		return b.apiCall(ctx, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": custs[w], "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, http.StatusCreated, nil, "Idempotency-Key", "bench-"+hex.EncodeToString(key))
	}
}

func (b *benchEnv) benchPurchase(ctx context.Context) error {
	const clients = 32
	custs, err := b.customers(ctx, clients, "buyer")
	if err != nil {
		return err
	}
	// Count, per table, the rows that real purchases write, for the bare
	// baseline to write as many.
	before, err := benchTableCounts(ctx, b.db)
	if err != nil {
		return err
	}
	const warm = 4
	if _, err := load(ctx, clients, time.Hour, func(ctx context.Context, w, n int) error {
		if n >= warm {
			return errStop
		}
		return b.purchaseOp(custs)(ctx, w, n)
	}); err != nil && !errors.Is(err, errStop) {
		return err
	}
	after, err := benchTableCounts(ctx, b.db)
	if err != nil {
		return err
	}
	bare, err := newBarePurchase(ctx, b.db, before, after, clients*warm)
	if err != nil {
		return fmt.Errorf("bare purchase: %w", err)
	}
	b.logf("a purchase writes %s", bare.describe())
	jobsBefore, _ := b.db.PendingJobs(ctx)
	_ = jobsBefore
	if _, err := b.pair(ctx, "purchase", "bare_purchase", clients, clients, b.purchaseOp(custs), bare.op); err != nil {
		return err
	}
	// The side effects of the load: until no job is available or running.
	t0 := time.Now()
	left, err := b.db.PendingJobs(ctx)
	if err != nil {
		return err
	}
	b.report.JobsAtStop = left
	limit := max(10*b.duration, time.Minute)
	for left > 0 && time.Since(t0) < limit {
		time.Sleep(100 * time.Millisecond)
		if left, err = b.db.PendingJobs(ctx); err != nil {
			return err
		}
	}
	b.report.DrainedS = round1(time.Since(t0).Seconds())
	b.report.JobsLeft = left
	b.logf("side effects: %d jobs at the end of the load, %d left after %.1f s", b.report.JobsAtStop, left, time.Since(t0).Seconds())
	return nil
}

var errStop = errors.New("stop")

// tableCounts counts the rows of every table.
func benchTableCounts(ctx context.Context, db *store.DB) (map[string]int64, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'bench_%' ORDER BY name`
	if db.Dialect == store.Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'bench_%' ORDER BY tablename`
	}
	names, err := queryColumn(ctx, db, q)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range names {
		var n int64
		if err := db.Write.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}

func queryColumn(ctx context.Context, db *store.DB, q string, args ...any) ([]string, error) {
	rows, err := db.Write.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// barePurchase writes, in one transaction per purchase, as many rows in
// copies of each table (same columns, same indexes, no foreign keys or
// checks) as a real purchase writes, with values as long as the real ones
// on average, and takes a number from a counter row as the gapless invoice
// number is taken.
type barePurchase struct {
	db     *store.DB
	tables []bareTable
	seq    atomic.Int64
}

type bareTable struct {
	name    string
	rows    int
	insert  string
	columns []bareColumn
}

type bareColumn struct {
	kind string // text, int, small, bool, time, date, json, blob, real, array, enum:LABEL
	size int
}

func newBarePurchase(ctx context.Context, db *store.DB, before, after map[string]int64, purchases int) (*barePurchase, error) {
	bp := &barePurchase{db: db}
	names := slices.Sorted(func(yield func(string) bool) {
		for t := range after {
			if !yield(t) {
				return
			}
		}
	})
	for _, t := range names {
		rows := int((after[t] - before[t] + int64(purchases)/2) / int64(purchases))
		if rows <= 0 {
			continue
		}
		bt, err := bareCopy(ctx, db, t)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t, err)
		}
		bt.rows = rows
		bp.tables = append(bp.tables, bt)
	}
	if len(bp.tables) == 0 {
		return nil, errors.New("purchases wrote no rows")
	}
	for _, q := range []string{`DROP TABLE IF EXISTS bench_counter`, `CREATE TABLE bench_counter (name TEXT PRIMARY KEY, n BIGINT NOT NULL)`,
		`INSERT INTO bench_counter VALUES ('invoice', 0)`} {
		if _, err := db.Write.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	return bp, nil
}

func (bp *barePurchase) describe() string {
	var parts []string
	n := 0
	for _, t := range bp.tables {
		parts = append(parts, fmt.Sprintf("%s×%d", t.name, t.rows))
		n += t.rows
	}
	return fmt.Sprintf("%d rows in %d tables: %s", n, len(bp.tables), strings.Join(parts, ", "))
}

// bareCopy creates bench_T like T, and the INSERT for it.
func bareCopy(ctx context.Context, db *store.DB, t string) (bareTable, error) {
	bt := bareTable{name: t}
	copyName := "bench_" + t
	if _, err := db.Write.ExecContext(ctx, `DROP TABLE IF EXISTS `+quoteIdent(copyName)); err != nil {
		return bt, err
	}
	var names []string
	if db.Dialect == store.Postgres {
		if _, err := db.Write.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING INDEXES)`,
			quoteIdent(copyName), quoteIdent(t))); err != nil {
			return bt, err
		}
		rows, err := db.Write.QueryContext(ctx, `SELECT column_name, data_type, udt_name, COALESCE(character_maximum_length, 1) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position`, t)
		if err != nil {
			return bt, err
		}
		type col struct {
			name, typ, udt string
			bits           int
		}
		var cols []col
		for rows.Next() {
			var c col
			if err := rows.Scan(&c.name, &c.typ, &c.udt, &c.bits); err != nil {
				rows.Close()
				return bt, err
			}
			cols = append(cols, c)
		}
		rows.Close()
		for _, c := range cols {
			k := pgKind(c.typ)
			if k == "enum" {
				var label string
				if err := db.Write.QueryRowContext(ctx, `SELECT e.enumlabel FROM pg_enum e JOIN pg_type ty ON ty.oid = e.enumtypid
					WHERE ty.typname = $1 ORDER BY e.enumsortorder LIMIT 1`, c.udt).Scan(&label); err != nil {
					return bt, err
				}
				k = "enum:" + label
			}
			if k == "bit" {
				k = "bit:" + strings.Repeat("0", c.bits)
			}
			names = append(names, c.name)
			bt.columns = append(bt.columns, bareColumn{kind: k})
		}
	} else {
		rows, err := db.Write.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`, t)
		if err != nil {
			return bt, err
		}
		var defs, pk []string
		for rows.Next() {
			var name, typ string
			var p int
			if err := rows.Scan(&name, &typ, &p); err != nil {
				rows.Close()
				return bt, err
			}
			names = append(names, name)
			defs = append(defs, quoteIdent(name)+" "+typ)
			if p > 0 {
				pk = append(pk, quoteIdent(name))
			}
			bt.columns = append(bt.columns, bareColumn{kind: sqliteKind(typ)})
		}
		rows.Close()
		if len(pk) > 0 {
			defs = append(defs, "PRIMARY KEY ("+strings.Join(pk, ", ")+")")
		}
		if _, err := db.Write.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE %s (%s)`, quoteIdent(copyName), strings.Join(defs, ", "))); err != nil {
			return bt, err
		}
		idx, err := queryColumn(ctx, db, `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, t)
		if err != nil {
			return bt, err
		}
		for i, sql := range idx {
			on := strings.Index(strings.ToUpper(sql), " ON ")
			paren := strings.Index(sql[on:], "(")
			if on < 0 || paren < 0 {
				continue
			}
			unique := ""
			if strings.HasPrefix(strings.ToUpper(sql), "CREATE UNIQUE") {
				unique = "UNIQUE "
			}
			q := fmt.Sprintf(`CREATE %sINDEX %s ON %s %s`, unique, quoteIdent(fmt.Sprintf("bench_%s_%d", t, i)), quoteIdent(copyName), sql[on+paren:])
			if _, err := db.Write.ExecContext(ctx, q); err != nil {
				return bt, fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	// Values as long as the real ones, on average.
	var avgs []string
	for _, n := range names {
		avgs = append(avgs, fmt.Sprintf("COALESCE(AVG(LENGTH(CAST(%s AS TEXT))), 0)", quoteIdent(n)))
	}
	sizes := make([]float64, len(names))
	ptrs := make([]any, len(names))
	for i := range sizes {
		ptrs[i] = &sizes[i]
	}
	if err := db.Write.QueryRowContext(ctx, `SELECT `+strings.Join(avgs, ", ")+` FROM `+quoteIdent(t)).Scan(ptrs...); err != nil {
		return bt, fmt.Errorf("sizes: %w", err)
	}
	var marks, quoted []string
	for i, n := range names {
		bt.columns[i].size = int(sizes[i] + 0.5)
		quoted = append(quoted, quoteIdent(n))
		marks = append(marks, fmt.Sprintf("$%d", i+1))
	}
	bt.insert = fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)`, quoteIdent(copyName), strings.Join(quoted, ", "), strings.Join(marks, ", "))
	return bt, nil
}

func pgKind(typ string) string {
	switch typ {
	case "integer", "bigint":
		return "int"
	case "smallint":
		return "small"
	case "boolean":
		return "bool"
	case "timestamp with time zone", "timestamp without time zone":
		return "time"
	case "date":
		return "date"
	case "json", "jsonb":
		return "json"
	case "bytea":
		return "blob"
	case "real", "double precision", "numeric":
		return "real"
	case "ARRAY":
		return "array"
	case "USER-DEFINED":
		return "enum"
	case "bit", "bit varying":
		return "bit"
	case "uuid":
		return "uuid"
	}
	return "text"
}

func sqliteKind(typ string) string {
	t := strings.ToUpper(typ)
	switch {
	case strings.Contains(t, "INT"), strings.Contains(t, "BOOL"):
		return "int"
	case strings.Contains(t, "BLOB"):
		return "blob"
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return "real"
	}
	return "text"
}

func (c bareColumn) value(unique string, n int64, now time.Time) any {
	pad := func(s string) string {
		if len(s) < c.size {
			s += strings.Repeat("x", c.size-len(s))
		}
		return s
	}
	switch k := c.kind; {
	case k == "int":
		return n
	case k == "small":
		return 1
	case k == "bool":
		return false
	case k == "time":
		return now
	case k == "date":
		return now.Format(time.DateOnly)
	case k == "json":
		body := unique
		if len(body) < c.size-8 {
			body += strings.Repeat("x", c.size-8-len(body))
		}
		return `{"v":"` + body + `"}`
	case k == "blob":
		return []byte(pad(unique))
	case k == "real":
		return 0.5
	case k == "array":
		return "{}"
	case strings.HasPrefix(k, "enum:"):
		return strings.TrimPrefix(k, "enum:")
	case strings.HasPrefix(k, "bit:"):
		return strings.TrimPrefix(k, "bit:")
	case k == "uuid":
		b := make([]byte, 16)
		rand.Read(b)
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	}
	return pad(unique)
}

func (bp *barePurchase) op(ctx context.Context, w, n int) error {
	tx, err := bp.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = func() error {
		now := time.Now().UTC()
		for _, t := range bp.tables {
			for range t.rows {
				k := bp.seq.Add(1)
				unique := fmt.Sprintf("b%d_%d_%d", w, n, k)
				args := make([]any, len(t.columns))
				for i, c := range t.columns {
					args[i] = c.value(unique, k, now)
				}
				if _, err := tx.ExecContext(ctx, t.insert, args...); err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
			}
		}
		// The gapless number, one hot row, taken last as a purchase should.
		_, err := tx.ExecContext(ctx, `UPDATE bench_counter SET n = n + 1 WHERE name = 'invoice'`)
		return err
	}()
	if err != nil {
		return err
	}
	return tx.Commit()
}

// ---- seat links ----

func (b *benchEnv) benchSeatLink(ctx context.Context) error {
	const instances = 64
	custs, err := b.customers(ctx, instances, "instance")
	if err != nil {
		return err
	}
	keys := make([]string, instances)
	for i, c := range custs {
		res, err := b.svc.Purchase(ctx, "bench", commerce.PurchaseInput{CustomerID: c, Plan: "sm-premium", Seats: 100, PaymentMethod: "pm_card_visa"})
		if err != nil {
			return err
		}
		var a commerce.Activation
		if err := b.apiCall(ctx, "POST", "/api/v1/activations", map[string]any{"activation_code": res.ActivationCode,
			"instance_id": fmt.Sprintf("bench-instance-%d", i), "hostname": fmt.Sprintf("git%d.bench.example", i), "version": "18.0"},
			http.StatusCreated, &a); err != nil {
			return err
		}
		keys[i] = a.LicenseKey
	}
	b.logf("activated %d instances", instances)
	if _, err := b.db.Write.ExecContext(ctx, `DROP TABLE IF EXISTS bench_upsert`); err != nil {
		return err
	}
	if _, err := b.db.Write.ExecContext(ctx, `CREATE TABLE bench_upsert (id TEXT PRIMARY KEY, billable BIGINT NOT NULL, at TEXT NOT NULL)`); err != nil {
		return err
	}
	link := func(ctx context.Context, w, n int) error {
		return b.apiCall(ctx, "POST", "/api/v1/seat_links", map[string]any{"license_key": keys[w], "timestamp": time.Now().UTC().Format(time.RFC3339),
			"max_historical_user_count": 50 + n%10, "billable_users_count": 40 + n%10, "instance_id": fmt.Sprintf("bench-instance-%d", w),
			"hostname": fmt.Sprintf("git%d.bench.example", w), "version": "18.0"}, http.StatusOK, nil)
	}
	upsert := func(ctx context.Context, w, n int) error {
		_, err := b.db.Write.ExecContext(ctx, `INSERT INTO bench_upsert (id, billable, at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET billable = excluded.billable, at = excluded.at`, fmt.Sprintf("i%d", w), n, time.Now().UTC().Format(time.RFC3339Nano))
		return err
	}
	_, err = b.pair(ctx, "seat_link", "upsert", instances, instances, link, upsert)
	return err
}

// ---- portal ----

func (b *benchEnv) benchPortal(ctx context.Context) error {
	const users = 50
	seed, err := seedLoad(ctx, b.svc, b.db, users, users, io.Discard)
	if err != nil {
		return err
	}
	clients := make([]*http.Client, users)
	for i, u := range seed.users {
		jar, _ := cookiejar.New(nil)
		clients[i] = &http.Client{Transport: b.hc.Transport, Jar: jar, Timeout: 60 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := clients[i].PostForm(b.base+"/signin", url.Values{"email": {u.email}, "password": {loadPassword}})
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			return fmt.Errorf("sign in %s: status %d", u.email, res.StatusCode)
		}
	}
	b.logf("signed in %d users", users)
	get := func(hc *http.Client, path string) error {
		res, err := hc.Get(b.base + path)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("GET %s: status %d", path, res.StatusCode)
		}
		return nil
	}
	page := func(ctx context.Context, w, n int) error {
		return get(clients[w], "/subscriptions/"+seed.users[w].sub)
	}
	css := func(ctx context.Context, w, n int) error { return get(clients[w], "/static/style.css") }
	_, err = b.pair(ctx, "portal_page", "stylesheet", users, users, page, css)
	return err
}

// ---- licenses ----

func (b *benchEnv) benchLicense() {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer := license.NewSigner(priv)
	pub := priv.Public().(ed25519.PublicKey)
	ring, _ := license.NewKeyring(pub)
	now := time.Now().UTC()
	p := license.Payload{Version: license.PayloadVersion, ID: "lic_bench", Licensee: license.Licensee{Name: "Bench", Email: "bench@bench.example", Company: "Bench Ltd"},
		Plan: "premium", Seats: 100, SubscriptionID: "sub_bench", StartsAt: license.DateOf(now.AddDate(0, -1, 0)), ExpiresAt: license.DateOf(now.AddDate(1, 0, 0)),
		IssuedAt: now}
	data, err := signer.Sign(p)
	if err != nil {
		b.logf("sign: %v", err)
		return
	}
	f, err := license.Parse(data)
	if err != nil {
		b.logf("parse: %v", err)
		return
	}
	msg := append([]byte("fulfill-license-v1\n"), f.RawPayload...)
	sig := f.Signature
	cpu := func(op func() error) benchSample {
		s, _ := load(context.Background(), 1, b.duration/8, func(ctx context.Context, w, n int) error { return op() })
		return s
	}
	run := func(name, baseline string, op, bare func() error) {
		var a, bs benchSample
		for range 4 {
			a.add(cpu(op))
			bs.add(cpu(bare))
		}
		b.logf("%s: %.0f/s, %s: %.0f/s", name, a.rate(), baseline, bs.rate())
		b.record(name, baseline, a, bs)
	}
	run("verify", "ed25519_verify", func() error { _, err := ring.Verify(data, now); return err }, func() error {
		if !ed25519.Verify(pub, msg, sig) {
			return errors.New("bad signature")
		}
		return nil
	})
	run("sign", "ed25519_sign", func() error { _, err := signer.Sign(p); return err }, func() error { ed25519.Sign(priv, msg); return nil })
}

// ---- billing run ----

func (b *benchEnv) benchBillingRun(ctx context.Context) error {
	n := b.report.Renewals
	today := fulfill.Today(b.svc.Clock)
	// Terms that end on one day, before any other of the run's.
	due := today.AddDays(30)
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"email", "name", "company", "country", "plan", "seats", "starts_on", "ends_on"})
	stamp := time.Now().UnixNano()
	for i := range n {
		cw.Write([]string{fmt.Sprintf("renew%d-%d@bench.example", i, stamp), fmt.Sprintf("Renewal %d", i), fmt.Sprintf("Company %d", i),
			"US", "sm-premium", "10", due.AddDays(-365).String(), due.String()})
	}
	cw.Flush()
	b.logf("billing_run: importing %d subscriptions falling due on %s", n, due)
	t0 := time.Now()
	rep, err := b.svc.Import(ctx, commerce.ImportCustomers, &buf, commerce.ImportOptions{Actor: "bench"})
	if err != nil {
		return err
	}
	if len(rep.Rejected) > 0 {
		return fmt.Errorf("import rejected %d rows, first: %s", len(rep.Rejected), rep.Rejected[0])
	}
	b.logf("  imported in %s", time.Since(t0).Round(time.Millisecond))
	if _, err := b.db.Write.ExecContext(ctx, `DROP TABLE IF EXISTS bench_commit`); err != nil {
		return err
	}
	if _, err := b.db.Write.ExecContext(ctx, `CREATE TABLE bench_commit (id BIGINT PRIMARY KEY, at TEXT NOT NULL)`); err != nil {
		return err
	}
	var k atomic.Int64
	commits := func(count int) (benchSample, error) {
		start := time.Now()
		for range count {
			if _, err := b.db.Write.ExecContext(ctx, `INSERT INTO bench_commit (id, at) VALUES ($1, $2)`, k.Add(1), time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
				return benchSample{}, err
			}
		}
		return benchSample{n: count, el: time.Since(start)}, nil
	}
	var base benchSample
	s, err := commits(n / 2)
	if err != nil {
		return err
	}
	base.add(s)
	b.logf("  %d one-row commits: %.0f/s", n/2, s.rate())
	args := append([]string{"billing", "run", "--date", due.String()}, b.dbArgs()...)
	if b.billingProfile != "" {
		args = append(args, "--cpuprofile", b.billingProfile)
	}
	cmd := benchExec(args)
	cmd.Env = envOf(cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, b.stderr
	t0 = time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("fulfill billing run: %v\n%s", err, out.String())
	}
	el := time.Since(t0)
	b.logf("  billing run: %s in %s", strings.TrimSpace(out.String()), el.Round(time.Millisecond))
	s, err = commits(n - n/2)
	if err != nil {
		return err
	}
	base.add(s)
	b.logf("  %d one-row commits: %.0f/s", n-n/2, s.rate())
	run := benchSample{n: n, el: el, lat: []time.Duration{el}}
	b.record("billing_run", "one_row_commit", run, base)
	w := &b.report.Workloads[len(b.report.Workloads)-1]
	w.P50, w.P99 = 0, 0 // one run: its time is n / rate
	return nil
}

// ---- output ----

func (b *benchEnv) printTable(w io.Writer) {
	r := b.report
	if b.startupOnly {
		fmt.Fprintf(w, "fulfill bench --startup-only on %s, server: %s\n\n", r.Database, r.Server)
		b.printStartup(w)
		fmt.Fprintf(w, "resident memory: %.1f MB idle (bare: %.1f MB)\n", r.RSSIdleMB, r.RSSBareMB)
		return
	}
	fmt.Fprintf(w, "fulfill bench on %s, %s per workload, server: %s\n\n", r.Database, r.Duration, r.Server)
	fmt.Fprintf(w, "%-12s %10s %9s %9s   %-16s %10s %9s %7s\n", "workload", "rate/s", "p50 ms", "p99 ms", "baseline", "rate/s", "p99 ms", "ratio")
	for _, x := range r.Workloads {
		fmt.Fprintf(w, "%-12s %10.1f %9.2f %9.2f   %-16s %10.1f %9.2f %7.3f\n", x.Name, x.Rate, x.P50, x.P99, x.Baseline, x.BaselineRate, x.BaselineP99, x.Ratio)
	}
	fmt.Fprintln(w)
	if b.runs("billing_run") {
		fmt.Fprintf(w, "billing run: %d renewals\n", r.Renewals)
	}
	b.printStartup(w)
	fmt.Fprintf(w, "resident memory: %.1f MB idle, %.1f MB peak under load (bare: %.1f MB)\n", r.RSSIdleMB, r.RSSLoadMB, r.RSSBareMB)
	switch {
	case !b.runs("purchase"):
	case r.JobsLeft == 0:
		fmt.Fprintf(w, "side effects of the purchase load: %d jobs waiting at its end, drained %.1f s after\n", r.JobsAtStop, r.DrainedS)
	default:
		fmt.Fprintf(w, "side effects of the purchase load: %d jobs waiting at its end, %d still left %.1f s after\n", r.JobsAtStop, r.JobsLeft, r.DrainedS)
	}
}

func (b *benchEnv) printStartup(w io.Writer) {
	r := b.report
	fmt.Fprintf(w, "start-up to first answer: %.1f ms (bare open and listen: %.1f ms), median of %d starts\n", r.StartupMS, r.StartupBareMS, r.Starts)
}

// unthrottled are instance limits no load generator reaches.
func unthrottled() api.InstanceLimits {
	r := api.Rate{N: 1 << 30, Per: time.Second}
	l := api.InstanceLimit{PerIP: r, PerInstance: r}
	return api.InstanceLimits{Activations: l, FailedActivationsPerIP: r, SeatLinks: l, UsageData: l, UsageFiles: l}
}
