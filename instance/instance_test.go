package instance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const testCode = "ABCDEFGHJKMNPQRSTWXYZ234"

// fakeServer plays the Fulfill instance API. Handlers for activations and
// seat links are set per test; every request body is recorded.
type fakeServer struct {
	t      *testing.T
	srv    *httptest.Server
	signer *license.Signer
	keys   []*license.Signer // published keys; signer first

	mu       sync.Mutex
	requests map[string][]map[string]any // path → decoded bodies
	activate http.HandlerFunc
	seatLink http.HandlerFunc
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, signer: mustKey(t), requests: map[string][]map[string]any{}}
	s.keys = []*license.Signer{s.signer}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/license_keys", func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		var data []map[string]string
		s.mu.Lock()
		for i, k := range s.keys {
			status := "active"
			if i > 0 {
				status = "retired"
			}
			data = append(data, map[string]string{"kid": k.KeyID(), "algorithm": "ed25519",
				"public_key": license.MarshalPublicKey(k.PublicKey()), "status": status})
		}
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"data": data})
	})
	mux.HandleFunc("POST /api/v1/activations", func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		s.activate(w, r)
	})
	mux.HandleFunc("POST /api/v1/seat_links", func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		s.seatLink(w, r)
	})
	mux.HandleFunc("POST /api/v1/usage_data", func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		writeJSON(w, 201, map[string]any{"id": "usage_1"})
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeServer) record(r *http.Request) {
	var body map[string]any
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				s.t.Errorf("%s: body is not a JSON object: %v", r.URL.Path, err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path] = append(s.requests[r.URL.Path], body)
}

func (s *fakeServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests[path])
}

func (s *fakeServer) last(path string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests[path]
	if len(r) == 0 {
		s.t.Fatalf("no request to %s", path)
	}
	return r[len(r)-1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg, "field": field}})
}

func mustKey(t *testing.T) *license.Signer {
	t.Helper()
	k, err := license.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testPayload(seats int, issued time.Time) license.Payload {
	return license.Payload{
		ID: "lic_1", Licensee: license.Licensee{Name: "Ada", Company: "Acme", Email: "ada@acme.test"},
		Plan: "sm-premium", Seats: seats, StartsAt: license.NewDate(2025, 1, 1), ExpiresAt: license.NewDate(2026, 1, 1),
		IssuedAt: issued, SubscriptionID: "sub_1", CloudLicensing: true, SeatReconciliation: true,
	}
}

func sign(t *testing.T, k *license.Signer, p license.Payload) string {
	t.Helper()
	b, err := k.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tamper changes the seats in a signed license and re-encodes it, keeping the
// original signature: well formed, signed by a trusted key, bad signature.
func tamper(t *testing.T, file string) string {
	t.Helper()
	body := strings.TrimSuffix(strings.TrimPrefix(file, "-----BEGIN FULFILL LICENSE-----\n"), "-----END FULFILL LICENSE-----\n")
	env, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Kid, Alg, Payload, Sig string }
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)
	forged := bytes.Replace(payload, []byte(`"seats":100`), []byte(`"seats":999`), 1)
	if bytes.Equal(forged, payload) {
		t.Fatal("tamper: seats not found")
	}
	newEnv := `{"kid":"` + e.Kid + `","alg":"` + e.Alg + `","payload":"` + base64.StdEncoding.EncodeToString(forged) + `","sig":"` + e.Sig + `"}`
	enc := base64.StdEncoding.EncodeToString([]byte(newEnv))
	var out strings.Builder
	out.WriteString("-----BEGIN FULFILL LICENSE-----\n")
	for len(enc) > 64 {
		out.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	out.WriteString(enc + "\n-----END FULFILL LICENSE-----\n")
	return out.String()
}

type sleepLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (l *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits = append(l.waits, d)
	return ctx.Err()
}

// newClient returns a client of s with a fixed clock, a fake sleep and
// jitter that always picks the upper bound, so waits are exact.
func newClient(t *testing.T, s *fakeServer, now *time.Time) (*Client, *sleepLog) {
	log := &sleepLog{}
	c := &Client{
		BaseURL: s.srv.URL + "/", StateDir: filepath.Join(t.TempDir(), "state"),
		Hostname: "gitlab.acme.test", Version: "17.2.0",
		Now: func() time.Time { return *now }, Sleep: log.sleep,
		jitter: func(d time.Duration) time.Duration { return d },
	}
	return c, log
}

func activated(t *testing.T) (*fakeServer, *Client, *sleepLog, *time.Time) {
	t.Helper()
	s := newFakeServer(t)
	lic := sign(t, s.signer, testPayload(100, t0.Add(-time.Hour)))
	s.activate = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, map[string]any{"license_key": lic, "subscription_id": "sub_1", "plan": "sm-premium",
			"seats": 100, "expires_at": "2026-01-01", "future_subscriptions": []any{}})
	}
	now := t0
	c, log := newClient(t, s, &now)
	if _, err := c.Activate(context.Background(), testCode); err != nil {
		t.Fatal(err)
	}
	return s, c, log, &now
}

func TestActivateStoresVerifiedLicense(t *testing.T) {
	s := newFakeServer(t)
	lic := sign(t, s.signer, testPayload(100, t0.Add(-time.Hour)))
	s.activate = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, map[string]any{"license_key": lic, "subscription_id": "sub_1", "plan": "sm-premium",
			"seats": 100, "expires_at": "2026-01-01", "future_subscriptions": []any{}})
	}
	now := t0
	c, _ := newClient(t, s, &now)
	p, res, err := c.ActivateResult(context.Background(), " "+testCode+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Seats != 100 || p.Plan != "sm-premium" || p.SubscriptionID != "sub_1" {
		t.Errorf("payload = %+v", p)
	}
	if res.Plan != "sm-premium" || res.Seats != 100 || res.ExpiresAt != "2026-01-01" || res.SubscriptionID != "sub_1" {
		t.Errorf("result = %+v", res)
	}

	path := filepath.Join(c.StateDir, "license.lic")
	got, err := os.ReadFile(path)
	if err != nil || string(got) != lic {
		t.Fatalf("license.lic = %q, %v; want the server's license", got, err)
	}
	for _, f := range []string{"license.lic", "instance.json"} {
		fi, err := os.Stat(filepath.Join(c.StateDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}
	if ents, _ := os.ReadDir(c.StateDir); len(ents) != 2 {
		t.Errorf("state dir holds %d entries, want 2 (no temporary files left)", len(ents))
	}

	st, err := c.LoadState()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(st.InstanceID) {
		t.Errorf("instance id %q is not a v4 UUID", st.InstanceID)
	}
	if st.ServerURL != s.srv.URL || st.SubscriptionID != "sub_1" || !st.ActivatedAt.Equal(t0) {
		t.Errorf("state = %+v", st)
	}
	if len(st.Keys) != 1 || st.Keys[0].KeyID != s.signer.KeyID() || st.Keys[0].Status != "active" {
		t.Errorf("keys = %+v", st.Keys)
	}

	want := map[string]any{"activation_code": testCode, "instance_id": st.InstanceID, "hostname": "gitlab.acme.test", "version": "17.2.0"}
	if body := s.last("/api/v1/activations"); !equalJSON(body, want) {
		t.Errorf("activation request = %v, want %v", body, want)
	}

	// The stored license loads and checks; the instance id stays.
	p2, data, err := c.License()
	if err != nil || string(data) != lic || p2.Seats != 100 {
		t.Fatalf("License() = %+v, %d bytes, %v", p2, len(data), err)
	}
	stat, err := c.Check(t0, 111, 0)
	if err != nil || stat.State != license.OverSeats || stat.SeatLimit != 110 {
		t.Errorf("Check = %+v, %v; want over_seats with limit 110", stat, err)
	}
	if _, err := c.Activate(context.Background(), testCode); err != nil {
		t.Fatal(err)
	}
	if st2, _ := c.LoadState(); st2.InstanceID != st.InstanceID {
		t.Errorf("instance id changed on re-activation: %s → %s", st.InstanceID, st2.InstanceID)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestActivateRefusals(t *testing.T) {
	s := newFakeServer(t)
	good := sign(t, s.signer, testPayload(100, t0.Add(-time.Hour)))
	other := mustKey(t)
	licResp := func(lic string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"license_key": lic, "subscription_id": "sub_1", "plan": "sm-premium", "seats": 100, "expires_at": "2026-01-01", "future_subscriptions": []any{}})
		}
	}
	tests := []struct {
		name     string
		code     string
		handler  http.HandlerFunc
		wantErr  error     // errors.Is target, if any
		wantAPI  *APIError // expected APIError, if any
		wantText string
		requests int // activation requests sent
	}{
		{name: "tampered", code: testCode, handler: licResp(tamper(t, good)), wantErr: license.ErrBadSignature, requests: 1},
		{name: "unknown key", code: testCode, handler: licResp(sign(t, other, testPayload(100, t0))), wantErr: license.ErrUnknownKey, requests: 1},
		{name: "garbage", code: testCode, handler: licResp("not a license"), wantErr: license.ErrMalformed, requests: 1},
		{name: "issued in future", code: testCode, handler: licResp(sign(t, s.signer, testPayload(100, t0.Add(6*time.Minute)))), wantErr: license.ErrIssuedInFuture, requests: 1},
		{name: "invalid code", code: testCode, handler: func(w http.ResponseWriter, r *http.Request) {
			apiErr(w, 404, "activation_code_invalid", "no such activation code", "activation_code")
		}, wantAPI: &APIError{Status: 404, Code: "activation_code_invalid", Message: "no such activation code", Field: "activation_code"},
			wantText: "instance: activate: server: 404 activation_code_invalid: no such activation code (field activation_code)", requests: 1},
		{name: "validation", code: testCode, handler: func(w http.ResponseWriter, r *http.Request) {
			apiErr(w, 422, "validation_failed", "hostname is required", "hostname")
		}, wantAPI: &APIError{Status: 422, Code: "validation_failed", Message: "hostname is required", Field: "hostname"}, requests: 1},
		{name: "short code", code: "ABC", wantText: "instance: the activation code has 3 characters, want 24", requests: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.count("/api/v1/activations")
			s.activate = tt.handler
			now := t0
			c, log := newClient(t, s, &now)
			p, err := c.Activate(context.Background(), tt.code)
			if err == nil {
				t.Fatalf("Activate = %+v, want an error", p)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantAPI != nil {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Status != tt.wantAPI.Status || ae.Code != tt.wantAPI.Code || ae.Message != tt.wantAPI.Message || ae.Field != tt.wantAPI.Field {
					t.Errorf("err = %#v, want %#v", err, tt.wantAPI)
				}
			}
			if tt.wantText != "" && err.Error() != tt.wantText {
				t.Errorf("err = %q, want %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if n := s.count("/api/v1/activations") - before; n != tt.requests {
				t.Errorf("%d activation requests, want %d", n, tt.requests)
			}
			if len(log.waits) != 0 {
				t.Errorf("slept %v, want no retry", log.waits)
			}
			if _, err := os.Stat(filepath.Join(c.StateDir, "license.lic")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("license.lic exists after a refused activation (%v)", err)
			}
			if _, _, err := c.License(); !errors.Is(err, ErrNotActivated) {
				t.Errorf("License() err = %v, want ErrNotActivated", err)
			}
		})
	}
}

func TestSyncNullThenNewerLicense(t *testing.T) {
	s, c, _, now := activated(t)
	newer := sign(t, s.signer, func() license.Payload {
		p := testPayload(120, t0.Add(24*time.Hour))
		p.ID = "lic_2"
		return p
	}())
	responses := []map[string]any{
		{"license": nil, "next_reconciliation_date": nil, "subscription_id": "sub_1", "seats": 100},
		{"license": newer, "next_reconciliation_date": "2025-06-01", "subscription_id": "sub_1", "seats": 120},
	}
	calls := 0
	s.seatLink = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, responses[calls])
		calls++
	}
	st, _ := c.LoadState()
	_, oldLic, _ := c.License()

	res, err := c.Sync(context.Background(), Usage{MaxHistorical: 104, Billable: 98, AddOns: []AddOnMetric{{AddOnType: "duo_pro", Purchased: 10, Assigned: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.NewLicense || res.License.Seats != 100 || res.Seats != 100 || res.SubscriptionID != "sub_1" || res.NextReconciliationDate != "" {
		t.Errorf("first sync = %+v", res)
	}
	want := map[string]any{
		"license_key": string(oldLic), "timestamp": "2025-03-01T10:00:00Z", "max_historical_user_count": 104,
		"billable_users_count": 98, "instance_id": st.InstanceID, "hostname": "gitlab.acme.test", "gitlab_version": "17.2.0",
		"add_on_metrics": []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": 10, "assigned_seats": 7}},
	}
	if body := s.last("/api/v1/seat_links"); !equalJSON(body, want) {
		t.Errorf("seat link request =\n%v\nwant\n%v", body, want)
	}

	*now = t0.Add(25 * time.Hour)
	res, err = c.Sync(context.Background(), Usage{MaxHistorical: 115, Billable: 115})
	if err != nil {
		t.Fatal(err)
	}
	if !res.NewLicense || res.License.Seats != 120 || res.License.ID != "lic_2" || res.Seats != 120 || res.NextReconciliationDate != "2025-06-01" {
		t.Errorf("second sync = %+v", res)
	}
	if body := s.last("/api/v1/seat_links"); !equalJSON(body["add_on_metrics"], []any{}) {
		t.Errorf("add_on_metrics = %v, want []", body["add_on_metrics"])
	}
	if b, _ := os.ReadFile(filepath.Join(c.StateDir, "license.lic")); string(b) != newer {
		t.Error("license.lic was not replaced by the newer license")
	}
	st2, _ := c.LoadState()
	if !st2.LastSyncAt.Equal(*now) || st2.NextReconciliationDate != "2025-06-01" || len(st2.Pending) != 0 {
		t.Errorf("state after sync = %+v", st2)
	}
}

func TestSyncKeepsLicenseWhenNewOneFails(t *testing.T) {
	s, c, _, now := activated(t)
	*now = t0.Add(time.Hour)
	fresh := sign(t, s.signer, testPayload(100, t0.Add(30*time.Minute)))
	older := sign(t, s.signer, testPayload(100, t0.Add(-48*time.Hour)))
	tests := []struct {
		name    string
		lic     string
		wantErr error
		want    string
	}{
		{"tampered", tamper(t, fresh), license.ErrBadSignature, ""},
		{"unknown key", sign(t, mustKey(t), testPayload(100, t0)), license.ErrUnknownKey, ""},
		{"older than stored", older, nil, "before the stored one"},
	}
	_, stored, _ := c.License()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.seatLink = func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"license": tt.lic, "next_reconciliation_date": nil, "subscription_id": "sub_1", "seats": 100})
			}
			res, err := c.Sync(context.Background(), Usage{MaxHistorical: 1, Billable: 1})
			if err == nil {
				t.Fatalf("Sync = %+v, want an error", res)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "stored one kept") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(c.StateDir, "license.lic")); !bytes.Equal(b, stored) {
				t.Error("stored license changed")
			}
		})
	}
}

// A new license signed with a key published after activation (rotation) is
// accepted after the keys are fetched again.
func TestSyncAfterKeyRotation(t *testing.T) {
	s, c, _, _ := activated(t)
	rotated := mustKey(t)
	s.mu.Lock()
	s.keys = []*license.Signer{rotated, s.signer}
	s.mu.Unlock()
	newer := sign(t, rotated, testPayload(130, t0))
	s.seatLink = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"license": newer, "next_reconciliation_date": nil, "subscription_id": "sub_1", "seats": 130})
	}
	res, err := c.Sync(context.Background(), Usage{MaxHistorical: 1, Billable: 1})
	if err != nil || !res.NewLicense || res.License.Seats != 130 {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	st, _ := c.LoadState()
	var kids []string
	for _, k := range st.Keys {
		kids = append(kids, k.KeyID+":"+k.Status)
	}
	want := []string{s.signer.KeyID() + ":retired", rotated.KeyID() + ":active"}
	if !slices.Equal(kids, want) {
		t.Errorf("keys = %v, want %v", kids, want)
	}
}

func TestSyncRetries(t *testing.T) {
	ok := func(w http.ResponseWriter) {
		writeJSON(w, 200, map[string]any{"license": nil, "next_reconciliation_date": "2025-06-01", "subscription_id": "sub_1", "seats": 100})
	}
	unavailable := func(w http.ResponseWriter) { apiErr(w, 503, "unavailable", "maintenance", "") }
	hangUp := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	s := func(secs ...int) []time.Duration {
		var out []time.Duration
		for _, n := range secs {
			out = append(out, time.Duration(n)*time.Second)
		}
		return out
	}
	tests := []struct {
		name        string
		maxAttempts int
		answers     []func(http.ResponseWriter) // by attempt; the last one repeats
		wantCalls   int
		wantWaits   []time.Duration
		wantAPI     string // Code of the final APIError; "" means success or network error
		wantOK      bool
		wantPending int
	}{
		{name: "503 twice then ok", answers: []func(http.ResponseWriter){unavailable, unavailable, ok},
			wantCalls: 3, wantWaits: s(1, 2), wantOK: true},
		{name: "503 always", answers: []func(http.ResponseWriter){unavailable},
			wantCalls: 5, wantWaits: s(1, 2, 4, 8), wantAPI: "unavailable", wantPending: 1},
		{name: "backoff capped at a minute", maxAttempts: 9, answers: []func(http.ResponseWriter){unavailable},
			wantCalls: 9, wantWaits: s(1, 2, 4, 8, 16, 32, 60, 60), wantAPI: "unavailable", wantPending: 1},
		{name: "network error then ok", answers: []func(http.ResponseWriter){hangUp, ok},
			wantCalls: 2, wantWaits: s(1), wantOK: true},
		{name: "429 with Retry-After", answers: []func(http.ResponseWriter){func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			apiErr(w, 429, "rate_limited", "slow down", "")
		}, ok}, wantCalls: 2, wantWaits: s(7), wantOK: true},
		{name: "Retry-After too long", answers: []func(http.ResponseWriter){func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "3600")
			unavailable(w)
		}}, wantCalls: 1, wantAPI: "unavailable", wantPending: 1},
		{name: "no retry on 422", answers: []func(http.ResponseWriter){func(w http.ResponseWriter) {
			apiErr(w, 422, "license_invalid", "license does not verify", "license_key")
		}}, wantCalls: 1, wantAPI: "license_invalid"},
		{name: "no retry on 409", answers: []func(http.ResponseWriter){func(w http.ResponseWriter) {
			apiErr(w, 409, "subscription_expired", "expired", "")
		}}, wantCalls: 1, wantAPI: "subscription_expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, log, _ := activated(t)
			c.MaxAttempts = tt.maxAttempts
			var calls atomic.Int32 // counted before answering: a hung-up client does not wait for the handler
			srv.seatLink = func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				tt.answers[min(n, len(tt.answers))-1](w)
			}
			res, err := c.Sync(context.Background(), Usage{MaxHistorical: 10, Billable: 9})
			if tt.wantOK {
				if err != nil || res.NextReconciliationDate != "2025-06-01" {
					t.Fatalf("Sync = %+v, %v", res, err)
				}
			} else if err == nil {
				t.Fatalf("Sync = %+v, want an error", res)
			}
			if tt.wantAPI != "" {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Code != tt.wantAPI {
					t.Errorf("err = %v, want code %s", err, tt.wantAPI)
				}
			}
			if n := int(calls.Load()); n != tt.wantCalls {
				t.Errorf("%d attempts, want %d", n, tt.wantCalls)
			}
			if !slices.Equal(log.waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", log.waits, tt.wantWaits)
			}
			st, _ := c.LoadState()
			if len(st.Pending) != tt.wantPending {
				t.Errorf("%d pending reports, want %d", len(st.Pending), tt.wantPending)
			}
		})
	}
}

// With real jitter every wait lies in [0, min(1 min, 2^(n-1) s)].
func TestBackoffJitterBounds(t *testing.T) {
	c := &Client{}
	for n := 1; n <= 40; n++ {
		limit := min(RetryCap, RetryBase<<min(n-1, 16))
		for range 200 {
			if d := c.backoff(n); d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", n, d, limit)
			}
		}
	}
}

func TestSyncStopsWhenContextEnds(t *testing.T) {
	srv, c, _, _ := activated(t)
	srv.seatLink = func(w http.ResponseWriter, r *http.Request) { apiErr(w, 503, "unavailable", "", "") }
	ctx, cancel := context.WithCancel(context.Background())
	sleeps := 0
	c.Sleep = func(ctx context.Context, d time.Duration) error {
		sleeps++
		cancel()
		return ctx.Err()
	}
	if _, err := c.Sync(ctx, Usage{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if sleeps != 1 || srv.count("/api/v1/seat_links") != 1 {
		t.Errorf("%d sleeps, %d attempts; want 1, 1", sleeps, srv.count("/api/v1/seat_links"))
	}
}

func TestSyncWithoutActivation(t *testing.T) {
	s := newFakeServer(t)
	now := t0
	c, _ := newClient(t, s, &now)
	if _, err := c.Sync(context.Background(), Usage{}); !errors.Is(err, ErrNotActivated) {
		t.Errorf("err = %v, want ErrNotActivated", err)
	}
	if _, err := c.Sync(context.Background(), Usage{Billable: -1}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("err = %v, want a negative count error", err)
	}
}

func TestExportParseRoundTrip(t *testing.T) {
	_, c, _, now := activated(t)
	record := func(at time.Time, max, billable int) {
		*now = at
		if err := c.RecordOffline(Usage{MaxHistorical: max, Billable: billable}); err != nil {
			t.Fatal(err)
		}
	}
	record(t0.Add(48*time.Hour), 110, 105)
	record(t0, 100, 95)
	record(t0.Add(2*time.Hour), 101, 99) // same UTC day: replaces
	record(t0.Add(24*time.Hour+time.Second/2), 104, 104)
	*now = t0.Add(72 * time.Hour)

	var buf bytes.Buffer
	if err := c.ExportUsage(&buf, nil); err != nil {
		t.Fatal(err)
	}
	f, err := ParseUsageFile(buf.Bytes())
	if err != nil {
		t.Fatalf("ParseUsageFile: %v\n%s", err, buf.String())
	}
	st, _ := c.LoadState()
	_, lic, _ := c.License()
	want := &UsageFile{
		Format: "fulfill-usage-v1", LicenseKey: string(lic), InstanceID: st.InstanceID,
		Hostname: "gitlab.acme.test", Version: "17.2.0", GeneratedAt: t0.Add(72 * time.Hour),
		Reports: []Report{
			{Timestamp: t0.Add(2 * time.Hour), MaxHistoricalUserCount: 101, BillableUsersCount: 99},
			{Timestamp: t0.Add(24 * time.Hour), MaxHistoricalUserCount: 104, BillableUsersCount: 104},
			{Timestamp: t0.Add(48 * time.Hour), MaxHistoricalUserCount: 110, BillableUsersCount: 105},
		},
	}
	if !equalJSON(f, want) {
		t.Errorf("parsed =\n%+v\nwant\n%+v", f, want)
	}
	if !strings.Contains(buf.String(), `"timestamp": "2025-03-02T10:00:00Z"`) {
		t.Errorf("timestamps not whole seconds in UTC:\n%s", buf.String())
	}

	// Explicit reports are exported as given (normalised).
	buf.Reset()
	if err := c.ExportUsage(&buf, []Report{{Timestamp: t0, MaxHistoricalUserCount: 3, BillableUsersCount: 2}}); err != nil {
		t.Fatal(err)
	}
	if f, err := ParseUsageFile(buf.Bytes()); err != nil || len(f.Reports) != 1 || f.Reports[0].BillableUsersCount != 2 {
		t.Errorf("explicit export = %+v, %v", f, err)
	}
	if err := c.ExportUsage(io.Discard, []Report{}); err == nil {
		t.Error("exporting no reports succeeded")
	}
}

func TestParseUsageFileRejects(t *testing.T) {
	k := mustKey(t)
	lic := sign(t, k, testPayload(100, t0))
	valid := func() map[string]any {
		return map[string]any{
			"format": "fulfill-usage-v1", "license_key": lic, "instance_id": "i-1", "hostname": "h", "version": "v",
			"generated_at": "2025-03-04T10:00:00Z",
			"reports": []any{
				map[string]any{"timestamp": "2025-03-01T10:00:00Z", "max_historical_user_count": 100, "billable_users_count": 95},
				map[string]any{"timestamp": "2025-03-02T10:00:00Z", "max_historical_user_count": 101, "billable_users_count": 101},
			},
		}
	}
	report := func(m map[string]any, i int) map[string]any { return m["reports"].([]any)[i].(map[string]any) }
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		raw    string // used instead of the edited map when set
		errMsg string
	}{
		{name: "valid", edit: func(map[string]any) {}},
		{name: "wrong format", edit: func(m map[string]any) { m["format"] = "fulfill-usage-v2" }, errMsg: `usage file: format "fulfill-usage-v2", want "fulfill-usage-v1"`},
		{name: "no format", edit: func(m map[string]any) { delete(m, "format") }, errMsg: "usage file: format: missing"},
		{name: "no license", edit: func(m map[string]any) { delete(m, "license_key") }, errMsg: "usage file: license_key: missing"},
		{name: "bad license", edit: func(m map[string]any) { m["license_key"] = "x" }, errMsg: "usage file: license_key: license: malformed license file"},
		{name: "no instance", edit: func(m map[string]any) { delete(m, "instance_id") }, errMsg: "usage file: instance_id: missing"},
		{name: "empty instance", edit: func(m map[string]any) { m["instance_id"] = "" }, errMsg: "usage file: instance_id: empty"},
		{name: "no hostname", edit: func(m map[string]any) { delete(m, "hostname") }, errMsg: "usage file: hostname: missing"},
		{name: "no version", edit: func(m map[string]any) { delete(m, "version") }, errMsg: "usage file: version: missing"},
		{name: "no generated_at", edit: func(m map[string]any) { delete(m, "generated_at") }, errMsg: "usage file: generated_at: missing"},
		{name: "bad generated_at", edit: func(m map[string]any) { m["generated_at"] = "2025-03-04" }, errMsg: `usage file: generated_at: "2025-03-04" is not an RFC 3339 time`},
		{name: "no reports", edit: func(m map[string]any) { delete(m, "reports") }, errMsg: "usage file: reports: missing"},
		{name: "empty reports", edit: func(m map[string]any) { m["reports"] = []any{} }, errMsg: "usage file: reports: 0 entries, want 1 to 1000"},
		{name: "no timestamp", edit: func(m map[string]any) { delete(report(m, 1), "timestamp") }, errMsg: "usage file: reports[1].timestamp: missing"},
		{name: "no max", edit: func(m map[string]any) { delete(report(m, 0), "max_historical_user_count") }, errMsg: "usage file: reports[0].max_historical_user_count: missing"},
		{name: "no billable", edit: func(m map[string]any) { delete(report(m, 0), "billable_users_count") }, errMsg: "usage file: reports[0].billable_users_count: missing"},
		{name: "negative max", edit: func(m map[string]any) { report(m, 1)["max_historical_user_count"] = -1 }, errMsg: "usage file: reports[1].max_historical_user_count: -1, must be >= 0"},
		{name: "negative billable", edit: func(m map[string]any) { report(m, 0)["billable_users_count"] = -5 }, errMsg: "usage file: reports[0].billable_users_count: -5, must be >= 0"},
		{name: "fractional count", edit: func(m map[string]any) { report(m, 0)["billable_users_count"] = 1.5 }, errMsg: "usage file: json: cannot unmarshal number 1.5 into Go struct field reportJSON.reports.billable_users_count of type int"},
		{name: "same day twice", edit: func(m map[string]any) { report(m, 1)["timestamp"] = "2025-03-01T23:00:00Z" }, errMsg: "usage file: reports[1].timestamp: 2025-03-01T23:00:00Z is not on a later UTC day than the report before"},
		{name: "unknown key", edit: func(m map[string]any) { m["extra"] = 1 }, errMsg: `usage file: json: unknown field "extra"`},
		{name: "trailing data", raw: "{}{}", errMsg: "usage file: unexpected data after the JSON object"},
		{name: "not json", raw: "hello", errMsg: "usage file: invalid character 'h' looking for beginning of value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				m := valid()
				tt.edit(m)
				data, _ = json.Marshal(m)
			}
			f, err := ParseUsageFile(data)
			if tt.errMsg == "" {
				if err != nil || len(f.Reports) != 2 || f.Reports[1].BillableUsersCount != 101 || f.InstanceID != "i-1" {
					t.Fatalf("ParseUsageFile = %+v, %v", f, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseUsageFile accepted it: %+v", f)
			}
			if !strings.HasPrefix(err.Error(), tt.errMsg) {
				t.Errorf("err = %q, want prefix %q", err, tt.errMsg)
			}
		})
	}
}

func TestSendUsageData(t *testing.T) {
	s, c, _, _ := activated(t)
	id, err := c.SendUsageData(context.Background(), map[string]any{"counts": map[string]any{"projects": 3}})
	if err != nil || id != "usage_1" {
		t.Fatalf("SendUsageData = %q, %v", id, err)
	}
	st, _ := c.LoadState()
	_, lic, _ := c.License()
	want := map[string]any{"instance_id": st.InstanceID, "license_key": string(lic), "payload": map[string]any{"counts": map[string]any{"projects": 3}}}
	if body := s.last("/api/v1/usage_data"); !equalJSON(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
	big := map[string]any{"blob": strings.Repeat("x", MaxUsageDataBytes)}
	if _, err := c.SendUsageData(context.Background(), big); err == nil || s.count("/api/v1/usage_data") != 1 {
		t.Errorf("oversized payload: err = %v, %d requests", err, s.count("/api/v1/usage_data"))
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"12", 12 * time.Second}, {"soon", 0},
		{t0.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{t0.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, t0); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// With TrustedKeys (the vendor's keys shipped in the product), the server's
// published keys are never fetched, and a license signed by any other key
// is refused.
func TestTrustedKeysArePinned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted func(s *fakeServer) *license.Keyring
		ok      bool
	}{
		{"the vendor's key", func(s *fakeServer) *license.Keyring {
			kr, _ := license.NewKeyring(s.signer.PublicKey())
			return kr
		}, true},
		{"another key", func(s *fakeServer) *license.Keyring {
			kr, _ := license.NewKeyring(mustKey(t).PublicKey())
			return kr
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			lic := sign(t, s.signer, testPayload(100, t0.Add(-time.Hour)))
			s.activate = func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 201, map[string]any{"license_key": lic, "subscription_id": "sub_1", "plan": "sm-premium",
					"seats": 100, "expires_at": "2026-01-01", "future_subscriptions": []any{}})
			}
			now := t0
			c, _ := newClient(t, s, &now)
			c.TrustedKeys = tc.trusted(s)
			_, err := c.Activate(context.Background(), testCode)
			if (err == nil) != tc.ok {
				t.Fatalf("activate: %v, want ok=%v", err, tc.ok)
			}
			if n := s.count("/api/v1/license_keys"); n != 0 {
				t.Fatalf("fetched the server's keys %d times", n)
			}
			_, _, lerr := c.License()
			if (lerr == nil) != tc.ok {
				t.Fatalf("stored license: %v", lerr)
			}
		})
	}
}
