package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// BenchmarkSeatLinkParallel measures seat links as `fulfill bench` loads
// them: 64 activated instances, each with its own subscription, each
// syncing through the HTTP API. It reports seat links/s, the p50/p99
// latency and the process's CPU per seat link.
func BenchmarkSeatLinkParallel(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			url := dbtest.SQLiteURL(b)
			if engine == "postgres" {
				url = dbtest.PostgresURL(b)
			}
			e := newEnvAPI(b, url, "2026-01-01", func(s *api.Server) {
				r := api.Rate{N: 1 << 30, Per: time.Second}
				l := api.InstanceLimit{PerIP: r, PerInstance: r}
				s.InstanceLimits = api.InstanceLimits{Activations: l, FailedActivationsPerIP: r, SeatLinks: l, UsageData: l, UsageFiles: l}
			})
			const clients = 64
			keys := make(chan [2]string, clients)
			for i := range clients {
				l := e.buy(fmt.Sprintf("seat%d@example.com", i))
				id := fmt.Sprintf("bench-%d", i)
				e.activate(l, id)
				keys <- [2]string{l.license, id}
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			var mu sync.Mutex
			var lat []time.Duration
			var n atomic.Int64
			b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				k := <-keys
				var mine []time.Duration
				for pb.Next() {
					i := n.Add(1)
					body, _ := json.Marshal(map[string]any{"license_key": k[0], "timestamp": "2026-01-01T10:00:00Z",
						"max_historical_user_count": 50 + i%10, "billable_users_count": 40 + i%10, "instance_id": k[1],
						"hostname": "git.bench.example", "version": "18.0"})
					req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/seat_links", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mine = append(mine, time.Since(t0))
					if resp.StatusCode != http.StatusOK {
						b.Errorf("seat link: status %d", resp.StatusCode)
						return
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "seat_links/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(len(lat)), "cpu_ms/link")
		})
	}
}
