package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
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
			load := parallelLoad(b, clients, keys, http.StatusOK, func(k [2]string, i int64) *http.Request {
				body, _ := json.Marshal(map[string]any{"license_key": k[0], "timestamp": "2026-01-01T10:00:00Z",
					"max_historical_user_count": 50 + i%10, "billable_users_count": 40 + i%10, "instance_id": k[1],
					"hostname": "git.bench.example", "version": "18.0"})
				req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/seat_links", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				return req
			})
			if len(load.lat) == 0 {
				return
			}
			load.report(b, "seat_links/s")
			b.ReportMetric(load.cpuPer(), "cpu_ms/link")
		})
	}
}
