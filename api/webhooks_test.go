package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/saas"
	"github.com/fulfillhq/fulfill/saas/receiver"
	"github.com/fulfillhq/fulfill/webhook"
)

// hookReceiver is a webhook receiver that checks every signature with the
// public verifier and deduplicates events by id.
type hookReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	secrets  []string
	down     func() bool
	refused  map[string]int // event id → requests answered 503
	accepted map[string]int // event id → requests answered 200
	raw      []delivered    // accepted requests as received
}

type delivered struct {
	header string
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{t: t, refused: map[string]int{}, accepted: map[string]int{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct{ ID, Type string }
	json.Unmarshal(body, &ev)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil && h.down() {
		h.refused[ev.ID]++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	sig := r.Header.Get(webhook.SignatureHeader)
	if err := webhook.Verify(sig, body, h.secrets, time.Now(), 5*time.Minute); err != nil {
		h.t.Errorf("delivery of %s: %v", ev.ID, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Header.Get(webhook.EventIDHeader) != ev.ID || r.Header.Get(webhook.EventTypeHeader) != ev.Type || ev.ID == "" {
		h.t.Errorf("headers %v do not name event %s %s", r.Header, ev.ID, ev.Type)
	}
	h.accepted[ev.ID]++
	h.raw = append(h.raw, delivered{sig, body})
	w.Write([]byte(`{"ok":true}`))
}

func (h *hookReceiver) setSecrets(s ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secrets = s
}

// minRefused is the fewest refused requests of any of these events.
func (h *hookReceiver) minRefused(events map[string]string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := -1
	for id := range events {
		if c := h.refused[id]; n < 0 || c < n {
			n = c
		}
	}
	return n
}

func (h *hookReceiver) acceptedCopy() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.accepted {
		out[k] = v
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond) // polling less leaves the 2 cores to the jobs under test
	}
}

type endpoint struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

type attemptLog struct {
	Attempt       int        `json:"attempt"`
	StartedAt     time.Time  `json:"started_at"`
	DurationMS    int64      `json:"duration_ms"`
	StatusCode    *int       `json:"status_code"`
	Error         string     `json:"error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

type delivery struct {
	ID        string       `json:"id"`
	EventID   string       `json:"event_id"`
	EventType string       `json:"event_type"`
	Status    string       `json:"status"`
	Attempts  int          `json:"attempts"`
	Log       []attemptLog `json:"log"`
}

func (e *env) deliveries(endpointID string) []delivery {
	e.t.Helper()
	var l struct{ Data []delivery }
	e.must(200, "GET", "/api/v1/webhook_endpoints/"+endpointID+"/deliveries?limit=100", nil, &l)
	return l.Data
}

func (e *env) eventIDs() map[string]string {
	e.t.Helper()
	evs, err := e.db.Events(context.Background(), "", time.Time{}, fulfill.Page{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, ev := range evs {
		out[ev.ID] = ev.Type
	}
	return out
}

// compressed is the retry schedule of these tests: the same shape as the
// three-day default, in seconds, without jitter so the intervals can be
// checked.
func compressed(window time.Duration) func(*jobs.Config) {
	return func(c *jobs.Config) {
		// The cap stays above any interval a test reaches, so intervals always grow.
		c.Retry = integrations.RetryPolicy{Base: 200 * time.Millisecond, Cap: 20 * time.Second, Window: window, NoJitter: true}
	}
}

// Acceptance 1: a receiver that is down for a simulated day gets every
// event afterwards, each exactly once after deduplication by id, and the
// delivery log shows the retries with growing intervals.
func TestWebhookReceiverDownForADay(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		rcv := newHookReceiver(t)
		// Intervals of 100, 200, 400 ms…: checkRetryLog checks the planned
		// intervals and that no attempt ran before its time, not how late a
		// loaded machine ran one. Cap and window stay above anything this
		// test reaches.
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) {
			c.Retry = integrations.RetryPolicy{Base: 100 * time.Millisecond, Cap: 5 * time.Minute, Window: 20 * time.Minute, NoJitter: true}
		})
		day2 := fulfill.NewDate(2026, 1, 2).Time()
		rcv.down = func() bool { return e.clock.Now().Before(day2) }
		var ep endpoint
		e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": rcv.srv.URL + "/hooks", "events": []string{"*"}}, &ep)
		if !strings.HasPrefix(ep.Secret, "whsec_") {
			t.Fatalf("secret = %q", ep.Secret)
		}
		rcv.setSecrets(ep.Secret)

		// Day 1: a purchase while the receiver is down.
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		day1 := e.eventIDs()
		waitFor(t, "four refused attempts of every event of day 1", 2*time.Minute, func() bool { return rcv.minRefused(day1) >= 4 })

		// Day 2: the receiver is back; more business happens.
		e.advance("2026-01-02")
		e.must(200, "POST", "/api/v1/subscriptions/"+p.Subscription.ID+"/seats", map[string]any{"seats": 15}, nil)

		events := e.eventIDs()
		if len(events) < 6 {
			t.Fatalf("only %d events: %v", len(events), events)
		}
		waitFor(t, "every delivery delivered", 2*time.Minute, func() bool {
			ds := e.deliveries(ep.ID)
			if len(ds) != len(events) {
				return false
			}
			for _, d := range ds {
				if d.Status != "delivered" {
					return false
				}
			}
			return true
		})
		got := rcv.acceptedCopy()
		if len(got) != len(events) {
			t.Fatalf("receiver has %d distinct events, want %d", len(got), len(events))
		}
		for id, typ := range events {
			if got[id] != 1 {
				t.Errorf("event %s (%s) accepted %d times, want exactly 1", id, typ, got[id])
			}
		}

		// The delivery log of every event of day 1 shows the retries.
		checked := 0
		for _, d := range e.deliveries(ep.ID) {
			if day1[d.EventID] == "" {
				if len(d.Log) != 1 {
					t.Errorf("%s of day 2 took %d attempts, want 1", d.EventType, len(d.Log))
				}
				continue
			}
			checkRetryLog(t, d)
			checked++
		}
		if checked != len(day1) {
			t.Fatalf("checked %d delivery logs, want %d", checked, len(day1))
		}
	})
}

// checkRetryLog checks the log of a delivery refused at least four times
// and then delivered: 503s with a next attempt each, then a 200, with
// growing intervals.
func checkRetryLog(t *testing.T, first delivery) {
	t.Helper()
	log := first.Log
	if len(log) < 5 || first.Attempts != len(log) {
		t.Fatalf("%s: %d attempts logged (%d counted), want at least 5", first.EventType, len(log), first.Attempts)
	}
	{
		for i, a := range log {
			if a.Attempt != i+1 {
				t.Errorf("attempt %d numbered %d", i+1, a.Attempt)
			}
			last := i == len(log)-1
			switch {
			case !last && (a.StatusCode == nil || *a.StatusCode != 503 || a.Error != "HTTP 503" || a.NextAttemptAt == nil):
				t.Errorf("attempt %d = %+v, want a 503 with a next attempt", a.Attempt, a)
			case last && (a.StatusCode == nil || *a.StatusCode != 200 || a.Error != "" || a.NextAttemptAt != nil):
				t.Errorf("last attempt = %+v, want a 200", a)
			}
		}
		// Each refused attempt plans the next one later than the one before
		// planned it (the backoff grows), and no attempt runs before the time
		// its predecessor planned. How much later than planned a busy
		// machine runs it is not this test's business.
		for i := 1; i < len(log); i++ {
			planned := log[i-1].NextAttemptAt
			if planned == nil {
				continue // reported above
			}
			if log[i].StartedAt.Before(planned.Add(-time.Millisecond)) {
				t.Errorf("%s: attempt %d started at %s, before its planned time %s", first.EventType, i+1, log[i].StartedAt, planned)
			}
			if i >= 2 && log[i-2].NextAttemptAt != nil {
				prev, cur := log[i-2].NextAttemptAt.Sub(log[i-2].StartedAt), planned.Sub(log[i-1].StartedAt)
				if cur <= prev {
					t.Errorf("%s: attempt %d planned the next after %s, not longer than attempt %d planned (%s)", first.EventType, i, cur, i-1, prev)
				}
			}
		}
	}
}

// Acceptance 2 (sender side): what the server sends verifies with the
// public verifier; a changed byte or an old timestamp fails; during a
// rotation both secrets verify, and after 24 hours only the new one.
func TestWebhookSignatures(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		rcv := newHookReceiver(t)
		e := newEnv(t, url, "2026-01-01", compressed(time.Minute))
		var ep endpoint
		e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": rcv.srv.URL, "events": []string{"customer.*"}}, &ep)
		rcv.setSecrets(ep.Secret)
		e.customer("US", "")
		waitFor(t, "one delivery", 10*time.Second, func() bool { return len(rcv.acceptedCopy()) == 1 })
		d := rcv.raw[0]
		now := time.Now()
		if err := webhook.Verify(d.header, d.body, []string{ep.Secret}, now, time.Minute); err != nil {
			t.Fatalf("Verify = %v", err)
		}
		changed := append([]byte(nil), d.body...)
		changed[len(changed)/2] ^= 0x20
		if err := webhook.Verify(d.header, changed, []string{ep.Secret}, now, time.Minute); !errors.Is(err, webhook.ErrSignatureMismatch) {
			t.Fatalf("changed byte: %v", err)
		}
		if err := webhook.Verify(d.header, d.body, []string{ep.Secret}, now.Add(10*time.Minute), 5*time.Minute); !errors.Is(err, webhook.ErrTimestamp) {
			t.Fatalf("old timestamp: %v", err)
		}
		// The body is the stored event document, byte for byte.
		var ev struct{ ID string }
		json.Unmarshal(d.body, &ev)
		if _, doc, err := e.db.EventDocument(context.Background(), ev.ID); err != nil || string(doc) != string(d.body) {
			t.Fatalf("body differs from the stored event: %v", err)
		}

		var rot endpoint
		e.must(200, "POST", "/api/v1/webhook_endpoints/"+ep.ID+"/rotate_secret", nil, &rot)
		if rot.Secret == "" || rot.Secret == ep.Secret {
			t.Fatalf("rotated secret = %q", rot.Secret)
		}
		rcv.setSecrets(rot.Secret)
		e.customer("DE", "")
		waitFor(t, "a second delivery", 10*time.Second, func() bool { return len(rcv.acceptedCopy()) == 2 })
		h := rcv.raw[1]
		if n := strings.Count(h.header, "v1="); n != 2 {
			t.Fatalf("header during rotation has %d signatures: %s", n, h.header)
		}
		for _, s := range []string{ep.Secret, rot.Secret} {
			if err := webhook.Verify(h.header, h.body, []string{s}, time.Now(), time.Minute); err != nil {
				t.Fatalf("during rotation, secret verifies: %v", err)
			}
		}
		e.advance("2026-01-02") // 24 hours later the old secret stops signing
		e.customer("FR", "")
		waitFor(t, "a third delivery", 10*time.Second, func() bool { return len(rcv.acceptedCopy()) == 3 })
		h = rcv.raw[2]
		if err := webhook.Verify(h.header, h.body, []string{ep.Secret}, time.Now(), time.Minute); !errors.Is(err, webhook.ErrSignatureMismatch) {
			t.Fatalf("old secret after 24h: %v (%s)", err, h.header)
		}
	})
}

// The endpoint API: validation, the secret shown once, deletion, the
// delivery log, replays of one delivery and of everything since a date.
func TestWebhookEndpointsAPI(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		rcv := newHookReceiver(t)
		e := newEnv(t, url, "2026-01-01", compressed(time.Minute))
		for _, c := range []struct {
			body  map[string]any
			code  string
			field string
		}{
			{map[string]any{"url": "ftp://example.com/x"}, "invalid", "url"},
			{map[string]any{"url": "javascript:alert(1)"}, "invalid", "url"},
			{map[string]any{"url": "/relative"}, "invalid", "url"},
			{map[string]any{}, "required", "url"},
			{map[string]any{"url": "https://example.com", "events": []string{"subscription.create"}}, "invalid", "events"},
			// Link-local and cloud-metadata addresses are never targets.
			{map[string]any{"url": "http://169.254.169.254/latest/meta-data/iam/"}, "invalid", "url"},
			{map[string]any{"url": "http://169.254.170.2/v2/credentials"}, "invalid", "url"},
			{map[string]any{"url": "http://[fd00:ec2::254]/latest/"}, "invalid", "url"},
			{map[string]any{"url": "http://[::ffff:a9fe:a9fe]/"}, "invalid", "url"},
			{map[string]any{"url": "https://[fe80::1%25eth0]:8443/"}, "invalid", "url"},
		} {
			var ae apiError
			if got := e.do("POST", "/api/v1/webhook_endpoints", c.body, &ae); got != 422 || ae.Error.Code != c.code || ae.Error.Field != c.field {
				t.Errorf("%v: %d %+v", c.body, got, ae.Error)
			}
		}
		// An event before the endpoint exists is not sent until replayed
		// (the endpoint is created a second later: at the same instant it
		// would count as existing).
		e.customer("US", "")
		e.clock.Set(e.clock.Now().Add(time.Second))
		var ep endpoint
		e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": rcv.srv.URL, "description": "CRM"}, &ep)
		if len(ep.Events) != 1 || ep.Events[0] != "*" {
			t.Fatalf("default events = %v", ep.Events)
		}
		rcv.setSecrets(ep.Secret)
		var got map[string]any
		e.must(200, "GET", "/api/v1/webhook_endpoints/"+ep.ID, nil, &got)
		if _, ok := got["secret"]; ok {
			t.Fatal("GET shows the secret")
		}
		var list struct{ Data []endpoint }
		e.must(200, "GET", "/api/v1/webhook_endpoints", nil, &list)
		if len(list.Data) != 1 || list.Data[0].Secret != "" {
			t.Fatalf("list = %+v", list.Data)
		}
		if ds := e.deliveries(ep.ID); len(ds) != 0 {
			t.Fatalf("deliveries before replay = %d", len(ds))
		}
		var rep struct{ Replayed int }
		e.must(202, "POST", "/api/v1/webhook_endpoints/"+ep.ID+"/replay", map[string]any{"since": "2026-01-01"}, &rep)
		if rep.Replayed != 1 {
			t.Fatalf("replayed = %d, want 1", rep.Replayed)
		}
		waitFor(t, "the replayed delivery", 30*time.Second, func() bool { return len(rcv.acceptedCopy()) == 1 })
		ds := e.deliveries(ep.ID)
		waitFor(t, "delivered status", 30*time.Second, func() bool { ds = e.deliveries(ep.ID); return ds[0].Status == "delivered" })
		var d delivery
		e.must(202, "POST", "/api/v1/webhook_deliveries/"+ds[0].ID+"/replay", nil, &d)
		waitFor(t, "a replay of one delivery", 30*time.Second, func() bool {
			ds = e.deliveries(ep.ID)
			return ds[0].Status == "delivered" && ds[0].Attempts == 2
		})
		if n := rcv.acceptedCopy()[ds[0].EventID]; n != 2 {
			t.Fatalf("replayed event received %d times, want 2 (same id: receivers deduplicate)", n)
		}
		var ae apiError
		if got := e.do("POST", "/api/v1/webhook_endpoints/"+ep.ID+"/replay", map[string]any{"since": "yesterday"}, &ae); got != 422 || ae.Error.Field != "since" {
			t.Fatalf("bad since: %d %+v", got, ae.Error)
		}
		e.must(200, "DELETE", "/api/v1/webhook_endpoints/"+ep.ID, nil, nil)
		if got := e.do("GET", "/api/v1/webhook_endpoints/"+ep.ID, nil, &ae); got != 404 {
			t.Fatalf("GET deleted endpoint = %d", got)
		}
		if got := e.do("POST", "/api/v1/webhook_deliveries/"+ds[0].ID+"/replay", nil, &ae); got != 409 {
			t.Fatalf("replay to a deleted endpoint = %d", got)
		}
		if got := e.do("POST", "/api/v1/webhook_deliveries/whd_nope/replay", nil, &ae); got != 404 {
			t.Fatalf("replay unknown = %d", got)
		}
		// Each change is audited, in its own transaction, naming the token.
		var audit struct {
			Data []struct{ Action, Actor, Detail string }
		}
		e.must(200, "GET", "/api/v1/audit_log?subject_type=webhook_endpoint&subject_id="+ep.ID, nil, &audit)
		actions := []string{}
		for _, a := range audit.Data {
			actions = append(actions, a.Action)
			if !strings.HasPrefix(a.Actor, "token:") {
				t.Errorf("%s by %q, want the API token", a.Action, a.Actor)
			}
		}
		if strings.Join(actions, ",") != "webhook_endpoint.delete,webhook_delivery.replay,webhook_endpoint.replay,webhook_endpoint.create" {
			t.Fatalf("audit = %v", actions)
		}
	})
}

// Dispatch delivers an event only to the endpoints that existed when it was
// recorded: one created later, before the dispatch job ran, gets nothing.
// Dispatch is called here after the endpoint exists, as a slow job runner
// would, so the test does not depend on the runner's timing.
func TestDispatchSkipsEndpointsCreatedAfterTheEvent(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		rcv := newHookReceiver(t)
		e := newEnv(t, url, "2026-01-01", compressed(time.Minute))
		var before, after endpoint
		e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": rcv.srv.URL, "events": []string{"customer.*"}}, &before)
		rcv.setSecrets(before.Secret)
		e.customer("US", "")
		events := e.eventIDs()
		if len(events) != 1 {
			t.Fatalf("events = %v, want one", events)
		}
		e.clock.Set(e.clock.Now().Add(time.Second))
		e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": rcv.srv.URL, "events": []string{"customer.*"}}, &after)
		in := &integrations.Service{DB: e.db, Clock: e.clock}
		for id := range events {
			if err := in.Dispatch(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
		if ds := e.deliveries(before.ID); len(ds) != 1 {
			t.Fatalf("endpoint created before the event has %d deliveries, want 1", len(ds))
		}
		if ds := e.deliveries(after.ID); len(ds) != 0 {
			t.Fatalf("endpoint created after the event has %d deliveries, want 0: %+v", len(ds), ds)
		}
	})
}

type provisioning struct {
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	Log      []struct {
		Attempt    int  `json:"attempt"`
		StatusCode *int `json:"status_code"`
	} `json:"log"`
}

// Acceptance 3: a SaaS purchase provisions the namespace through the
// example receiver; when it answers 500 three times the state is failed,
// then provisioned after the retries; the token verifies with the JWKS.
func TestSaaSProvisioning(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		rcv := receiver.New("")
		rcv.FailFirst = 3
		product := httptest.NewServer(rcv)
		t.Cleanup(product.Close)
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) {
			c.ProvisioningURL = product.URL
			c.Retry = integrations.RetryPolicy{Base: 300 * time.Millisecond, Cap: 2 * time.Second, NoJitter: true}
		})
		rcv.SetJWKSURL(e.srv.URL + "/.well-known/jwks.json")

		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "saas-premium", "seats": 20,
			"payment_method": "pm_card_visa", "namespace": "acme-corp"}, &p)
		sub := p.Subscription.ID
		path := "/api/v1/subscriptions/" + sub + "/provisioning"
		var st provisioning
		waitFor(t, "state failed", 10*time.Second, func() bool { return e.do("GET", path, nil, &st) == 200 && st.State == "failed" })
		if !strings.Contains(st.Reason, "HTTP 500") {
			t.Fatalf("failed reason = %q", st.Reason)
		}
		waitFor(t, "state provisioned", 20*time.Second, func() bool { e.must(200, "GET", path, nil, &st); return st.State == "provisioned" })
		if st.Attempts != 4 || st.Reason != "" || len(st.Log) != 4 {
			t.Fatalf("provisioned after %d attempts (log %d), reason %q; want 4", st.Attempts, len(st.Log), st.Reason)
		}
		for i, a := range st.Log {
			want := 500
			if i == 3 {
				want = 200
			}
			if a.StatusCode == nil || *a.StatusCode != want {
				t.Errorf("attempt %d status %v, want %d", i+1, a.StatusCode, want)
			}
		}
		ns := rcv.Namespaces()["acme-corp"]
		if ns.Plan != "saas-premium" || ns.Seats != 20 || ns.SubscriptionID != sub || ns.StartsOn != "2026-01-01" || ns.EndsOn != "2027-01-01" || ns.State != "active" {
			t.Fatalf("provisioned = %+v", ns)
		}

		// The token verifies with the published JWKS, and only with it.
		log := rcv.Log()
		tok := log[len(log)-1].Token
		resp, err := http.Get(e.srv.URL + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		var set saas.JWKS
		json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		keys, _ := e.keys.List()
		if len(set.Keys) != len(keys) || set.Keys[0].Kid != keys[0].KID || set.Keys[0].Kty != "OKP" || set.Keys[0].Crv != "Ed25519" {
			t.Fatalf("jwks = %+v", set)
		}
		c, err := saas.VerifyToken(tok, set, time.Now())
		if err != nil {
			t.Fatalf("VerifyToken = %v", err)
		}
		if c.Audience != "saas-provisioning" || c.Expires-c.IssuedAt != 300 {
			t.Fatalf("claims = %+v", c)
		}
		if _, err := saas.VerifyToken(tok, set, time.Now().Add(6*time.Minute)); !errors.Is(err, saas.ErrExpired) {
			t.Fatalf("after 6 minutes: %v", err)
		}
		bad := tok[:len(tok)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[!strings.HasSuffix(tok, "AAAA")]
		if _, err := saas.VerifyToken(bad, set, time.Now()); !errors.Is(err, saas.ErrBadSignature) && !errors.Is(err, saas.ErrMalformedToken) {
			t.Fatalf("tampered token: %v", err)
		}

		// A seat change provisions again; the retry button sends it once more.
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/seats", map[string]any{"seats": 25}, nil)
		waitFor(t, "25 seats provisioned", 10*time.Second, func() bool { return rcv.Namespaces()["acme-corp"].Seats == 25 })
		waitFor(t, "provisioned again", 10*time.Second, func() bool {
			e.must(200, "GET", path, nil, &st)
			return st.State == "provisioned" && st.Attempts == 5
		})
		e.must(202, "POST", path+"/retry", nil, &st)
		waitFor(t, "the retry", 10*time.Second, func() bool {
			e.must(200, "GET", path, nil, &st)
			return st.State == "provisioned" && st.Attempts == 6
		})

		// Self-managed subscriptions are not provisioned.
		var sm purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 5,
			"payment_method": "pm_card_visa"}, &sm)
		var ae apiError
		if got := e.do("POST", "/api/v1/subscriptions/"+sm.Subscription.ID+"/provisioning/retry", nil, &ae); got != 409 {
			t.Fatalf("retry of a self-managed subscription = %d", got)
		}
		if got := e.do("GET", "/api/v1/subscriptions/"+sm.Subscription.ID+"/provisioning", nil, &ae); got != 404 {
			t.Fatalf("provisioning of a self-managed subscription = %d", got)
		}
	})
}

// An event no endpoint wants (and nothing to provision) is dispatched from
// a read alone: no write transaction, which on SQLite would take the only
// write lock for nothing, three times per purchase.
func TestDispatchOfAnEventNobodyWantsWritesNothing(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		rcv := newHookReceiver(t)
		e := newEnv(t, url, "2026-01-01", compressed(time.Minute))
		var ep endpoint
		e.must(201, "POST", "/api/v1/webhook_endpoints", map[string]any{"url": rcv.srv.URL, "events": []string{"invoice.*"}}, &ep)
		e.customer("US", "")
		events := e.eventIDs()
		if len(events) != 1 {
			t.Fatalf("events = %v, want one", events)
		}
		in := &integrations.Service{DB: e.db, Clock: e.clock}
		before := e.db.WriteTransactions()
		for id := range events {
			if err := in.Dispatch(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.db.WriteTransactions() - before; n != 0 {
			t.Errorf("dispatching customer.created to an invoice.* endpoint began %d write transactions, want 0", n)
		}
		if ds := e.deliveries(ep.ID); len(ds) != 0 {
			t.Errorf("deliveries = %+v, want none", ds)
		}
	})
}
