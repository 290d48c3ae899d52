package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/instance"
	"github.com/fulfillhq/fulfill/internal/clientip"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// answer is a raw HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) code() string {
	var ae apiError
	json.Unmarshal(a.body, &ae)
	return ae.Error.Code
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

// send posts or gets without the vendor token unless headers add one;
// headers are name, value pairs.
func (e *env) send(base, method, path string, body any, headers ...string) answer {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	if base == "" {
		base = e.srv.URL
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// count runs a COUNT(*) query.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Read.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// licensed is a subscription with its activation code and license.
type licensed struct {
	customer, sub, code, license string
}

// buy creates a customer and buys a self-managed subscription for it.
func (e *env) buy(email string) licensed {
	e.t.Helper()
	var c struct{ ID string }
	e.must(201, "POST", "/api/v1/customers", map[string]any{"email": email, "name": "Ann Buyer", "company": email, "country": "US"}, &c)
	var p purchase
	e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": c.ID, "plan": "sm-premium", "seats": 10,
		"payment_method": "pm_card_visa"}, &p)
	if p.ActivationCode == nil {
		e.t.Fatal("purchase without an activation code")
	}
	_, lic := e.text("/api/v1/subscriptions/" + p.Subscription.ID + "/license")
	return licensed{customer: c.ID, sub: p.Subscription.ID, code: *p.ActivationCode, license: lic}
}

// activate activates an instance with l's code.
func (e *env) activate(l licensed, instanceID string, headers ...string) {
	e.t.Helper()
	if a := e.send("", "POST", "/api/v1/activations", map[string]any{"activation_code": l.code, "instance_id": instanceID}, headers...); a.status != 201 {
		e.t.Fatalf("activate %s: %s", instanceID, a)
	}
}

func ping(license, instanceID string, n int) map[string]any {
	return map[string]any{"instance_id": instanceID, "license_key": license, "payload": map[string]any{"n": n}}
}

func seatLink(license, instanceID string) map[string]any {
	return map[string]any{"license_key": license, "timestamp": "2026-01-01T10:00:00Z", "max_historical_user_count": 3,
		"billable_users_count": 3, "instance_id": instanceID, "hostname": "git.example.com", "version": "18.0"}
}

func usageFile(license, instanceID string) map[string]any {
	return map[string]any{"format": "fulfill-usage-v1", "license_key": license, "instance_id": instanceID, "hostname": "offline.example",
		"version": "18.0", "generated_at": "2026-01-01T12:00:00Z", "reports": []map[string]any{
			{"timestamp": "2026-01-01T00:00:00Z", "max_historical_user_count": 2, "billable_users_count": 2}}}
}

// mustRateLimited checks a 429 rate_limited answer with a Retry-After of at
// least one second and at most max.
func mustRateLimited(t *testing.T, what string, a answer, max time.Duration) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || a.code() != "rate_limited" {
		t.Fatalf("%s: %s, want 429 rate_limited", what, a)
	}
	s, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || s < 1 || time.Duration(s)*time.Second > max {
		t.Fatalf("%s: Retry-After %q, want 1 to %v seconds", what, a.header.Get("Retry-After"), max)
	}
}

// Issue 9, item 4: a service ping needs the license of an active instance;
// without one nothing is stored.
func TestUsageDataNeedsLicenseOfActiveInstance(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		a := e.buy("a@example.com")
		e.activate(a, "inst-a")
		b := []byte(a.license)
		i := strings.Index(a.license, "\n") + 70
		b[i] = map[bool]byte{true: 'b', false: 'a'}[b[i] == 'a']
		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"anonymous", map[string]any{"instance_id": "inst-a", "payload": map[string]any{"n": 1}}, 401, "unauthorized"},
			{"garbage license", ping("hello", "inst-a", 1), 401, "license_invalid"},
			{"tampered license", ping(string(b), "inst-a", 1), 401, "license_invalid"},
			{"instance never activated", ping(a.license, "inst-stranger", 1), 403, "instance_unknown"},
			{"anonymous, oversized", map[string]any{"instance_id": "x", "payload": map[string]any{"blob": strings.Repeat("x", 300<<10)}}, 401, "unauthorized"},
		}
		for _, c := range cases {
			if got := e.send("", "POST", "/api/v1/usage_data", c.body); got.status != c.status || got.code() != c.code {
				t.Errorf("%s: %s, want %d %s", c.name, got, c.status, c.code)
			}
		}
		if n := e.count(`SELECT COUNT(*) FROM usage_pings`); n != 0 {
			t.Fatalf("%d pings stored after refusals, want 0", n)
		}
		if got := e.send("", "POST", "/api/v1/usage_data", ping(a.license, "inst-a", 1)); got.status != 201 {
			t.Fatalf("active instance: %s", got)
		}
		if n := e.count(`SELECT COUNT(*) FROM usage_pings WHERE subscription_id = $1 AND instance_id = 'inst-a'`, a.sub); n != 1 {
			t.Fatalf("%d pings of inst-a, want 1", n)
		}
		// Once the subscription has expired its instances are not active.
		e.must(200, "POST", "/api/v1/subscriptions/"+a.sub+"/cancel", map[string]any{"reason": "moving on"}, nil)
		e.advance("2027-01-02")
		if got := e.send("", "POST", "/api/v1/usage_data", ping(a.license, "inst-a", 2)); got.status != 409 || got.code() != "subscription_expired" {
			t.Fatalf("expired subscription: %s, want 409 subscription_expired", got)
		}
	})
}

// Issue 9, item 4: the stored pings of an instance, and of a subscription,
// stay within the cap; the newest are kept.
func TestUsagePingsCappedPerInstanceAndSubscription(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnvAPI(t, url, "2026-01-01", func(s *api.Server) {
			s.Svc.UsageCap = commerce.UsageCap{PerInstance: 3, PerSubscription: 5}
			s.InstanceLimits.UsageData = api.InstanceLimit{PerIP: api.Rate{N: 1000, Per: time.Minute}, PerInstance: api.Rate{N: 1000, Per: time.Minute}}
		})
		a := e.buy("a@example.com")
		e.activate(a, "inst-1")
		e.activate(a, "inst-2")
		for n := 1; n <= 8; n++ {
			if got := e.send("", "POST", "/api/v1/usage_data", ping(a.license, "inst-1", n)); got.status != 201 {
				t.Fatalf("ping %d: %s", n, got)
			}
		}
		kept := func(inst string) string {
			rows, err := e.db.Read.Query(`SELECT payload FROM usage_pings WHERE subscription_id = $1 AND instance_id = $2 ORDER BY id`, a.sub, inst)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var ns []string
			for rows.Next() {
				var p string
				if err := rows.Scan(&p); err != nil {
					t.Fatal(err)
				}
				var v struct{ N int }
				json.Unmarshal([]byte(p), &v)
				ns = append(ns, strconv.Itoa(v.N))
			}
			return strings.Join(ns, ",")
		}
		if got := kept("inst-1"); got != "6,7,8" {
			t.Fatalf("inst-1 keeps pings %q, want the newest three 6,7,8", got)
		}
		for n := 11; n <= 14; n++ {
			if got := e.send("", "POST", "/api/v1/usage_data", ping(a.license, "inst-2", n)); got.status != 201 {
				t.Fatalf("ping %d: %s", n, got)
			}
		}
		// inst-2's third ping took the subscription over 5: inst-1's oldest went.
		if got1, got2 := kept("inst-1"), kept("inst-2"); got1 != "7,8" || got2 != "12,13,14" {
			t.Fatalf("kept inst-1 %q, inst-2 %q; want 7,8 and 12,13,14", got1, got2)
		}
		if n := e.count(`SELECT COUNT(*) FROM usage_pings`); n != 5 {
			t.Fatalf("%d pings stored, want the cap of 5", n)
		}
	})
}

// Issue 9, item 4: every instance endpoint limits requests per client
// address and per instance, with 429 rate_limited and Retry-After, in wall
// time: moving the business clock does not reset them.
func TestInstanceEndpointsRateLimited(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnvAPI(t, url, "2026-01-01", func(s *api.Server) {
			proxies, err := clientip.Parse("127.0.0.1/32,::1/128")
			if err != nil {
				t.Fatal(err)
			}
			s.ClientIP = proxies
			s.InstanceLimits = api.InstanceLimits{
				Activations: api.InstanceLimit{PerIP: api.Rate{N: 4, Per: time.Hour}, PerInstance: api.Rate{N: 2, Per: time.Hour}},
				SeatLinks:   api.InstanceLimit{PerIP: api.Rate{N: 5, Per: time.Hour}, PerInstance: api.Rate{N: 2, Per: time.Hour}},
				UsageData:   api.InstanceLimit{PerIP: api.Rate{N: 5, Per: time.Minute}, PerInstance: api.Rate{N: 3, Per: time.Minute}},
				UsageFiles:  api.InstanceLimit{PerIP: api.Rate{N: 5, Per: time.Hour}, PerInstance: api.Rate{N: 1, Per: time.Hour}},
			}
		})
		from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
		a, b := e.buy("a@example.com"), e.buy("b@example.com")
		e.activate(a, "inst-a1", from("10.0.0.1")...)
		e.activate(a, "inst-a2", from("10.0.0.1")...)
		e.activate(b, "inst-b", from("10.0.0.2")...)

		// Usage data: three per minute per instance.
		for n := 1; n <= 3; n++ {
			if got := e.send("", "POST", "/api/v1/usage_data", ping(a.license, "inst-a1", n), from("10.0.1.1")...); got.status != 201 {
				t.Fatalf("ping %d: %s", n, got)
			}
		}
		// The business clock does not reset a wall-time limit. A few days
		// only: a long advance can take longer than the minute of the limit.
		e.advance("2026-01-04")
		mustRateLimited(t, "4th ping of inst-a1", e.send("", "POST", "/api/v1/usage_data", ping(a.license, "inst-a1", 4), from("10.0.1.2")...), time.Minute)
		// Another instance has its own allowance; so does the same instance id
		// under another subscription (it is refused for not being B's, not limited).
		if got := e.send("", "POST", "/api/v1/usage_data", ping(a.license, "inst-a2", 1), from("10.0.1.2")...); got.status != 201 {
			t.Fatalf("inst-a2: %s", got)
		}
		if got := e.send("", "POST", "/api/v1/usage_data", ping(b.license, "inst-a1", 1), from("10.0.1.2")...); got.status != 403 {
			t.Fatalf("B's license naming inst-a1: %s, want 403", got)
		}
		// Five per minute per address, whatever the instance or license.
		for n := 1; n <= 5; n++ {
			e.send("", "POST", "/api/v1/usage_data", ping("garbage", "x", n), from("10.0.2.1")...)
		}
		mustRateLimited(t, "6th ping from one address", e.send("", "POST", "/api/v1/usage_data", ping(b.license, "inst-b", 1), from("10.0.2.1")...), time.Minute)
		if got := e.send("", "POST", "/api/v1/usage_data", ping(b.license, "inst-b", 1), from("10.0.2.2")...); got.status != 201 {
			t.Fatalf("inst-b from another address: %s", got)
		}
		// An IPv6 client is one address per /64.
		for n := 1; n <= 5; n++ {
			e.send("", "POST", "/api/v1/usage_data", ping("garbage", "x", n), from(fmt.Sprintf("2001:db8:1:2::%x", n))...)
		}
		mustRateLimited(t, "6th ping from one /64", e.send("", "POST", "/api/v1/usage_data", ping("garbage", "x", 6), from("2001:db8:1:2:ffff::6")...), time.Minute)

		// Seat links: two per hour per instance, five per address.
		for n := 1; n <= 2; n++ {
			if got := e.send("", "POST", "/api/v1/seat_links", seatLink(a.license, "inst-a1"), from("10.0.3.1")...); got.status != 200 {
				t.Fatalf("seat link %d: %s", n, got)
			}
		}
		mustRateLimited(t, "3rd seat link of inst-a1", e.send("", "POST", "/api/v1/seat_links", seatLink(a.license, "inst-a1"), from("10.0.3.2")...), time.Hour)
		for range 3 {
			e.send("", "POST", "/api/v1/seat_links", seatLink("garbage", "x"), from("10.0.3.1")...)
		}
		mustRateLimited(t, "6th seat link from one address", e.send("", "POST", "/api/v1/seat_links", seatLink(b.license, "inst-b"), from("10.0.3.1")...), time.Hour)

		// Usage files (the vendor uploads them): one per hour per instance.
		vendor := append([]string{"Authorization", "Bearer " + testToken}, from("10.0.4.1")...)
		if got := e.send("", "POST", "/api/v1/usage_files", usageFile(a.license, "inst-a1"), vendor...); got.status != 200 {
			t.Fatalf("usage file: %s", got)
		}
		mustRateLimited(t, "2nd usage file of inst-a1", e.send("", "POST", "/api/v1/usage_files", usageFile(a.license, "inst-a1"), vendor...), time.Hour)

		// Activations: four per hour per address, two per instance id.
		e.activate(a, "inst-a1", from("10.0.5.2")...)
		mustRateLimited(t, "3rd activation of inst-a1", e.send("", "POST", "/api/v1/activations",
			map[string]any{"activation_code": a.code, "instance_id": "inst-a1"}, from("10.0.5.1")...), time.Hour)
		for n := 1; n <= 3; n++ {
			if got := e.send("", "POST", "/api/v1/activations", map[string]any{"activation_code": a.code, "instance_id": fmt.Sprintf("new-%d", n)},
				from("10.0.5.1")...); got.status != 201 {
				t.Fatalf("activation %d: %s", n, got)
			}
		}
		mustRateLimited(t, "5th activation from one address", e.send("", "POST", "/api/v1/activations",
			map[string]any{"activation_code": a.code, "instance_id": "new-4"}, from("10.0.5.1")...), time.Hour)
	})
}

// Issue 9, item 4: guessing activation codes is throttled per client
// address, across every copy of the server (the count is in the database),
// without locking out other addresses.
func TestActivationCodeGuessingThrottledPerAddress(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		proxies, err := clientip.Parse("127.0.0.1/32,::1/128")
		if err != nil {
			t.Fatal(err)
		}
		limits := api.InstanceLimits{FailedActivationsPerIP: api.Rate{N: 3, Per: time.Hour}}
		e := newEnvAPI(t, url, "2026-01-01", func(s *api.Server) { s.ClientIP, s.InstanceLimits = proxies, limits })
		a := e.buy("a@example.com")
		from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
		guess := func(n int) map[string]any {
			return map[string]any{"activation_code": fmt.Sprintf("ABCDEFGHJKMNPQRSTWXY%04d", n), "instance_id": "guesser"}
		}
		for n := 1; n <= 3; n++ {
			if got := e.send("", "POST", "/api/v1/activations", guess(n), from("203.0.113.9")...); got.status != 404 || got.code() != "activation_code_invalid" {
				t.Fatalf("guess %d: %s, want 404 activation_code_invalid", n, got)
			}
		}
		mustRateLimited(t, "4th guess", e.send("", "POST", "/api/v1/activations", guess(4), from("203.0.113.9")...), time.Hour)
		mustRateLimited(t, "the right code from the guessing address", e.send("", "POST", "/api/v1/activations",
			map[string]any{"activation_code": a.code, "instance_id": "guesser"}, from("203.0.113.9")...), time.Hour)
		// Another copy of the server on the same database refuses the address too.
		other := &api.Server{Svc: e.svc, DB: e.db, Keys: e.keys, ClientIP: proxies, InstanceLimits: limits,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		srv := httptest.NewServer(other.Handler())
		t.Cleanup(srv.Close)
		mustRateLimited(t, "a guess at another copy", e.send(srv.URL, "POST", "/api/v1/activations", guess(5), from("203.0.113.9")...), time.Hour)
		// The owner, elsewhere, activates.
		if got := e.send(srv.URL, "POST", "/api/v1/activations", map[string]any{"activation_code": a.code, "instance_id": "owner"},
			from("198.51.100.7")...); got.status != 201 {
			t.Fatalf("owner from another address: %s", got)
		}
		if n := e.count(`SELECT COUNT(*) FROM instances WHERE instance_id = 'guesser'`); n != 0 {
			t.Fatalf("the throttled activation registered the instance")
		}
	})
}

// The instance client (the fulfill instance commands) works against the
// server's rules: it activates, syncs and sends usage data with its license
// and instance id, and waits the Retry-After of a rate-limited answer.
func TestInstanceClientAgainstLimitedServer(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnvAPI(t, url, "2026-01-01", func(s *api.Server) {
			s.InstanceLimits.UsageData = api.InstanceLimit{PerInstance: api.Rate{N: 1, Per: time.Minute}}
		})
		a := e.buy("a@example.com")
		ring, err := e.keys.Keyring()
		if err != nil {
			t.Fatal(err)
		}
		var waits []time.Duration
		c := &instance.Client{BaseURL: e.srv.URL, StateDir: t.TempDir(), Now: e.clock.Now, TrustedKeys: ring, MaxAttempts: 2,
			Hostname: "git.example.com", Version: "18.0",
			Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
		ctx := context.Background()
		if _, err := c.Activate(ctx, a.code); err != nil {
			t.Fatalf("activate: %v", err)
		}
		if _, err := c.Sync(ctx, instance.Usage{MaxHistorical: 3, Billable: 2}); err != nil {
			t.Fatalf("sync: %v", err)
		}
		if _, err := c.SendUsageData(ctx, map[string]any{"counts": map[string]int{"projects": 3}}); err != nil {
			t.Fatalf("usage data: %v", err)
		}
		if n := e.count(`SELECT COUNT(*) FROM usage_pings WHERE subscription_id = $1`, a.sub); n != 1 {
			t.Fatalf("%d pings stored for the subscription, want 1", n)
		}
		_, err = c.SendUsageData(ctx, map[string]any{"counts": map[string]int{"projects": 4}})
		var ae *instance.APIError
		if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != "rate_limited" {
			t.Fatalf("second ping within the minute: %v, want 429 rate_limited", err)
		}
		if len(waits) != 1 || waits[0] < 30*time.Second || waits[0] > time.Minute {
			t.Fatalf("client waited %v, want the server's Retry-After (up to a minute)", waits)
		}
	})
}
