package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A request through a mux nested below the middleware is counted under the
// inner route pattern, not the raw path nor the outer prefix.
func TestRequestsCountedByInnerRoutePattern(t *testing.T) {
	t.Parallel()
	r := New(nil)
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/v1/customers/{id}", func(w http.ResponseWriter, req *http.Request) {
		NoteRoute(req)
		w.WriteHeader(http.StatusNotFound)
	})
	outer := http.NewServeMux()
	outer.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		inner.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), copyKey{}, 1))) // a copy, as middlewares make
	}))
	outer.HandleFunc("GET /healthz", func(w http.ResponseWriter, req *http.Request) {})
	h := r.Middleware(outer)
	for _, p := range []string{"/api/v1/customers/cus_1", "/api/v1/customers/cus_2", "/healthz", "/nothing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	for labels, want := range map[[3]string]float64{
		{"GET /api/v1/customers/{id}", "GET", "404"}: 2,
		{"GET /healthz", "GET", "200"}:               1,
		{"unmatched", "GET", "404"}:                  1,
	} {
		if got := testutil.ToFloat64(r.requests.WithLabelValues(labels[:]...)); got != want {
			t.Errorf("%v: %v, want %v", labels, got, want)
		}
	}
	if n := testutil.CollectAndCount(r.requests); n != 3 {
		t.Errorf("%d series, want 3 (no raw paths)", n)
	}
}

// A nil Recorder records nothing and does not panic, so callers need no
// check; job failures of deliveries count as delivery failures.
func TestNilRecorderAndDeliveryFailures(t *testing.T) {
	t.Parallel()
	var nilRec *Recorder
	ctx := context.Background()
	nilRec.Event(ctx, "x", "", "")
	nilRec.Purchase(ctx, "p")
	nilRec.PaymentFailed(ctx, "inv", "card_declined")
	nilRec.SeatLink(ctx, "sub", "inst", 1)
	nilRec.JobFailed(ctx, "webhook.deliver", nil)
	if h := nilRec.Middleware(http.NotFoundHandler()); h == nil {
		t.Fatal("nil middleware")
	}
	r := New(nil)
	r.JobFailed(ctx, "webhook.deliver", nil)
	r.JobFailed(ctx, "saas.provision", nil)
	r.JobFailed(ctx, "email.send", nil)
	want := `
# HELP fulfill_delivery_failures_total Failed webhook and SaaS provisioning delivery attempts.
# TYPE fulfill_delivery_failures_total counter
fulfill_delivery_failures_total{kind="provisioning"} 1
fulfill_delivery_failures_total{kind="webhook"} 1
`
	if err := testutil.CollectAndCompare(r.deliveryFailures, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(r.jobFailures.WithLabelValues("email.send")); got != 1 {
		t.Fatalf("email.send failures %v", got)
	}
}

// copyKey marks a request copied by a middleware in the test.
type copyKey struct{}

// A request counts as in flight from its headers to the end of its answer.
func TestRequestsInFlight(t *testing.T) {
	t.Parallel()
	r := New(nil)
	var during float64
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		during = testutil.ToFloat64(r.inFlight)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if after := testutil.ToFloat64(r.inFlight); during != 1 || after != 0 {
		t.Fatalf("in flight: %v during the request, %v after; want 1 and 0", during, after)
	}
}
