// Package metrics is Fulfill's Prometheus instrumentation: HTTP requests,
// business events, job failures and deliveries, and, at scrape time, the job
// queue and the database pools. Every server has its own registry, so tests
// run side by side; a nil *Recorder records nothing, so the domain can call
// it unconditionally.
package metrics

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Recorder holds the server's metrics and logs business events.
type Recorder struct {
	reg *prometheus.Registry
	log *slog.Logger

	requests         *prometheus.CounterVec
	inFlight         prometheus.Gauge
	latency          *prometheus.HistogramVec
	events           *prometheus.CounterVec
	purchases        *prometheus.CounterVec
	renewals         prometheus.Counter
	paymentFailures  *prometheus.CounterVec
	seatLinks        prometheus.Counter
	jobFailures      *prometheus.CounterVec
	deliveryFailures *prometheus.CounterVec
}

// New makes a Recorder with its own registry; business events are logged
// at info on log (nil: slog.Default()).
func New(log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	r := &Recorder{reg: prometheus.NewRegistry(), log: log}
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fulfill_http_requests_total",
		Help: "HTTP requests by route pattern, method and status."}, []string{"route", "method", "status"})
	r.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "fulfill_http_requests_in_flight",
		Help: "HTTP requests being served now (headers read, answer not finished)."})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fulfill_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"})
	r.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fulfill_business_events_total",
		Help: "Business events committed, by type (subscription.created, invoice.paid, ...)."}, []string{"type"})
	r.purchases = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fulfill_purchases_total",
		Help: "Purchases committed, by plan."}, []string{"plan"})
	r.renewals = prometheus.NewCounter(prometheus.CounterOpts{Name: "fulfill_renewals_total",
		Help: "Subscription renewals committed."})
	r.paymentFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fulfill_payment_failures_total",
		Help: "Charges the payment provider refused or failed, by code."}, []string{"code"})
	r.seatLinks = prometheus.NewCounter(prometheus.CounterOpts{Name: "fulfill_seat_links_total",
		Help: "Seat links (instance seat reports) committed."})
	r.jobFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fulfill_job_failures_total",
		Help: "Failed job attempts, by job kind."}, []string{"kind"})
	r.deliveryFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fulfill_delivery_failures_total",
		Help: "Failed webhook and SaaS provisioning delivery attempts."}, []string{"kind"})
	r.reg.MustRegister(r.requests, r.inFlight, r.latency, r.events, r.purchases, r.renewals, r.paymentFailures, r.seatLinks,
		r.jobFailures, r.deliveryFailures, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Registry is the Recorder's registry, for more collectors.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// Handler serves the metrics in Prometheus' text format.
func (r *Recorder) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// CollectDB reports a database pool's use (sql.DBStats) under the label
// db_name=name.
func (r *Recorder) CollectDB(name string, db *sql.DB) {
	if r == nil || db == nil {
		return
	}
	r.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// Event counts and logs one committed business event.
func (r *Recorder) Event(ctx context.Context, typ, subjectID, customerID string) {
	if r == nil {
		return
	}
	r.events.WithLabelValues(typ).Inc()
	if typ == "subscription.renewed" {
		r.renewals.Inc()
	}
	r.log.InfoContext(ctx, "event", "type", typ, "subject", subjectID, "customer", customerID)
}

// Purchase counts a committed purchase.
func (r *Recorder) Purchase(ctx context.Context, plan string) {
	if r == nil {
		return
	}
	r.purchases.WithLabelValues(plan).Inc()
}

// PaymentFailed counts and logs a charge the provider refused (code is the
// decline code) or could not make.
func (r *Recorder) PaymentFailed(ctx context.Context, invoiceID, code string) {
	if r == nil {
		return
	}
	r.paymentFailures.WithLabelValues(code).Inc()
	r.log.InfoContext(ctx, "payment failed", "invoice", invoiceID, "code", code)
}

// SeatLink counts and logs a committed seat link.
func (r *Recorder) SeatLink(ctx context.Context, subscriptionID, instanceID string, billable int64) {
	if r == nil {
		return
	}
	r.seatLinks.Inc()
	r.log.InfoContext(ctx, "seat link", "subscription", subscriptionID, "instance", instanceID, "billable", billable)
}

// JobFailed counts a failed job attempt; webhook and provisioning jobs
// count as delivery failures too.
func (r *Recorder) JobFailed(ctx context.Context, kind string, err error) {
	if r == nil {
		return
	}
	r.jobFailures.WithLabelValues(kind).Inc()
	switch kind {
	case "webhook.deliver":
		r.deliveryFailures.WithLabelValues("webhook").Inc()
	case "saas.provision":
		r.deliveryFailures.WithLabelValues("provisioning").Inc()
	}
	r.log.WarnContext(ctx, "job failed", "kind", kind, "err", err)
}

// JobCount is the number of jobs of one kind in one state.
type JobCount struct {
	State, Kind string
	N           int64
}

// CollectJobs reports the job queue depth by state and kind, read with
// count at every scrape (bounded by a two-second timeout).
func (r *Recorder) CollectJobs(count func(ctx context.Context) ([]JobCount, error)) {
	if r == nil {
		return
	}
	r.reg.MustRegister(&jobCollector{count: count, log: r.log, desc: prometheus.NewDesc("fulfill_jobs",
		"Jobs in the queue by state and kind.", []string{"state", "kind"}, nil),
		up: prometheus.NewDesc("fulfill_jobs_scrape_ok", "1 if the job queue could be read at this scrape.", nil, nil)})
}

type jobCollector struct {
	count    func(ctx context.Context) ([]JobCount, error)
	log      *slog.Logger
	desc, up *prometheus.Desc
}

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.up }

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		c.log.Warn("metrics: read the job queue", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, jc := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(jc.N), jc.State, jc.Kind)
	}
}

// ---- HTTP ----

type routeKey struct{}

// NoteRoute remembers the route pattern the innermost mux matched (r.Pattern)
// for the request's metrics: a mux nested below the metrics middleware sets
// the pattern on its own copy of the request, which the middleware never sees.
func NoteRoute(r *http.Request) {
	if p, ok := r.Context().Value(routeKey{}).(*string); ok && r.Pattern != "" {
		*p = r.Pattern
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Middleware counts and times every request by route pattern (never the raw
// path, which would make a series per id) and status, and logs it at debug,
// or at warn for a 5xx.
func (r *Recorder) Middleware(h http.Handler) http.Handler {
	if r == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		r.inFlight.Inc()
		defer r.inFlight.Dec()
		route := new(string)
		req = req.WithContext(context.WithValue(req.Context(), routeKey{}, route))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if *route == "" {
				*route = req.Pattern // the outer mux's, set on this copy
			}
			if *route == "" {
				*route = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			d := time.Since(start)
			r.requests.WithLabelValues(*route, req.Method, strconv.Itoa(sw.status)).Inc()
			r.latency.WithLabelValues(*route, req.Method).Observe(d.Seconds())
			level := slog.LevelDebug
			if sw.status >= 500 {
				level = slog.LevelWarn
			}
			r.log.Log(req.Context(), level, "request", "method", req.Method, "route", *route, "status", sw.status,
				"ms", d.Milliseconds())
		}()
		h.ServeHTTP(sw, req)
	})
}
