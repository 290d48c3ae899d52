package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/api"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/clientip"
	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/keys"
	"github.com/fulfillhq/fulfill/mail"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/web"
)

const usage = `fulfill: an open-source fulfillment platform for software sold by the seat.

Usage:
  fulfill serve    [flags]             run the server (SQLite in ./fulfill-data by default)
  fulfill migrate  [flags]             apply database migrations and exit
  fulfill keys     generate|list|rotate|remove KID
                                       manage the license signing keys
  fulfill license  verify FILE         verify a license file with the trusted keys
  fulfill instance activate|sync|export-usage|status
                                       act as a product instance against a server
  fulfill saas-receiver --addr HOST:PORT --jwks URL
                                       play the SaaS product that Fulfill provisions
  fulfill billing  run [--date YYYY-MM-DD]
                                       do what falls due today (renewals, reconciliation, retries)
  fulfill import   customers|subscriptions FILE.csv
                                       migrate customers and subscriptions from CSV
  fulfill export   customers|subscriptions|invoices|payments [-o FILE] | crm FILE
                                       CSV exports; the CRM event file
  fulfill admin    create-user --email E --role R
                                       add a staff account for the admin console (/admin)
  fulfill loadtest [--customers N] [--clients N] [--duration D]
                                       seed a database, load the web pages, print latencies
  fulfill probe    --server URL        buy, activate, sync and download a license as the
                                       probe customer; exit 1 on the first failure
  fulfill backup   FILE                online SQLite backup (PostgreSQL: pg_dump)
  fulfill restore  FILE                check a backup and put it in place (server stopped)
  fulfill migrate-data --from DATA_DIR --to postgres://…
                                       copy an SQLite database into an empty PostgreSQL one
  fulfill help                         show this help

Run "fulfill COMMAND -h" for a command's flags.
`

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// Main runs the command line; tests call it with their own arguments.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr, getenv)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		return keysCmd(args[1:], stdout, stderr, getenv)
	case "license":
		return licenseCmd(args[1:], stdout, stderr, getenv)
	case "instance":
		return instanceCmd(ctx, args[1:], stdout, stderr, getenv)
	case "saas-receiver":
		return saasReceiverCmd(ctx, args[1:], stdout, stderr, getenv)
	case "billing":
		return billingCmd(ctx, args[1:], stdout, stderr, getenv)
	case "import":
		return importCmd(ctx, args[1:], stdout, stderr, getenv)
	case "export":
		return exportCmd(ctx, args[1:], stdout, stderr, getenv)
	case "admin":
		return adminCmd(ctx, args[1:], stdout, stderr, getenv)
	case "loadtest":
		return loadtestCmd(ctx, args[1:], stdout, stderr, getenv)
	case "probe":
		return probeCmd(ctx, args[1:], stdout, stderr, getenv)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr, getenv)
	case "restore":
		return restoreCmd(ctx, args[1:], stdout, stderr, getenv)
	case "migrate-data":
		return migrateDataCmd(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// Config is the whole configuration, read from flags and the environment.
type Config struct {
	DataDir        string
	DatabaseURL    string
	Addr           string
	AdminToken     string
	SimulatedClock string
	SellerCountry  string
	SMTPURL        string
	MailFrom       string
	PublicURL      string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (comma-separated CIDR prefixes); empty trusts none.
	TrustedProxies string
	Seller         invoicepdf.Party
	// Payments is the payment provider: "test" or "stripe".
	Payments          string
	StripeSecretKey   string // from the environment only: flags show in ps
	StripeAPIBase     string
	StripeWebhooks    string // webhook signing secrets, comma-separated during rotation
	StripePublishable string // the publishable key for Stripe's card form in the portal
	IdempotencyLease  time.Duration
	// TestPaymentLatency makes each call of the test payment provider wait
	// this long, as a remote provider would.
	TestPaymentLatency time.Duration
	// TestPaymentJournal (tests only, from FULFILL_TEST_PAYMENT_JOURNAL) is
	// a file where the test provider notes every charge.
	TestPaymentJournal string
	KeyFile            string
	Migrate            bool
	LogLevel           string
	LogFormat          string // text or json
	// MetricsAddr serves /metrics without authentication on its own
	// listener; empty serves it on Addr behind the admin token.
	MetricsAddr string
	// SaaSProvisioningURL is the SaaS product's base URL; empty disables
	// provisioning.
	SaaSProvisioningURL string
	// KeysDir is the folder of signing keys (default DataDir/keys); every
	// copy on one database needs the same keys.
	KeysDir string
	// AcceptDataLoss starts on a database that may lose acknowledged
	// commits in a crash (said in a WARN line at every start).
	AcceptDataLoss bool
}

// String prints the config with secrets redacted.
func (c Config) String() string {
	tok := ""
	if c.AdminToken != "" {
		tok = "[redacted]"
	}
	db := c.DatabaseURL
	if i := strings.Index(db, "@"); i > 0 && strings.Contains(db, "://") {
		db = db[:strings.Index(db, "://")+3] + "[redacted]" + db[i:]
	}
	if db == "" {
		db = c.dbURL()
	}
	return fmt.Sprintf("data-dir=%s database=%s addr=%s admin-token=%s clock=%s", c.DataDir, db, c.Addr, tok, or(c.SimulatedClock, "real"))
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func flags(name string, stderr io.Writer, getenv func(string) string) (*flag.FlagSet, *Config) {
	c := &Config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data-dir", or(getenv("FULFILL_DATA_DIR"), "fulfill-data"), "data directory (SQLite database, keys, outbox) [FULFILL_DATA_DIR]")
	fs.StringVar(&c.DatabaseURL, "database-url", getenv("FULFILL_DATABASE_URL"), "postgres://… to use PostgreSQL instead of SQLite [FULFILL_DATABASE_URL]")
	fs.StringVar(&c.KeysDir, "keys-dir", getenv("FULFILL_SIGNING_KEY_DIR"),
		"folder of license signing keys shared by every copy of the server (default DATA_DIR/keys) [FULFILL_SIGNING_KEY_DIR]")
	c.KeyFile = getenv("FULFILL_SIGNING_KEY_FILE")
	return fs, c
}

// failpoint is where tests want the server to die: FULFILL_FAILPOINT
// (after-phase1, after-charge, after-phase3), or after-charge for the older
// FULFILL_TEST_CRASH_AFTER_CHARGE=1.
func failpoint(getenv func(string) string) string {
	if fp := getenv("FULFILL_FAILPOINT"); fp != "" {
		return fp
	}
	if getenv("FULFILL_TEST_CRASH_AFTER_CHARGE") == "1" {
		return "after-charge"
	}
	return ""
}

// envDuration reads a duration from the environment; unset is zero.
func envDuration(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, usageError{fmt.Sprintf("%s=%q: want a duration such as 800ms", name, v)}
	}
	return d, nil
}

func (c *Config) dbURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "fulfill.db")
}

func (c *Config) keyStore() *keys.Store {
	if c.KeysDir != "" {
		return keys.New(c.KeysDir, c.KeyFile)
	}
	return keys.New(filepath.Join(c.DataDir, "keys"), c.KeyFile)
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("migrate", stderr, getenv)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	db, err := store.Open(ctx, c.dbURL())
	if err != nil {
		return err
	}
	defer db.Close()
	before, latest, err := db.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s: schema version %d → %d (latest %d)\n", db.Dialect, before, latest, latest)
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("serve", stderr, getenv)
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
		return err
	}
	fs.DurationVar(&c.TestPaymentLatency, "test-payment-latency", latency,
		"make each call of the test payment provider wait this long, e.g. 800ms [FULFILL_TEST_PAYMENT_LATENCY]")
	c.TestPaymentJournal = getenv("FULFILL_TEST_PAYMENT_JOURNAL")
	c.StripeSecretKey = getenv("FULFILL_STRIPE_SECRET_KEY")
	c.StripeWebhooks = getenv("FULFILL_STRIPE_WEBHOOK_SECRETS")
	c.StripePublishable = getenv("FULFILL_STRIPE_PUBLISHABLE_KEY")
	fs.StringVar(&c.PublicURL, "public-url", getenv("FULFILL_PUBLIC_URL"), "the URL customers use to reach this server (https://billing.example.com, optionally with a path prefix), the only origin of links in emails; required unless --addr is loopback, where it defaults to http://ADDR [FULFILL_PUBLIC_URL]")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", getenv("FULFILL_TRUSTED_PROXIES"),
		"reverse proxies (CIDR,...) whose X-Forwarded-For header names the client; unset trusts none [FULFILL_TRUSTED_PROXIES]")
	fs.StringVar(&c.Seller.Company, "seller-name", or(getenv("FULFILL_SELLER_NAME"), "Fulfill Demo Vendor Inc."), "the seller's legal name on invoices [FULFILL_SELLER_NAME]")
	fs.StringVar(&c.Seller.Address, "seller-address", or(getenv("FULFILL_SELLER_ADDRESS"), "1 Market Street"), "the seller's address on invoices [FULFILL_SELLER_ADDRESS]")
	fs.StringVar(&c.Seller.TaxID, "seller-tax-id", getenv("FULFILL_SELLER_TAX_ID"), "the seller's tax id on invoices [FULFILL_SELLER_TAX_ID]")
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
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if c.TestPaymentLatency < 0 {
		return usageError{"--test-payment-latency must not be negative"}
	}
	c.AdminToken = getenv("FULFILL_ADMIN_TOKEN")
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		return usageError{"FULFILL_ADMIN_TOKEN must be at least 32 characters"}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return usageError{fmt.Sprintf("--addr %q: want HOST:PORT", c.Addr)}
	}
	proxies, err := clientip.Parse(c.TrustedProxies)
	if err != nil {
		return usageError{"--trusted-proxies: " + err.Error()}
	}
	if err := checkPublicURL(c.PublicURL, c.Addr); err != nil {
		return err
	}
	log, err := newLogger(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}

	var simStart *fulfill.Date
	if c.SimulatedClock != "" {
		d, err := fulfill.ParseDate(c.SimulatedClock)
		if err != nil {
			return usageError{"--simulated-clock: " + err.Error()}
		}
		simStart = &d
	}

	db, err := store.Open(ctx, c.dbURL())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkDurability(ctx, db, c.AcceptDataLoss, log); err != nil {
		return err
	}
	if c.Migrate {
		if err := db.Migrate(ctx); err != nil {
			return err
		}
	} else if err := db.CheckSchema(ctx); err != nil {
		return err
	}
	clock, sim, err := serveClock(ctx, db, simStart, log)
	if err != nil {
		return err
	}

	ks := c.keyStore()
	if err := checkSigningKeys(ctx, db, ks, stdout, log); err != nil {
		return err
	}
	var sender mail.Sender
	if c.SMTPURL != "" {
		smtp, err := mail.ParseURL(c.SMTPURL)
		if err != nil {
			return usageError{"--smtp-url: " + err.Error()}
		}
		sender = smtp
	}

	c.Seller.Country = c.SellerCountry
	// Listen before the public URL is settled: on loopback it defaults to
	// the address listened on, port included when --addr asks for port 0.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	publicURL, err := resolvePublicURL(c.PublicURL, ln.Addr().String())
	if err != nil {
		return err
	}
	c.PublicURL = publicURL
	payments, err := paymentProvider(c)
	if err != nil {
		return err
	}
	rec := newRecorder(log, db)
	svc := &commerce.Service{DB: db, Clock: clock, Payments: payments, Tax: billing.DefaultTaxTable(c.SellerCountry), Keys: ks, Seller: c.Seller,
		PublicURL: publicURL, Metrics: rec}
	svc.Wall, svc.CompleteAfter = fulfill.ClockFunc(time.Now), c.IdempotencyLease
	if fp := failpoint(getenv); fp != "" {
		// Tests only: die at a named point of a payment, like a crash.
		svc.Failpoint = func(name string) {
			if name == fp {
				os.Exit(3)
			}
		}
	}
	if d, err := time.ParseDuration(getenv("FULFILL_TEST_ADVANCE_LEASE")); err == nil && d > 0 {
		jobs.AdvanceLease = d // tests only: a crashed advance's lease runs out sooner
	}
	loaded, err := svc.LoadDemoCatalog(ctx)
	if err != nil {
		return fmt.Errorf("load demo catalog: %w", err)
	}
	token := c.AdminToken
	if token == "" {
		var b [32]byte
		rand.Read(b[:])
		token = "ful_" + base64.RawURLEncoding.EncodeToString(b[:])
	}
	if err := db.PutToken(ctx, "admin", commerce.HashSecret(token), "admin", clock.Now()); err != nil {
		return err
	}

	if u := c.SaaSProvisioningURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return usageError{fmt.Sprintf("--saas-provisioning-url %q: want an http:// or https:// URL", u)}
	}
	runner, err := jobs.New(jobs.Config{Service: svc, Clock: clock, Simulated: sim, Logger: log, Mail: sender, From: c.MailFrom,
		ProvisioningURL: c.SaaSProvisioningURL, Metrics: rec})
	if err != nil {
		return err
	}
	// Not ctx: SIGTERM must not hard-stop running jobs (stopJobs stops softly
	// after the HTTP server has finished its requests).
	if err := runner.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer stopJobs(runner, log)

	a := &api.Server{Svc: svc, DB: db, Jobs: runner, Keys: ks, Seller: c.Seller, Logger: log,
		Wall: fulfill.ClockFunc(time.Now), Lease: c.IdempotencyLease, ClientIP: proxies}
	if wh := newStripeWebhook(c.StripeWebhooks); wh != nil {
		a.StripeWebhook = wh
	}
	webSrv, err := web.New(web.Config{Service: svc, DB: db, Clock: clock, Logger: log, BaseURL: publicURL, DashboardTTL: 30 * time.Second,
		Seller: c.Seller, Jobs: runner, ClientIP: proxies, StripePublishableKey: map[bool]string{true: c.StripePublishable}[c.Payments == "stripe"]})
	if err != nil {
		return err
	}
	go func() {
		if err := webSrv.WarmDashboard(ctx); err != nil {
			log.Warn("dashboard warm-up", "err", err)
		}
	}()
	apiHandler := a.Handler()
	root := http.NewServeMux()
	root.Handle("/api/", apiHandler)
	root.Handle("/healthz", apiHandler)
	root.Handle("/readyz", apiHandler)
	root.Handle("/webhooks/", apiHandler)
	root.Handle("/.well-known/", apiHandler)
	root.Handle("/", webSrv.Handler())
	if c.MetricsAddr != "" {
		mln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		go serveMetrics(ctx, mln, rec, log)
		fmt.Fprintf(stdout, "Metrics at http://%s/metrics\n", mln.Addr())
	}
	srv := &http.Server{Handler: observed(root, rec, c.MetricsAddr, token), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second}

	fmt.Fprintf(stdout, "Fulfill is running at http://%s (%s)\n", ln.Addr(), db.Dialect)
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
	log.Info("serving", "config", c.String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return stopHTTP(srv, log)
}
