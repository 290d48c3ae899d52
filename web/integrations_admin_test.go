package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/store"
)

var secretRE = regexp.MustCompile(`id="signing-secret">(whsec_[A-Za-z0-9_-]+)<`)

func (e *env) endpointCount() int {
	e.t.Helper()
	es, err := e.db.WebhookEndpoints(context.Background(), fulfill.Page{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(es)
}

func (e *env) denials() int {
	e.t.Helper()
	n := 0
	as, err := e.db.AuditLog(context.Background(), "", "", fulfill.Page{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range as {
		if a.Action == "permission.denied" {
			n++
		}
	}
	return n
}

func TestConsoleWebhookEndpoints(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		buyer := e.signUp("ann@example.com")
		buyer.buy("sm-premium", "10") // some events to replay
		support := e.staff("sue@example.com", "support")
		ro := e.staff("rob@example.com", "read_only")
		admin := e.staff("ada@example.com", "admin")

		// Endpoints receive customer data: support may look, not register
		// (403, audited, nothing created).
		if r := support.get("/admin/webhooks").must(t, 200); strings.Contains(r.body, `action="/admin/webhooks"`) {
			t.Fatalf("support is offered the register form: %.3000s", r.body)
		}
		denied := e.denials()
		support.do("POST", "/admin/webhooks", url.Values{"url": {"https://evil.example.com/hooks"}, "events": {"*"}}).must(t, 403)
		if n := e.endpointCount(); n != 0 {
			t.Fatalf("%d endpoints after support's refused registration", n)
		}

		// Register through the console: the secret is shown once.
		if r := admin.get("/admin/webhooks").must(t, 200); !strings.Contains(r.body, `action="/admin/webhooks"`) ||
			!strings.Contains(r.body, `value="invoice.paid"`) || !strings.Contains(r.body, `<label for="wh-url">URL</label>`) {
			t.Fatalf("no register form: %.3000s", r.body)
		}
		r := admin.do("POST", "/admin/webhooks", url.Values{"url": {"https://crm.example.com/hooks"}, "description": {"CRM"},
			"events": {"invoice.paid", "subscription.created"}}).must(t, 303)
		loc := r.header.Get("Location")
		id, ok := strings.CutPrefix(loc, "/admin/webhooks/")
		if !ok {
			t.Fatalf("Location %q", loc)
		}
		ep, err := e.db.WebhookEndpoint(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ep.URL != "https://crm.example.com/hooks" || strings.Join(ep.Events, ",") != "invoice.paid,subscription.created" {
			t.Fatalf("endpoint %+v", ep)
		}
		page := admin.get(loc).must(t, 200)
		m := secretRE.FindStringSubmatch(page.body)
		if m == nil || m[1] != ep.Secret {
			t.Fatalf("secret not shown (want %s): %.3000s", ep.Secret, page.body)
		}
		if again := admin.get(loc).must(t, 200); strings.Contains(again.body, ep.Secret) || strings.Contains(again.body, "signing-secret") {
			t.Fatal("the secret is shown a second time")
		}
		if list := ro.get("/admin/webhooks").must(t, 200); !strings.Contains(list.body, "https://crm.example.com/hooks") ||
			!strings.Contains(list.body, "<code>invoice.paid</code>") || strings.Contains(list.body, ep.Secret) {
			t.Fatalf("list: %.3000s", list.body)
		}

		// Validation errors re-render the form, with nothing saved.
		if r := admin.do("POST", "/admin/webhooks", url.Values{"url": {"ftp://nope"}, "events": {"*"}}).must(t, 422); !strings.Contains(r.body, "absolute http") ||
			!strings.Contains(r.body, `aria-invalid="true"`) {
			t.Fatalf("bad url: %.3000s", r.body)
		}
		admin.do("POST", "/admin/webhooks", url.Values{"url": {"https://x.example.com/"}}).must(t, 422)
		// Cloud metadata is never a target, however it is written.
		for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/",
			"http://[fe80::1]:8080/"} {
			if r := admin.do("POST", "/admin/webhooks", url.Values{"url": {u}, "events": {"*"}}).must(t, 422); !strings.Contains(r.body, "are never webhook targets") {
				t.Fatalf("%s: %.3000s", u, r.body)
			}
		}
		if n := e.endpointCount(); n != 1 {
			t.Fatalf("%d endpoints after invalid forms", n)
		}

		// read_only and support look, do not change: 403, audited, nothing changes.
		for _, c := range []*client{ro, support} {
			if r := c.get("/admin/webhooks/"+id).must(t, 200); strings.Contains(r.body, "/rotate") || strings.Contains(r.body, `action="/admin/webhooks"`) ||
				strings.Contains(r.body, "/replay") {
				t.Fatal("a non-admin is offered changes")
			}
		}
		ro.do("POST", "/admin/webhooks", url.Values{"url": {"https://evil.example.com/"}, "events": {"*"}}).must(t, 403)
		ro.post("/admin/webhooks/"+id+"/rotate").must(t, 403)
		ro.post("/admin/webhooks/"+id+"/replay", "since", "2026-01-01").must(t, 403)
		support.post("/admin/webhooks/"+id+"/rotate").must(t, 403)
		support.post("/admin/webhooks/"+id+"/replay", "since", "2026-01-01").must(t, 403)
		support.post("/admin/webhooks/"+id+"/delete").must(t, 403)
		if n := e.endpointCount(); n != 1 {
			t.Fatalf("%d endpoints after refused requests", n)
		}
		if got, _ := e.db.WebhookEndpoint(context.Background(), id); got.Secret != ep.Secret {
			t.Fatal("a refused rotation changed the secret")
		}
		if ds, _ := e.db.WebhookDeliveries(context.Background(), id, fulfill.Page{Limit: 100}); len(ds) != 0 {
			t.Fatalf("a refused replay created %d deliveries", len(ds))
		}
		if got := e.denials(); got != denied+7 {
			t.Fatalf("%d denials audited, want %d", got-denied, 7)
		}

		// Rotation shows the new secret once.
		r = admin.post("/admin/webhooks/"+id+"/rotate").must(t, 303)
		page = admin.get(r.header.Get("Location")).must(t, 200)
		rot, _ := e.db.WebhookEndpoint(context.Background(), id)
		if m := secretRE.FindStringSubmatch(page.body); m == nil || m[1] != rot.Secret || rot.Secret == ep.Secret || rot.PreviousSecret != ep.Secret {
			t.Fatalf("rotation: %.3000s", page.body)
		}

		// Replay since a date creates the deliveries of past events; the log
		// lists them with a replay button each.
		r = admin.post("/admin/webhooks/"+id+"/replay", "since", "2026-03-01").must(t, 303)
		ds, err := e.db.WebhookDeliveries(context.Background(), id, fulfill.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			t.Fatal("replay since created no delivery")
		}
		page = admin.get("/admin/webhooks/"+id).must(t, 200)
		if !strings.Contains(page.body, "will be sent again") || !strings.Contains(page.body, "<code>"+ds[0].EventType+"</code>") ||
			!strings.Contains(page.body, "/deliveries/"+ds[0].ID+"/replay") {
			t.Fatalf("delivery log: %.4000s", page.body)
		}
		admin.post("/admin/webhooks/"+id+"/deliveries/"+ds[0].ID+"/replay").must(t, 303)
		support.post("/admin/webhooks/"+id+"/deliveries/"+ds[0].ID+"/replay").must(t, 403)
		admin.post("/admin/webhooks/other/deliveries/"+ds[0].ID+"/replay").must(t, 404)
		admin.post("/admin/webhooks/"+id+"/replay", "since", "yesterday").must(t, 422)

		// An admin deletes it; the log stays, the page is gone.
		admin.post("/admin/webhooks/"+id+"/delete").must(t, 303)
		if n := e.endpointCount(); n != 0 {
			t.Fatalf("%d endpoints after delete", n)
		}
		admin.get("/admin/webhooks/"+id).must(t, 404)
		as, _ := e.db.AuditLog(context.Background(), "webhook_endpoint", id, fulfill.Page{Limit: 100})
		var actions []string
		for _, a := range as {
			actions = append(actions, a.Action)
		}
		for _, want := range []string{"webhook_endpoint.create", "webhook_endpoint.rotate_secret", "webhook_endpoint.replay", "webhook_delivery.replay", "webhook_endpoint.delete"} {
			if !strings.Contains(strings.Join(actions, " "), want) {
				t.Errorf("audit %v lacks %s", actions, want)
			}
		}
	})
}

// A failed provisioning shows "failed" with its reason; the retry button
// sends it again and the job provisions it.
func TestConsoleProvisioningRetry(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		ctx := context.Background()
		var down atomic.Bool
		down.Store(true)
		product := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				http.Error(w, "namespace store unavailable", http.StatusInternalServerError)
				return
			}
			w.Write([]byte(`{"status":"provisioned"}`))
		}))
		t.Cleanup(product.Close)
		runner, err := jobs.New(jobs.Config{Service: e.svc, Clock: e.clock, Simulated: e.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			ProvisioningURL: product.URL,
			// River's own retry waits an hour: only the button retries here.
			Retry: integrations.RetryPolicy{Base: time.Hour, Cap: time.Hour, NoJitter: true}})
		if err != nil {
			t.Fatal(err)
		}
		if err := runner.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			runner.Stop(sctx)
		})

		c, err := e.svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "ops@acme.example", Name: "Ann", Company: "Acme", Country: "US"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: c.ID, Plan: "saas-premium", Seats: 5,
			PaymentMethod: "pm_card_visa", Namespace: "acme-corp"})
		if err != nil {
			t.Fatal(err)
		}
		sub := res.Subscription.ID
		provision := func() *store.Provision {
			p, err := e.db.Provision(ctx, sub)
			if err != nil && fulfill.ErrorCode(err) != fulfill.ENotFound {
				t.Fatal(err)
			}
			return p
		}
		waitUntil(t, "provisioning failed", 20*time.Second, func() bool { p := provision(); return p != nil && p.State == store.ProvisionFailed })

		ro := e.staff("rob@example.com", "read_only")
		support := e.staff("sue@example.com", "support")
		// The customer page links to it.
		if r := ro.get("/admin/customers/"+c.ID).must(t, 200); !strings.Contains(r.body, `href="/admin/subscriptions/`+sub+`/provisioning"`) {
			t.Fatalf("no provisioning link: %.4000s", r.body)
		}
		path := "/admin/subscriptions/" + sub + "/provisioning"
		r := ro.get(path).must(t, 200)
		if !strings.Contains(r.body, `id="provisioning-state">Failed<`) || !strings.Contains(r.body, "HTTP 500") ||
			!strings.Contains(r.body, "namespace store unavailable") || strings.Contains(r.body, "/provisioning/retry") {
			t.Fatalf("failed state: %.4000s", r.body)
		}
		ro.post(path+"/retry").must(t, 403)
		if p := provision(); p.State != store.ProvisionFailed || p.Attempts != 1 {
			t.Fatalf("a refused retry changed the state: %+v", p)
		}
		if r := support.get(path).must(t, 200); !strings.Contains(r.body, `action="`+path+`/retry"`) {
			t.Fatal("no retry button for support")
		}

		down.Store(false)
		r = support.post(path+"/retry").must(t, 303)
		if r.header.Get("Location") != path {
			t.Fatalf("Location %q", r.header.Get("Location"))
		}
		if p := provision(); p.State != store.ProvisionPending && p.State != store.ProvisionProvisioned {
			t.Fatalf("after the retry: %+v", p)
		}
		if err := runner.Drain(ctx, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "provisioned", 20*time.Second, func() bool { return provision().State == store.ProvisionProvisioned })
		r = support.get(path).must(t, 200)
		if !strings.Contains(r.body, `id="provisioning-state">Provisioned<`) || !strings.Contains(r.body, `id="provisioning-attempts">2<`) ||
			strings.Contains(r.body, `id="provisioning-reason"`) {
			t.Fatalf("provisioned: %.4000s", r.body)
		}

		// Self-managed subscriptions have no provisioning page.
		sm, err := e.svc.Purchase(ctx, "test", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 5, PaymentMethod: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		support.get("/admin/subscriptions/"+sm.Subscription.ID+"/provisioning").must(t, 404)
		support.post("/admin/subscriptions/"+sm.Subscription.ID+"/provisioning/retry").must(t, 409)
	})
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
