package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill/invoicepdf"
	"github.com/fulfillhq/fulfill/keys"
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
  fulfill bench    [--quick] [--json] [--database-url URL]
                                       start a server, load it, print rates beside bare baselines
  fulfill probe    --server URL        buy, activate, sync and download a license as the
                                       probe customer; exit 1 on the first failure
  fulfill backup   FILE                online SQLite backup (PostgreSQL: pg_dump)
  fulfill restore  FILE                check a backup and put it in place (server stopped)
  fulfill migrate-data --from DATA_DIR --to postgres://…
                                       copy an SQLite database into an empty PostgreSQL one
  fulfill version                      print the version of this build
  fulfill help     [COMMAND]           show this help, or a command's

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
	err := command(ctx, args, stdout, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command printed its usage on -h
	}
	return err
}

func command(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
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
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr, getenv)
	case "bench-bare-server": // bench's baseline of start-up and memory
		return benchBareServer(ctx, args[1:], stderr, getenv)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr, getenv)
	case "restore":
		return restoreCmd(ctx, args[1:], stdout, stderr, getenv)
	case "migrate-data":
		return migrateDataCmd(ctx, args[1:], stdout, stderr, getenv)
	case "version":
		return versionCmd(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" {
			// help TOPIC is TOPIC -h.
			return Main(ctx, append(args[1:], "-h"), stdout, stderr, getenv)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// isHelp reports whether arg asks for help in place of a subcommand.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// setUsage makes fs's usage the text followed by the flags.
func setUsage(fs *flag.FlagSet, text string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), text+"\nFlags:\n")
		fs.PrintDefaults()
	}
}

// parseFlags parses args with fs. With -h or --help it prints the usage to
// stdout and returns flag.ErrHelp, which Main turns into exit status 0; a
// mistake is a usage error, printed with the usage to fs's output
// (standard error).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	var buf bytes.Buffer
	errOut := fs.Output()
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(errOut)
	if errors.Is(err, flag.ErrHelp) {
		stdout.Write(buf.Bytes())
		return flag.ErrHelp
	}
	errOut.Write(buf.Bytes())
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// versionCmd prints the module version of this build and the Go version.
func versionCmd(args []string, stdout io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, "Usage: fulfill version\n\nPrints the version of this build and of Go it was built with.")
		return nil
	}
	if len(args) > 0 {
		return usageError{fmt.Sprintf("version: unexpected argument %q", args[0])}
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// versionLine is "fulfill VERSION [(commit REV[, modified])] GOVERSION OS/ARCH".
func versionLine() string {
	v, extra := "(devel)", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			v = info.Main.Version
		}
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			extra = " (commit " + rev[:min(12, len(rev))]
			if modified == "true" {
				extra += ", modified"
			}
			extra += ")"
		}
	}
	return fmt.Sprintf("fulfill %s%s %s %s/%s", v, extra, runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
	// Failpoint (tests only, FULFILL_FAILPOINT) names the point of a
	// payment where the server dies, like a crash.
	Failpoint string
	// TestAdvanceLease (tests only, FULFILL_TEST_ADVANCE_LEASE) shortens
	// the lease of a clock advance; zero keeps the default.
	TestAdvanceLease time.Duration
	// Unthrottled (tests and `fulfill bench` only, FULFILL_BENCH_UNTHROTTLED=1)
	// lifts the per-address and per-instance limits of the instance
	// endpoints, which one loopback load generator would otherwise hit.
	Unthrottled bool
	// RenewalNoticeDays and BillingMailOff are --renewal-notice-days and
	// --billing-mail-off, read by billingMail.
	RenewalNoticeDays, BillingMailOff string
	// VIESURL and VIESTimeout are --vies-url (empty: VAT ids are checked
	// offline only) and --vies-timeout.
	VIESURL     string
	VIESTimeout time.Duration
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
	setUsage(fs, "Usage: fulfill migrate [--data-dir DIR | --database-url URL]\n\nApplies the pending database migrations and exits.\n")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	db, err := c.openStore(ctx)
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
