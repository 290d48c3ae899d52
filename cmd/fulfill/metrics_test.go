package main

import (
	"io"
	"net/http"
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
	dbtest.ForEach(t, func(t *testing.T, url string) {
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
