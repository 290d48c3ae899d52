package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// BenchmarkPurchase measures one self-managed purchase by card: the
// subscription, invoice, payment, ledger postings, license, email, events and
// their jobs, in atomic phases (intent, charge, outcome).
func BenchmarkPurchase(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			url := dbtest.SQLiteURL(b)
			if engine == "postgres" {
				url = dbtest.PostgresURL(b)
			}
			e := newEnv(b, url, "2026-01-01")
			c, err := e.svc.CreateCustomer(context.Background(), commerce.CustomerInput{Email: "bench@example.com", Name: "B", Country: "US"})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.svc.Purchase(context.Background(), "bench", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium",
					Seats: 10, PaymentMethod: "pm_card_visa"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPurchaseParallel measures purchase throughput under concurrency:
// 32 clients (b.SetParallelism), each with its own customer, each request
// through the HTTP API with its own Idempotency-Key, as `fulfill bench`
// loads a server. It reports purchases/s and the p50/p99 latency, and how
// long the side effects the load caused (mail, events, webhooks) took to
// drain after it stopped.
func BenchmarkPurchaseParallel(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			url := dbtest.SQLiteURL(b)
			if engine == "postgres" {
				url = dbtest.PostgresURL(b)
			}
			e := newEnv(b, url, "2026-01-01")
			const clients = 32
			customers := make(chan string, clients)
			for range clients {
				customers <- e.customer("US", "")
			}
			load := parallelLoad(b, clients, customers, http.StatusCreated, func(cus string, i int64) *http.Request {
				body := `{"customer_id":"` + cus + `","plan":"sm-premium","seats":10,"payment_method":"pm_card_visa"}`
				req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/subscriptions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", cus, i))
				return req
			})
			if len(load.lat) == 0 {
				return
			}
			load.report(b, "purchases/s")
			b.ReportMetric(drainSeconds(b, e), "drain_s")
			// The process's CPU (server, River's workers and, on SQLite, the
			// database) per purchase, its side effects drained included:
			// steadier than the rate on a shared machine.
			b.ReportMetric(load.cpuPer(), "cpu_ms/purchase")
		})
	}
}

// A load is the outcome of parallelLoad: each request's latency, sorted,
// and when the load began.
type load struct {
	lat     []time.Duration
	elapsed time.Duration
	cpu0    time.Duration // the process's CPU time when it began
}

// parallelLoad sends b.N requests from clients goroutines through one
// HTTP client, each goroutine taking its own state from states and making
// its requests with req (i counts all requests from 1), and fails the
// benchmark on an answer other than want.
func parallelLoad[S any](b *testing.B, clients int, states <-chan S, want int, req func(state S, i int64) *http.Request) load {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var mu sync.Mutex
	var lat []time.Duration
	var n atomic.Int64
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		state := <-states
		var mine []time.Duration
		for pb.Next() {
			r := req(state, n.Add(1))
			t0 := time.Now()
			resp, err := client.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if resp.StatusCode != want {
				b.Errorf("%s %s: status %d, want %d", r.Method, r.URL.Path, resp.StatusCode, want)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	return load{lat: lat, elapsed: elapsed, cpu0: cpu0}
}

// report reports the rate (as rateUnit) and the p50 and p99 latencies.
func (l load) report(b *testing.B, rateUnit string) {
	b.ReportMetric(float64(len(l.lat))/l.elapsed.Seconds(), rateUnit)
	b.ReportMetric(float64(l.lat[len(l.lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(l.lat[len(l.lat)*99/100].Microseconds())/1000, "p99_ms")
}

// cpuPer is the process's CPU, in milliseconds, per request of the load,
// from its start until now.
func (l load) cpuPer() float64 {
	return float64((cpuTime() - l.cpu0).Microseconds()) / 1000 / float64(len(l.lat))
}

// drainSeconds measures how long the jobs the load left available or
// running take to be worked (every queue: mail, events, webhooks). It is a
// measurement, not a check: a drain over two minutes is reported as such.
func drainSeconds(b *testing.B, e *env) float64 {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	for time.Since(t0) < 2*time.Minute {
		n, err := e.db.PendingJobs(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0).Seconds()
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
