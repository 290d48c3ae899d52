package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// scrape reads /metrics at url with token ("" sends none).
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sample is the value of the series written exactly as series (name and
// labels in Prometheus' sorted order), 0 when absent.
func sample(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// Issue 11, acceptance 8: /metrics on the main listener needs the admin
// token, and after a purchase (and a declined one) the business and HTTP
// counters have moved by exactly what happened.
func TestMetricsCountPurchasesBehindAdminToken(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		s := startServer(t, url)
		if code, _ := scrape(t, s.addr+"/metrics", ""); code != http.StatusUnauthorized {
			t.Fatalf("/metrics without a token: %d, want 401", code)
		}
		if code, _ := scrape(t, s.addr+"/metrics", "not-the-admin-token-0123456789abcdef"); code != http.StatusUnauthorized {
			t.Fatalf("/metrics with a wrong token: %d, want 401", code)
		}
		code, before := scrape(t, s.addr+"/metrics", e2eToken)
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		const purchases = `fulfill_purchases_total{plan="sm-premium"}`
		const created = `fulfill_http_requests_total{method="POST",route="POST /api/v1/subscriptions",status="201"}`
		const declined = `fulfill_payment_failures_total{code="card_declined"}`
		if sample(t, before, purchases) != 0 || sample(t, before, created) != 0 {
			t.Fatalf("counters not zero at start:\n%s", before)
		}
		var cus struct{ ID string }
		if c := s.call("POST", "/api/v1/customers", map[string]any{"email": "m@example.com", "name": "M", "country": "US"}, &cus); c != 201 {
			t.Fatalf("customer: %d", c)
		}
		if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, nil); c != 201 {
			t.Fatalf("purchase: %d", c)
		}
		if c := s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_chargeDeclined"}, nil); c/100 != 4 {
			t.Fatalf("declined purchase: %d", c)
		}
		s.call("GET", "/api/v1/subscriptions/sub_nope", nil, nil)
		_, after := scrape(t, s.addr+"/metrics", e2eToken)
		for series, want := range map[string]float64{
			purchases: 1,
			created:   1,
			declined:  1,
			`fulfill_business_events_total{type="subscription.created"}`:                                    1,
			`fulfill_http_requests_total{method="GET",route="GET /api/v1/subscriptions/{id}",status="404"}`: 1,
			`fulfill_http_request_duration_seconds_count{method="POST",route="POST /api/v1/subscriptions"}`: 2,
			`fulfill_http_requests_total{method="GET",route="GET /metrics",status="401"}`:                   2,
			`fulfill_jobs_scrape_ok`: 1,
		} {
			if got := sample(t, after, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		for _, name := range []string{"go_sql_open_connections{db_name=\"write\"}", "fulfill_jobs{"} {
			if !strings.Contains(after, name) {
				t.Errorf("no %s in the metrics", name)
			}
		}
	})
}

// With --metrics-addr the metrics are on their own listener without
// authentication, and the main listener no longer serves them.
func TestMetricsOnSeparateAddressNeedNoToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--metrics-addr", "127.0.0.1:0")
	out := s.out
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if m := regexp.MustCompile(`Metrics at (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no metrics address in:\n%s", out.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if code, text := scrape(t, addr, ""); code != 200 || !strings.Contains(text, "fulfill_http_requests_total") && !strings.Contains(text, "go_goroutines") {
		t.Fatalf("metrics listener: %d\n%s", code, text)
	}
	if code, _ := scrape(t, s.addr+"/metrics", e2eToken); code != http.StatusNotFound {
		t.Fatalf("main listener /metrics with --metrics-addr: %d, want 404", code)
	}
}

// Every answer carries a request id: the client's when it sends a plain
// one, a new one otherwise.
func TestRequestIDHonouredAndReturned(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	for _, tc := range []struct{ sent, want string }{{"probe-42", "probe-42"}, {"", ""}, {"bad id\twith tab", ""}} {
		req, _ := http.NewRequest("GET", s.addr+"/healthz", nil)
		if tc.sent != "" {
			req.Header.Set("X-Request-Id", tc.sent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if tc.want != "" && got != tc.want || tc.want == "" && !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(got) {
			t.Errorf("sent %q: got X-Request-Id %q", tc.sent, got)
		}
	}
}

// A purchase logs one JSON line for its business event carrying the id of
// the request that made it; a webhook endpoint that cannot be reached
// counts as delivery and job failures; a seat link is counted.
func TestMetricsAndLogsFollowEventsJobsAndSeatLinks(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--simulated-clock", "2026-01-01",
			"--log-format", "json"}, &out, &logs, env(map[string]string{"FULFILL_ADMIN_TOKEN": e2eToken}))
	}()
	t.Cleanup(func() { cancel(); <-done })
	var s *server
	deadline := time.Now().Add(30 * time.Second)
	for s == nil {
		if m := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			s = &server{t: t, addr: m[1], dataDir: dir, out: &out}
		} else if time.Now().After(deadline) {
			t.Fatalf("no server:\n%s", out.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if c := s.call("POST", "/api/v1/webhook_endpoints", map[string]any{"url": "http://127.0.0.1:1/hook",
		"events": []string{"subscription.created"}}, nil); c != 201 {
		t.Fatalf("webhook endpoint: %d", c)
	}
	var cus struct{ ID string }
	s.call("POST", "/api/v1/customers", map[string]any{"email": "l@example.com", "name": "L", "country": "US"}, &cus)
	body, _ := json.Marshal(map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 5, "payment_method": "pm_card_visa"})
	req, _ := http.NewRequest("POST", s.addr+"/api/v1/subscriptions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("X-Request-Id", "buy-0001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ActivationCode string `json:"activation_code"`
	}
	json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("purchase: %d", resp.StatusCode)
	}
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "event" && l["type"] == "subscription.created" {
			found = true
			if l["request_id"] != "buy-0001" || l["level"] != "INFO" {
				t.Errorf("event line %s: want request_id buy-0001 at INFO", line)
			}
		}
	}
	if !found {
		t.Errorf("no JSON event line for the purchase in:\n%s", logs.String())
	}
	state := filepath.Join(t.TempDir(), "inst")
	mustRun(t, "instance", "activate", "--server", s.addr, "--code", p.ActivationCode, "--state-dir", state, "--now", "2026-01-01")
	mustRun(t, "instance", "sync", "--server", s.addr, "--state-dir", state, "--billable", "3", "--max", "3", "--now", "2026-01-01")

	deadline = time.Now().Add(30 * time.Second)
	for {
		_, text := scrape(t, s.addr+"/metrics", e2eToken)
		hooks := sample(t, text, `fulfill_delivery_failures_total{kind="webhook"}`)
		jobs := sample(t, text, `fulfill_job_failures_total{kind="webhook.deliver"}`)
		links := sample(t, text, `fulfill_seat_links_total`)
		if hooks >= 1 && jobs == hooks && links == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook delivery failures %v, job failures %v, seat links %v; want ≥1, equal, 1", hooks, jobs, links)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
