package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/stripemock"
	stripepay "github.com/fulfillhq/fulfill/payments/stripe"
	"github.com/fulfillhq/fulfill/store"
)

// stripeProxy stands in front of stripe-mock: it records the idempotency
// keys of PaymentIntent requests, and answers them as succeeded (stripe-mock
// always says requires_payment_method).
type stripeProxy struct {
	mu   sync.Mutex
	keys []string
	srv  *httptest.Server
}

func newStripeProxy(t *testing.T) *stripeProxy {
	t.Helper()
	target, _ := url.Parse(stripemock.Start(t))
	p := &stripeProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != "POST" || resp.Request.URL.Path != "/v1/payment_intents" {
			return nil
		}
		p.mu.Lock()
		p.keys = append(p.keys, resp.Request.Header.Get("Idempotency-Key"))
		p.mu.Unlock()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		b = regexp.MustCompile(`"status":\s*"[a-z_]+"`).ReplaceAll(b, []byte(`"status": "succeeded"`))
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *stripeProxy) paymentIntentKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...)
}

// child runs this test binary as a real `fulfill serve` process.
type child struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

func startChild(t *testing.T, args []string, vars map[string]string) *child {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FULFILL_TEST_CHILD=1", "FULFILL_TEST_ARGS="+string(a), "FULFILL_ADMIN_TOKEN="+e2eToken,
		"FULFILL_ACCEPT_DATA_LOSS=1") // the shared test cluster runs with fsync off, for speed
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case c.addr = <-addr:
	case <-time.After(60 * time.Second):
		t.Fatalf("fulfill did not start: %s", stderr.String())
	}
	return c
}

// Issue 5, acceptance 1: a purchase with the Stripe provider creates a
// PaymentIntent with our idempotency key; the process dies between the
// charge and the commit; the replay of the request ends with one charge (the
// same idempotency key, which Stripe answers with the same PaymentIntent)
// and one paid invoice.
func TestStripeCrashReplay(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dbURL string) {
		proxy := newStripeProxy(t)
		dir := filepath.Join(t.TempDir(), "data")
		args := []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--payments", "stripe", "--stripe-api-base", proxy.srv.URL,
			"--idempotency-lease", "1s"}
		if strings.HasPrefix(dbURL, "postgres") {
			args = append(args, "--database-url", dbURL)
		}
		vars := map[string]string{"FULFILL_STRIPE_SECRET_KEY": "sk_test_123"}
		first := startChild(t, args, map[string]string{"FULFILL_STRIPE_SECRET_KEY": "sk_test_123", "FULFILL_TEST_CRASH_AFTER_CHARGE": "1"})
		s := &server{t: t, addr: first.addr}
		var cus struct{ ID string }
		if c := s.call("POST", "/api/v1/customers", map[string]any{"email": "crash@example.com", "name": "Cara Crash", "country": "US"}, &cus); c != 201 {
			t.Fatalf("customer: %d", c)
		}
		body, _ := json.Marshal(map[string]any{"customer_id": cus.ID, "plan": "sm-premium", "seats": 5, "payment_method": "pm_card_visa"})
		post := func(addr string) (*http.Response, error) {
			req, _ := http.NewRequest("POST", addr+"/api/v1/subscriptions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e2eToken)
			req.Header.Set("Idempotency-Key", "order-crash-1")
			return http.DefaultClient.Do(req)
		}
		if resp, err := post(first.addr); err == nil {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("the first attempt answered %d %s; it should have died", resp.StatusCode, b)
		}
		select {
		case err := <-first.done:
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
				t.Fatalf("first process ended with %v, want exit 3", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("first process did not die")
		}
		if keys := proxy.paymentIntentKeys(); len(keys) != 1 {
			t.Fatalf("PaymentIntent requests before the crash: %v", keys)
		}

		second := startChild(t, args, vars)
		time.Sleep(1100 * time.Millisecond) // the dead request's lease runs out
		resp, err := post(second.addr)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Subscription struct{ ID string }
			Invoice      struct {
				ID, Status string
				Total      int64
			}
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || json.Unmarshal(raw, &p) != nil || p.Invoice.Status != "paid" || p.Invoice.Total != 5*34800 {
			t.Fatalf("replay: %d %s", resp.StatusCode, raw)
		}
		// The charge before the crash, then the replay's; the completer job
		// of the restarted copy may finish the charge too (the copy takes
		// River's lead at once and runs it). Every request carries the one
		// key, so Stripe makes one charge.
		keys := proxy.paymentIntentKeys()
		if len(keys) < 2 || slices.ContainsFunc(keys, func(k string) bool { return k != "fulfill-"+p.Invoice.ID }) {
			t.Fatalf("PaymentIntent idempotency keys %v, want fulfill-%s each time (at least before the crash and in the replay): one charge", keys, p.Invoice.ID)
		}
		s.addr = second.addr
		var subs, invs struct{ Data []struct{ ID, Status string } }
		s.call("GET", "/api/v1/subscriptions?customer_id="+cus.ID, nil, &subs)
		s.call("GET", "/api/v1/invoices?customer_id="+cus.ID, nil, &invs)
		if len(subs.Data) != 1 || len(invs.Data) != 1 || invs.Data[0].Status != "paid" {
			t.Fatalf("after the replay: %d subscriptions, invoices %+v", len(subs.Data), invs.Data)
		}
		// The card the purchase saved is described by Stripe (stripe-mock's
		// PaymentMethod: a Visa ending 4242, expiring 8/2030), for the
		// card-expiring notice.
		waitStripeCard(t, dbURL, dir, cus.ID)
		// A further retry replays the stored answer without charging (once
		// no completer runs, none of its requests is in flight).
		waitNoCompleterRunning(t, dbURL, dir)
		calls := len(proxy.paymentIntentKeys())
		resp, err = post(second.addr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 || resp.Header.Get("Idempotent-Replayed") != "true" || len(proxy.paymentIntentKeys()) != calls {
			t.Fatalf("second replay: %d, %d PaymentIntent requests (%d before)", resp.StatusCode, len(proxy.paymentIntentKeys()), calls)
		}
	})
}

// waitStripeCard waits until the saved card of a customer carries the
// details Stripe reported.
func waitStripeCard(t *testing.T, dbURL, dir, customerID string) {
	t.Helper()
	if !strings.HasPrefix(dbURL, "postgres") {
		dbURL = filepath.Join(dir, "fulfill.db")
	}
	db, err := store.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := fulfill.CardDetails{Brand: "visa", Last4: "4242", ExpMonth: 8, ExpYear: 2030}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		pms, err := db.PaymentMethods(t.Context(), customerID)
		if err != nil {
			t.Fatal(err)
		}
		if len(pms) == 1 && pms[0].Card == want && pms[0].Label == "Visa •••• 4242" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("saved cards %+v, want one with %+v", pms, want)
		}
	}
}

// Issue 5, acceptance 2: Stripe webhook signatures, and one event delivered
// ten times at once changes state once.
func TestStripeWebhooks(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dbURL string) {
		s := startServerEnv(t, dbURL, map[string]string{"FULFILL_STRIPE_WEBHOOK_SECRETS": "whsec_new, whsec_old"})
		var cus struct{ ID string }
		s.call("POST", "/api/v1/customers", map[string]any{"email": "hook@example.com", "name": "Hank Hook", "country": "US"}, &cus)
		var p struct {
			Invoice struct {
				ID    string
				Total int64
			}
		}
		s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "saas-premium", "seats": 2, "payment_method": "invoice"}, &p)
		event := func(id string) []byte {
			b, _ := json.Marshal(map[string]any{"id": id, "type": "payment_intent.succeeded", "created": time.Now().Unix(),
				"data": map[string]any{"object": map[string]any{"id": "pi_for_" + p.Invoice.ID, "object": "payment_intent", "amount": p.Invoice.Total,
					"amount_received": p.Invoice.Total, "metadata": map[string]string{"invoice_id": p.Invoice.ID}}}})
			return b
		}
		send := func(body []byte, sig string) (int, string) {
			req, _ := http.NewRequest("POST", s.addr+"/webhooks/stripe", bytes.NewReader(body))
			if sig != "" {
				req.Header.Set("Stripe-Signature", sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		other := event("evt_other")
		changed := append([]byte(nil), other...)
		changed[10] ^= 1
		// Each signature is made when its request is sent: the age of a
		// timestamp is what the server sees, whatever the machine's load.
		ts := func(now time.Time, d time.Duration) string { return fmt.Sprint(now.Add(-d).Unix()) }
		// Each body is marshalled once: "created" is the clock's second,
		// and a second body made a moment later would not match its
		// signature.
		e299, two, old := event("evt_299"), event("evt_two"), event("evt_old")
		cases := []struct {
			name   string
			body   []byte
			sig    func(now time.Time) string
			status int
		}{
			{"missing header", other, func(time.Time) string { return "" }, 400},
			{"wrong secret", other, func(now time.Time) string { return stripepay.Sign(other, "whsec_wrong", now) }, 400},
			{"changed byte", changed, func(now time.Time) string { return stripepay.Sign(other, "whsec_new", now) }, 400},
			{"301 seconds old", other, func(now time.Time) string { return stripepay.Sign(other, "whsec_new", now.Add(-301*time.Second)) }, 400},
			{"299 seconds old", e299, func(now time.Time) string {
				// The header holds whole seconds: round up, so that the age
				// the server sees is under 299 s plus the request's time,
				// not up to a second more (a run crossed 300 s that way).
				return stripepay.Sign(e299, "whsec_new", now.Add(-299*time.Second).Truncate(time.Second).Add(time.Second))
			}, 200},
			{"good v1 next to a bad one", two, func(now time.Time) string {
				return "t=" + ts(now, 0) + ",v1=" + strings.Repeat("ab", 32) + "," +
					strings.SplitN(stripepay.Sign(two, "whsec_new", now), ",", 2)[1]
			}, 200},
			{"old secret during rotation", old, func(now time.Time) string { return stripepay.Sign(old, "whsec_old", now) }, 200},
		}
		for _, c := range cases {
			if got, body := send(c.body, c.sig(time.Now())); got != c.status {
				t.Errorf("%s: %d %s, want %d", c.name, got, body, c.status)
			}
		}
		// The accepted events above already paid the invoice once; use a
		// fresh open invoice for the concurrency check.
		s.call("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus.ID, "plan": "saas-premium", "seats": 3, "payment_method": "invoice"}, &p)
		body := event("evt_concurrent")
		sig := stripepay.Sign(body, "whsec_new", time.Now())
		var wg sync.WaitGroup
		outcomes := make([]string, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, b := send(body, sig)
				outcomes[i] = fmt.Sprint(code, " ", b)
			}()
		}
		wg.Wait()
		paid := 0
		for _, o := range outcomes {
			if !strings.HasPrefix(o, "200 ") {
				t.Fatalf("delivery answered %s", o)
			}
			if strings.Contains(o, `"outcome":"paid"`) {
				paid++
			}
		}
		var pays struct{ Data []struct{ Status string } }
		s.call("GET", "/api/v1/invoices/"+p.Invoice.ID+"/payments", nil, &pays)
		var inv struct{ Status string }
		s.call("GET", "/api/v1/invoices/"+p.Invoice.ID, nil, &inv)
		if paid != 1 || len(pays.Data) != 1 || inv.Status != "paid" {
			t.Fatalf("10 deliveries: %d applied, %d payments, invoice %s; outcomes %v", paid, len(pays.Data), inv.Status, outcomes)
		}
	})
}
