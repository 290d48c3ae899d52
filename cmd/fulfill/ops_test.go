package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// copyProc is a real `fulfill serve` process (this test binary re-run), a
// copy of the server on a shared database.
type copyProc struct {
	cmd    *exec.Cmd
	addr   chan string // the address, once it serves
	done   chan struct{}
	err    error // the exit, once done is closed
	stderr syncBuffer
	stdout syncBuffer
}

// serveArgs is a serve command line for a copy with its own data dir.
func serveArgs(t *testing.T, dbURL string, extra ...string) []string {
	dir := filepath.Join(t.TempDir(), "data")
	db := dbURL
	if !strings.HasPrefix(dbURL, "postgres") {
		db = strings.TrimPrefix(dbURL, "file:")
	}
	return append([]string{"serve", "--data-dir", dir, "--database-url", db, "--addr", "127.0.0.1:0"}, extra...)
}

// spawnCopy starts a copy and returns at once.
func spawnCopy(t *testing.T, args []string, vars map[string]string) *copyProc {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FULFILL_TEST_CHILD=1", "FULFILL_TEST_ARGS="+string(a), "FULFILL_ADMIN_TOKEN="+e2eToken)
	if _, ok := vars["FULFILL_ACCEPT_DATA_LOSS"]; !ok {
		cmd.Env = append(cmd.Env, "FULFILL_ACCEPT_DATA_LOSS=1") // the shared test cluster runs with fsync off
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &copyProc{cmd: cmd, addr: make(chan string, 1), done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.stdout.Write([]byte(sc.Text() + "\n"))
			if m := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				p.addr <- m[1]
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// serving waits until the copy serves and returns its address, or fails
// the test with what it said.
func (p *copyProc) serving(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.addr:
		p.addr <- a
		return a
	case <-p.done:
		t.Fatalf("copy exited (%v) instead of serving:\n%s", p.err, p.stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("copy did not start:\n%s", p.stderr.String())
	}
	return ""
}

// exited waits for the copy to end and returns its exit error.
func (p *copyProc) exited(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("copy still running after %s:\n%s", within, p.stderr.String())
	}
	return nil
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *copyProc) terminate(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.exited(t, 60*time.Second); err != nil {
		t.Fatalf("after SIGTERM the copy ended with %v:\n%s", err, p.stderr.String())
	}
}

// buy creates a customer and a self-managed subscription through s and
// returns the activation code.
func buy(t *testing.T, s *server, email string) string {
	t.Helper()
	var cus struct{ ID string }
	if c := s.call("POST", "/api/v1/customers", map[string]any{"email": email, "name": "Kim Copy", "country": "US"}, &cus); c != 201 {
		t.Fatalf("customer through %s: %d", s.addr, c)
	}
	var p struct {
		ActivationCode string `json:"activation_code"`
	}
	if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 10,
		"payment_method": "pm_card_visa"}, &p); c != 201 || p.ActivationCode == "" {
		t.Fatalf("purchase through %s: %d", s.addr, c)
	}
	return p.ActivationCode
}

// Issue 11, one key for all copies: a second copy with a data dir (and so a
// key) of its own refuses to start on a database whose licenses another key
// signed, naming the key and what to do; given the first copy's key file it
// starts, and licenses bought through either activate through the other.
func TestCopiesShareTheSigningKey(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dbURL string) {
		firstArgs := serveArgs(t, dbURL)
		first := spawnCopy(t, firstArgs, nil)
		a := &server{t: t, addr: first.serving(t)}
		codeA := buy(t, a, "first@example.com")
		keyDir := filepath.Join(firstArgs[2], "keys")
		keyFiles, _ := filepath.Glob(filepath.Join(keyDir, "*.key"))
		if len(keyFiles) != 1 {
			t.Fatalf("first copy's keys: %v", keyFiles)
		}
		kid := strings.TrimSuffix(filepath.Base(keyFiles[0]), ".key")

		alone := spawnCopy(t, serveArgs(t, dbURL), nil)
		err := alone.exited(t, 60*time.Second)
		msg := exitLine(alone.stderr.String())
		if err == nil || !strings.Contains(msg, kid) || !strings.Contains(msg, "FULFILL_SIGNING_KEY_FILE") {
			t.Fatalf("a copy without the key: exit %v, said (want one line naming %s and what to do):\n%s", err, kid, msg)
		}
		if keys, _ := filepath.Glob(filepath.Join(t.TempDir(), "*", "keys", "*.key")); len(keys) > 0 {
			t.Fatalf("the refused copy generated keys: %v", keys)
		}

		// Both ways of sharing: the key file, and the key folder.
		for _, how := range []struct {
			vars  map[string]string
			extra []string
		}{
			{vars: map[string]string{"FULFILL_SIGNING_KEY_FILE": keyFiles[0]}},
			{extra: []string{"--keys-dir", keyDir}},
		} {
			second := spawnCopy(t, serveArgs(t, dbURL, how.extra...), how.vars)
			b := &server{t: t, addr: second.serving(t)}
			codeB := buy(t, b, fmt.Sprintf("second-%d@example.com", time.Now().UnixNano()))
			for _, act := range []struct{ code, through string }{{codeA, b.addr}, {codeB, a.addr}} {
				state := filepath.Join(t.TempDir(), "instance")
				if out, err := run(t, "instance", "activate", "--server", act.through, "--code", act.code, "--state-dir", state); err != nil {
					t.Fatalf("activate through %s: %v\n%s", act.through, err, out)
				}
			}
			second.terminate(t)
		}
		first.terminate(t)
	})
}

// Issue 11, acceptance 2: two copies started at the same instant on an
// empty database, ten rounds on each database: both serve, neither fails.
func TestCopiesStartAtOnceOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dbURL string) {
		for round := 0; round < 10; round++ {
			url := dbURL
			if round > 0 {
				if strings.HasPrefix(dbURL, "postgres") {
					url = dbtest.PostgresURL(t)
				} else {
					url = dbtest.SQLiteURL(t)
				}
			}
			keys := t.TempDir() // shared, so neither refuses the other's key
			procs := make([]*copyProc, 2)
			var wg sync.WaitGroup
			for i := range procs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					procs[i] = spawnCopy(t, serveArgs(t, url, "--keys-dir", keys), nil)
				}()
			}
			wg.Wait()
			for _, p := range procs {
				p.serving(t)
			}
			for _, p := range procs {
				p.terminate(t)
			}
		}
	})
}

// durable is the environment of a copy on a durable database: no
// --accept-data-loss.
var durable = map[string]string{"FULFILL_ACCEPT_DATA_LOSS": ""}

// get answers a GET with its status, Retry-After and body.
func get(t *testing.T, url string, cookies ...*http.Cookie) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// Issue 11, acceptance 3: PostgreSQL stops under a running copy: /readyz
// turns unready saying the database is unreachable, API requests and web
// pages get 503 database_unavailable with Retry-After; PostgreSQL returns:
// ready again, and requests succeed.
func TestDatabaseOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	cl := dbtest.NewCluster(t)
	url := cl.NewDatabase("outage")
	p := spawnCopy(t, serveArgs(t, url), durable)
	s := &server{t: t, addr: p.serving(t)}
	if st, _, body := get(t, s.addr+"/readyz"); st != 200 {
		t.Fatalf("readyz before the outage: %d %s", st, body)
	}
	buy(t, s, "before@example.com")

	cl.Stop()
	var body string
	waitFor(t, "readyz to turn unready", time.Minute, func() bool {
		var st int
		st, _, body = get(t, s.addr+"/readyz")
		return st == 503
	})
	if !strings.Contains(body, "database unreachable") || strings.Contains(body, "migrat") {
		t.Errorf("readyz during the outage says %q, want the database unreachable", body)
	}
	st, retry, body := get(t, s.addr+"/api/v1/customers")
	var e struct{ Error struct{ Code string } }
	json.Unmarshal([]byte(body), &e)
	if st != 503 || retry == "" || e.Error.Code != "database_unavailable" {
		t.Errorf("API during the outage: %d Retry-After %q %s", st, retry, body)
	}
	st, retry, body = get(t, s.addr+"/admin/customers", &http.Cookie{Name: "fulfill_session", Value: "some-session"})
	if st != 503 || retry == "" || !strings.Contains(body, "retry") {
		t.Errorf("web page during the outage: %d Retry-After %q %.300s", st, retry, body)
	}

	cl.Start()
	waitFor(t, "readyz to turn ready", time.Minute, func() bool {
		st, _, _ := get(t, s.addr+"/readyz")
		return st == 200
	})
	buy(t, s, "after@example.com")
	// The metrics counted the refused requests by route and status.
	st, _, metrics := get(t, s.addr+"/metrics")
	counted := false
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "fulfill_http_requests_total{") && strings.Contains(line, "/api/v1/customers") &&
			strings.Contains(line, `status="503"`) {
			counted = true
		}
	}
	if st != 200 || !counted {
		t.Errorf("metrics after the outage (%d) count no 503 for /api/v1/customers:\n%.2000s", st, metrics)
	}
	p.terminate(t)
}

// Issue 11, durability at start: on PostgreSQL with synchronous_commit
// off the server refuses to start with a one-line reason; with
// --accept-data-loss it starts and says so in a WARN line.
func TestStartRefusedWhenCommitsAreNotDurable(t *testing.T) {
	t.Parallel()
	cl := dbtest.NewCluster(t)
	url := cl.NewDatabase("lossy")
	cl.Exec("ALTER DATABASE lossy SET synchronous_commit = off")

	refused := spawnCopy(t, serveArgs(t, url), durable)
	err := refused.exited(t, 60*time.Second)
	msg := exitLine(refused.stderr.String())
	if err == nil || !strings.Contains(msg, "synchronous_commit = off") || !strings.Contains(msg, "--accept-data-loss") {
		t.Fatalf("start on synchronous_commit = off: exit %v, said (want one line):\n%s", err, msg)
	}

	accepted := spawnCopy(t, serveArgs(t, url, "--accept-data-loss"), durable)
	accepted.serving(t)
	if log := accepted.stderr.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "DATA LOSS ACCEPTED") {
		t.Errorf("no WARN line about the accepted data loss:\n%s", log)
	}
	accepted.terminate(t)
}

// Issue 11, graceful stop: at SIGTERM a request in flight (its body half
// sent) still completes, and a job running then (a provisioning request the
// SaaS product is slow to answer) completes rather than being cancelled;
// then the process exits cleanly.
func TestSIGTERMFinishesRequestsAndJobsInFlight(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dbURL string) {
		arrived, release := make(chan struct{}, 10), make(chan struct{})
		saasProduct := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-time.After(8 * time.Second): // below the provisioning request timeout
			}
			w.Write([]byte("{}"))
		}))
		defer saasProduct.Close()
		p := spawnCopy(t, serveArgs(t, dbURL, "--saas-provisioning-url", saasProduct.URL), nil)
		s := &server{t: t, addr: p.serving(t)}
		var cus struct{ ID string }
		if c := s.call("POST", "/api/v1/customers", map[string]any{"email": "stop@example.com", "name": "Sam Stop", "country": "US"}, &cus); c != 201 {
			t.Fatalf("customer: %d", c)
		}
		if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "saas-premium", "seats": 3,
			"payment_method": "pm_card_visa", "namespace": "stopgroup"}, nil); c != 201 {
			t.Fatalf("SaaS purchase: %d", c)
		}
		select {
		case <-arrived: // the provisioning job is running now
		case <-time.After(30 * time.Second):
			t.Fatal("no provisioning request")
		}

		// A request in flight: headers and half the body sent.
		idle := inFlight(t, s.addr)
		host := strings.TrimPrefix(s.addr, "http://")
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := `{"email": "inflight@example.com", "name": "Ines Flight", "country": "US"}`
		fmt.Fprintf(conn, "POST /api/v1/customers HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			host, e2eToken, len(body), body[:10])
		// The server has read the headers (this is what it must wait for).
		waitFor(t, "the half-sent request in flight", time.Minute, func() bool { return inFlight(t, s.addr) > idle })

		p.cmd.Process.Signal(syscall.SIGTERM)
		waitFor(t, "the listener to close", time.Minute, func() bool {
			c, err := net.DialTimeout("tcp", host, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		fmt.Fprint(conn, body[10:])
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("the request in flight got no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("the request in flight answered %d", resp.StatusCode)
		}
		close(release)
		if err := p.exited(t, 60*time.Second); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
		}

		db, err := store.Open(context.Background(), strings.TrimPrefix(dbURL, "file:"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var state string
		var attempts int
		if err := db.Write.QueryRow(`SELECT state, attempt FROM river_job WHERE kind = 'saas.provision'`).Scan(&state, &attempts); err != nil {
			t.Fatal(err)
		}
		if state != "completed" || attempts != 1 {
			t.Fatalf("the job running at SIGTERM: state %s after %d attempts, want completed at the first", state, attempts)
		}
		var n int
		db.Write.QueryRow(`SELECT COUNT(*) FROM customers WHERE email = 'inflight@example.com'`).Scan(&n)
		if n != 1 {
			t.Fatalf("the customer of the request in flight: %d rows", n)
		}
	})
}

// exitLine is the one line a failed command ends with ("fulfill: …").
func exitLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := lines[len(lines)-1]; strings.HasPrefix(last, "fulfill: ") {
		return last
	}
	return stderr // not one line: the checks on it fail with all of it shown
}

// inFlight reads fulfill_http_requests_in_flight from the server's
// /metrics (the scrape itself is one of them).
func inFlight(t *testing.T, addr string) float64 {
	t.Helper()
	_, _, metrics := get(t, addr+"/metrics")
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, "fulfill_http_requests_in_flight "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no fulfill_http_requests_in_flight in /metrics:\n%.1000s", metrics)
	return 0
}
