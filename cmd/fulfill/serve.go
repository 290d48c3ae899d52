package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/clientip"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/keys"
	"github.com/fulfillhq/fulfill/mail"
	"github.com/fulfillhq/fulfill/metrics"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/web"
)

const serveUsage = `Usage: fulfill serve [flags]

Runs the server: the customers portal, the admin console (/admin), the API
and the background jobs, on SQLite in DATA_DIR by default or on PostgreSQL
with --database-url. Every flag can also be set by the environment variable
named in brackets.
`

// serve runs `fulfill serve`: it reads the configuration, checks it, and
// runs the server until ctx ends.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	c, err := parseServe(args, stdout, stderr, getenv)
	if err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	return runServer(ctx, c, stdout, stderr)
}

// parseServe reads serve's flags and environment into a Config; it checks
// only what the flag package checks (and the environment's durations).
func parseServe(args []string, stdout, stderr io.Writer, getenv func(string) string) (*Config, error) {
	fs, c := flags("serve", stderr, getenv)
	setUsage(fs, serveUsage)
	fs.StringVar(&c.Addr, "addr", or(getenv("FULFILL_ADDR"), "127.0.0.1:8080"), "listen address HOST:PORT [FULFILL_ADDR]")
	fs.StringVar(&c.SimulatedClock, "simulated-clock", "", "start a simulated clock at this date (YYYY-MM-DD); never in production")
	fs.StringVar(&c.SellerCountry, "seller-country", or(getenv("FULFILL_SELLER_COUNTRY"), "US"), "the seller's country, for tax [FULFILL_SELLER_COUNTRY]")
	fs.StringVar(&c.SMTPURL, "smtp-url", getenv("FULFILL_SMTP_URL"), "smtp://user:pass@host:587 to send mail; unset keeps mail in the local outbox [FULFILL_SMTP_URL]")
	fs.StringVar(&c.MailFrom, "mail-from", or(getenv("FULFILL_MAIL_FROM"), "Fulfill <noreply@localhost>"), "sender address of outgoing mail [FULFILL_MAIL_FROM]")
	fs.StringVar(&c.Payments, "payments", or(getenv("FULFILL_PAYMENTS"), "test"), "payment provider: test (Stripe's test card ids, no network) or stripe [FULFILL_PAYMENTS]")
	fs.StringVar(&c.StripeAPIBase, "stripe-api-base", getenv("FULFILL_STRIPE_API_BASE"), "Stripe API base URL (default Stripe's; http://127.0.0.1:12111 for stripe-mock) [FULFILL_STRIPE_API_BASE]")
	fs.DurationVar(&c.IdempotencyLease, "idempotency-lease", time.Minute, "how long a request with an Idempotency-Key may run before a retry may take it over")
	latency, err := envDuration(getenv, "FULFILL_TEST_PAYMENT_LATENCY")
	if err != nil {
		return nil, err
	}
	fs.DurationVar(&c.TestPaymentLatency, "test-payment-latency", latency,
		"make each call of the test payment provider wait this long, e.g. 800ms [FULFILL_TEST_PAYMENT_LATENCY]")
	fs.StringVar(&c.PublicURL, "public-url", getenv("FULFILL_PUBLIC_URL"), "the URL customers use to reach this server (https://billing.example.com, optionally with a path prefix), the only origin of links in emails; required unless --addr is loopback, where it defaults to http://ADDR [FULFILL_PUBLIC_URL]")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", getenv("FULFILL_TRUSTED_PROXIES"),
		"reverse proxies (CIDR,...) whose X-Forwarded-For header names the client; unset trusts none [FULFILL_TRUSTED_PROXIES]")
	fs.StringVar(&c.Seller.Company, "seller-name", or(getenv("FULFILL_SELLER_NAME"), "Fulfill Demo Vendor Inc."), "the seller's legal name on invoices [FULFILL_SELLER_NAME]")
	fs.StringVar(&c.Seller.Address, "seller-address", or(getenv("FULFILL_SELLER_ADDRESS"), "1 Market Street"), "the seller's address on invoices [FULFILL_SELLER_ADDRESS]")
	fs.StringVar(&c.Seller.TaxID, "seller-tax-id", getenv("FULFILL_SELLER_TAX_ID"), "the seller's tax id on invoices [FULFILL_SELLER_TAX_ID]")
	billingMailFlags(fs, c, getenv)
	if err := viesFlags(fs, c, getenv); err != nil {
		return nil, err
	}
	fs.StringVar(&c.Seller.Bank, "seller-bank", getenv("FULFILL_SELLER_BANK"), "the seller's bank details for transfers, printed on invoices paid by transfer, e.g. \"IBAN …, BIC …, bank name\" [FULFILL_SELLER_BANK]")
	fs.StringVar(&c.Seller.Email, "seller-email", or(getenv("FULFILL_SELLER_EMAIL"), "billing@localhost"), "the seller's billing email on invoices [FULFILL_SELLER_EMAIL]")
	fs.BoolVar(&c.Migrate, "migrate", true, "apply pending migrations at start; with -migrate=false the server refuses an old schema")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", or(getenv("FULFILL_LOG_FORMAT"), "text"), "log lines as text or json [FULFILL_LOG_FORMAT]")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", getenv("FULFILL_METRICS_ADDR"),
		"serve Prometheus /metrics on this HOST:PORT without authentication; unset serves it on --addr behind the admin token [FULFILL_METRICS_ADDR]")
	fs.StringVar(&c.SaaSProvisioningURL, "saas-provisioning-url", getenv("FULFILL_SAAS_PROVISIONING_URL"),
		"base URL of the SaaS product; Fulfill POSTs {url}/fulfill/provision for SaaS subscriptions; empty disables provisioning [FULFILL_SAAS_PROVISIONING_URL]")
	fs.BoolVar(&c.AcceptDataLoss, "accept-data-loss", getenv("FULFILL_ACCEPT_DATA_LOSS") == "1",
		"start even if the database may lose acknowledged commits in a crash (PostgreSQL fsync or synchronous_commit off; SQLite not WAL with synchronous=FULL) [FULFILL_ACCEPT_DATA_LOSS=1]")
	if err := parseFlags(fs, args, stdout); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	c.AdminToken = getenv("FULFILL_ADMIN_TOKEN")
	c.TestPaymentJournal = getenv("FULFILL_TEST_PAYMENT_JOURNAL")
	c.StripeSecretKey = getenv("FULFILL_STRIPE_SECRET_KEY")
	c.StripeWebhooks = getenv("FULFILL_STRIPE_WEBHOOK_SECRETS")
	c.StripePublishable = getenv("FULFILL_STRIPE_PUBLISHABLE_KEY")
	c.Failpoint = failpoint(getenv)
	c.Unthrottled = getenv("FULFILL_BENCH_UNTHROTTLED") == "1"
	if d, err := time.ParseDuration(getenv("FULFILL_TEST_ADVANCE_LEASE")); err == nil && d > 0 {
		c.TestAdvanceLease = d
	}
	return c, nil
}

// validate checks the configuration of serve before anything is created:
// the first mistake found, as a usage error of one line. It puts the
// seller country in its canonical upper case.
func (c *Config) validate() error {
	if c.TestPaymentLatency < 0 {
		return usageError{"--test-payment-latency must not be negative"}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		return usageError{"FULFILL_ADMIN_TOKEN must be at least 32 characters"}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return usageError{fmt.Sprintf("--addr %q: want HOST:PORT", c.Addr)}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return usageError{fmt.Sprintf("--metrics-addr %q: want HOST:PORT", c.MetricsAddr)}
		}
	}
	if _, err := clientip.Parse(c.TrustedProxies); err != nil {
		return usageError{"--trusted-proxies: " + err.Error()}
	}
	if err := checkPublicURL(c.PublicURL, c.Addr); err != nil {
		return err
	}
	if _, err := newLogger(io.Discard, c.LogFormat, c.LogLevel); err != nil {
		return err
	}
	if _, err := c.simStart(); err != nil {
		return err
	}
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		return err
	}
	country, err := checkCountry("--seller-country", c.SellerCountry)
	if err != nil {
		return err
	}
	c.SellerCountry = country
	if c.SMTPURL != "" {
		if _, err := mail.ParseURL(c.SMTPURL); err != nil {
			return usageError{"--smtp-url: " + err.Error()}
		}
	}
	if u := c.SaaSProvisioningURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return usageError{fmt.Sprintf("--saas-provisioning-url %q: want an http:// or https:// URL", u)}
	}
	if _, err := paymentProvider(c); err != nil {
		return err
	}
	if _, _, err := c.billingMail(); err != nil {
		return err
	}
	return c.checkVIES()
}

// simStart is the date of --simulated-clock, nil for the real clock.
func (c *Config) simStart() (*fulfill.Date, error) {
	if c.SimulatedClock == "" {
		return nil, nil
	}
	d, err := fulfill.ParseDate(c.SimulatedClock)
	if err != nil {
		return nil, usageError{"--simulated-clock: " + err.Error()}
	}
	return &d, nil
}

// checkCountry returns an ISO 3166-1 alpha-2 code in upper case, or a
// usage error naming the flag.
func checkCountry(flagName, code string) (string, error) {
	up := strings.ToUpper(strings.TrimSpace(code))
	if !fulfill.ValidCountry(up) {
		return "", usageError{fmt.Sprintf("%s %q: not an ISO 3166-1 alpha-2 country code (such as US, DE or GB)", flagName, code)}
	}
	return up, nil
}

// checkDatabaseURL refuses a --database-url this program cannot open, so
// that a mysql://… does not become a SQLite file of that name.
func checkDatabaseURL(u string) error {
	if u == "" {
		return nil
	}
	if err := store.CheckURL(u); err != nil {
		return usageError{"--database-url: " + err.Error()}
	}
	return nil
}

// openStore opens the configured database, refusing an unknown URL scheme
// first.
func (c *Config) openStore(ctx context.Context) (*store.DB, error) {
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		return nil, err
	}
	return store.Open(ctx, c.dbURL())
}

// runServer runs a validated configuration: it listens first (a busy port
// fails before any file is created), opens and checks the database, wires
// the parts and serves until ctx ends, then stops gracefully.
func runServer(ctx context.Context, c *Config, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	ln, err := listen("--addr", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var mln net.Listener
	if c.MetricsAddr != "" {
		if mln, err = listen("--metrics-addr", c.MetricsAddr); err != nil {
			return err
		}
		defer mln.Close()
	}
	// On loopback the public URL defaults to the address listened on, port
	// included when --addr asks for port 0.
	if c.PublicURL, err = resolvePublicURL(c.PublicURL, ln.Addr().String()); err != nil {
		return err
	}
	payments, err := paymentProvider(c)
	if err != nil {
		return err
	}

	db, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	clock, sim, err := prepareDB(ctx, c, db, log)
	if err != nil {
		return err
	}
	ks := c.keyStore()
	if err := checkSigningKeys(ctx, db, ks, stdout, log); err != nil {
		return err
	}

	rec := newRecorder(log, db)
	svc := newService(c, db, clock, payments, ks, rec)
	loaded, err := svc.LoadDemoCatalog(ctx)
	if err != nil {
		return fmt.Errorf("load demo catalog: %w", err)
	}
	token, err := adminToken(ctx, c, db, clock)
	if err != nil {
		return err
	}
	runner, err := newJobs(c, svc, clock, sim, log, rec)
	if err != nil {
		return err
	}
	root, webSrv, err := handlers(c, svc, db, runner, ks, clock, log)
	if err != nil {
		return err
	}
	if mln != nil {
		go serveMetrics(ctx, mln, rec, log)
		fmt.Fprintf(stdout, "Metrics at http://%s/metrics\n", mln.Addr())
	}
	srv := &http.Server{Handler: observed(root, rec, c.MetricsAddr, token), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second}
	banner(stdout, c, ln.Addr(), db.Dialect, loaded, token, sim)
	log.Info("serving", "config", c.String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	later := startAfterListen(ctx, runner, webSrv, log)
	defer later.stop()
	select {
	case err := <-errc:
		return err
	case err := <-later.failed:
		stopHTTP(srv, log)
		return err
	case <-ctx.Done():
	}
	return stopHTTP(srv, log)
}

// listen listens on addr; a failure (a busy port) is a usage error of one
// line naming the flag.
func listen(flagName, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError{fmt.Sprintf("%s %s: %v", flagName, addr, err)}
	}
	return ln, nil
}

// prepareDB checks the database's durability, migrates it (or checks its
// schema with --migrate=false) and picks the clock.
func prepareDB(ctx context.Context, c *Config, db *store.DB, log *slog.Logger) (fulfill.Clock, jobs.SimulatedClock, error) {
	if err := checkDurability(ctx, db, c.AcceptDataLoss, log); err != nil {
		return nil, nil, err
	}
	if c.Migrate {
		if err := db.Migrate(ctx); err != nil {
			return nil, nil, err
		}
	} else if err := db.CheckSchema(ctx); err != nil {
		return nil, nil, err
	}
	start, err := c.simStart()
	if err != nil {
		return nil, nil, err
	}
	return serveClock(ctx, db, start, log)
}

// newService builds the domain service of the server.
func newService(c *Config, db *store.DB, clock fulfill.Clock, payments fulfill.PaymentProvider, ks *keys.Store, rec *metrics.Recorder) *commerce.Service {
	svc := &commerce.Service{DB: db, Clock: clock, Payments: payments, Tax: billing.DefaultTaxTable(c.SellerCountry), Keys: ks, Seller: c.Seller,
		PublicURL: c.PublicURL, Metrics: rec}
	svc.Wall, svc.CompleteAfter = fulfill.ClockFunc(time.Now), c.IdempotencyLease
	svc.RenewalNoticeDays, svc.BillingMailOff, _ = c.billingMail() // checked by validate
	svc.VIES = c.viesClient()
	if fp := c.Failpoint; fp != "" {
		// Tests only: die at a named point of a payment, like a crash.
		svc.Failpoint = func(name string) {
			if name == fp {
				os.Exit(3)
			}
		}
	}
	if c.TestAdvanceLease > 0 {
		jobs.AdvanceLease = c.TestAdvanceLease // tests only: a crashed advance's lease runs out sooner
	}
	return svc
}

// adminToken stores the admin API token: FULFILL_ADMIN_TOKEN (unless it is
// stored already), or a new one made at every start.
func adminToken(ctx context.Context, c *Config, db *store.DB, clock fulfill.Clock) (string, error) {
	token := c.AdminToken
	if token == "" {
		var b [32]byte
		rand.Read(b[:])
		token = "ful_" + base64.RawURLEncoding.EncodeToString(b[:])
	}
	hash := commerce.HashSecret(token)
	if c.AdminToken != "" {
		// A restart with the same FULFILL_ADMIN_TOKEN finds it stored: a
		// read, not a write (a commit, an fsync on SQLite) at every start.
		if t, err := db.TokenByHash(ctx, hash); err == nil && t.Name == "admin" && t.Role == "admin" {
			return token, nil
		}
	}
	if err := db.PutToken(ctx, "admin", hash, "admin", clock.Now()); err != nil {
		return "", err
	}
	return token, nil
}

// newJobs builds the runner of the background jobs; startAfterListen
// starts it.
func newJobs(c *Config, svc *commerce.Service, clock fulfill.Clock, sim jobs.SimulatedClock, log *slog.Logger,
	rec *metrics.Recorder) (*jobs.Runner, error) {
	var sender mail.Sender
	if c.SMTPURL != "" {
		smtp, err := mail.ParseURL(c.SMTPURL)
		if err != nil {
			return nil, usageError{"--smtp-url: " + err.Error()}
		}
		sender = smtp
	}
	return jobs.New(jobs.Config{Service: svc, Clock: clock, Simulated: sim, Logger: log, Mail: sender, From: c.MailFrom,
		ProvisioningURL: c.SaaSProvisioningURL, Metrics: rec})
}

// handlers builds the API and the web pages and routes between them.
func handlers(c *Config, svc *commerce.Service, db *store.DB, runner *jobs.Runner, ks *keys.Store,
	clock fulfill.Clock, log *slog.Logger) (*http.ServeMux, *web.Server, error) {
	proxies, err := clientip.Parse(c.TrustedProxies)
	if err != nil {
		return nil, nil, usageError{"--trusted-proxies: " + err.Error()}
	}
	c.Seller.Country = c.SellerCountry
	a := &api.Server{Svc: svc, DB: db, Jobs: runner, Keys: ks, Seller: c.Seller, Logger: log,
		Wall: fulfill.ClockFunc(time.Now), Lease: c.IdempotencyLease, ClientIP: proxies}
	if c.Unthrottled {
		a.InstanceLimits = unthrottled()
	}
	if wh := newStripeWebhook(c.StripeWebhooks); wh != nil {
		a.StripeWebhook = wh
	}
	webSrv, err := web.New(web.Config{Service: svc, DB: db, Clock: clock, Logger: log, BaseURL: c.PublicURL, DashboardTTL: 30 * time.Second,
		Seller: c.Seller, Jobs: runner, ClientIP: proxies, StripePublishableKey: map[bool]string{true: c.StripePublishable}[c.Payments == "stripe"]})
	if err != nil {
		return nil, nil, err
	}
	apiHandler := a.Handler()
	root := http.NewServeMux()
	root.Handle("/api/", apiHandler)
	root.Handle("/healthz", apiHandler)
	root.Handle("/readyz", apiHandler)
	root.Handle("/webhooks/", apiHandler)
	root.Handle("/.well-known/", apiHandler)
	root.Handle("/", webSrv.Handler())
	return root, webSrv, nil
}

// banner tells the operator where the server runs and how to reach it.
func banner(stdout io.Writer, c *Config, addr net.Addr, dialect string, loaded bool, token string, sim jobs.SimulatedClock) {
	fmt.Fprintf(stdout, "Fulfill is running at http://%s (%s)\n", addr, dialect)
	if loaded {
		fmt.Fprintln(stdout, "Loaded the demo catalog: sm-premium, sm-ultimate, saas-premium, saas-ultimate.")
	}
	if c.AdminToken == "" {
		fmt.Fprintf(stdout, "Admin API token (new at every start; set FULFILL_ADMIN_TOKEN to fix one):\n  %s\n", token)
	} else {
		fmt.Fprintln(stdout, "Admin API token: the one in FULFILL_ADMIN_TOKEN.")
	}
	if sim != nil {
		fmt.Fprintf(stdout, "Simulated clock at %s: POST /api/v1/test_clock/advance moves it.\n", fulfill.Today(sim))
	}
	firstRun(stdout, c)
}

// firstRun tells a new operator where the portal and the console are, how
// to get into the console, and where mail goes without SMTP.
func firstRun(stdout io.Writer, c *Config) {
	base := strings.TrimRight(c.PublicURL, "/")
	fmt.Fprintf(stdout, "Customer portal: %s/\n", base)
	fmt.Fprintf(stdout, "Admin console:   %s/admin (create its first user with: fulfill admin create-user --email you@example.com)\n", base)
	if c.SMTPURL == "" {
		fmt.Fprintf(stdout, "No --smtp-url: mail is not sent but waits in the outbox, readable at %s/admin/emails\n"+
			"  (sign-up confirmations and sign-in links included).\n", base)
	}
}
