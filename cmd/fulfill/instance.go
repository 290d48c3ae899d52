package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill/instance"
	"github.com/fulfillhq/fulfill/license"
)

const instanceUsage = `fulfill instance: act as a product instance against a Fulfill server.

Usage:
  fulfill instance activate     --server URL --code CODE   activate, store the verified license
  fulfill instance sync         --billable N --max N       report user counts (Seat Link), get a newer license
  fulfill instance export-usage --out FILE [--billable N --max N]
                                                           write the usage file of an air-gapped site
  fulfill instance status                                  show the stored license and its state

Every command takes --state-dir DIR (default ./fulfill-instance, or
FULFILL_INSTANCE_DIR). The server URL comes from --server or
FULFILL_SERVER_URL; after activation it is remembered.

Run "fulfill instance COMMAND -h" for a command's flags.
`

// instanceVersion is the version the CLI reports to the server.
const instanceVersion = "fulfill-cli"

// instanceCmd runs "fulfill instance …"; args excludes "instance".
func instanceCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, instanceUsage)
		return usageError{"instance: no subcommand given"}
	}
	var run func(context.Context, []string, io.Writer, io.Writer, func(string) string) error
	switch args[0] {
	case "activate":
		run = instanceActivate
	case "sync":
		run = instanceSync
	case "export-usage":
		run = instanceExportUsage
	case "status":
		run = instanceStatus
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, instanceUsage)
		return nil
	default:
		fmt.Fprint(stderr, instanceUsage)
		return usageError{fmt.Sprintf("instance: unknown subcommand %q", args[0])}
	}
	err := run(ctx, args[1:], stdout, stderr, getenv)
	var u usageError
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if errors.As(err, &u) {
		return err
	}
	return errors.New(strings.Join(strings.Fields(err.Error()), " ")) // one line
}

// instanceFlags holds the flags shared by the subcommands.
type instanceFlags struct {
	fs       *flag.FlagSet
	stateDir string
	server   string
	now      string
	keys     string
	ring     *license.Keyring
}

func newInstanceFlags(name, synopsis, about string, stderr io.Writer, getenv func(string) string, withServer bool) *instanceFlags {
	f := &instanceFlags{fs: flag.NewFlagSet("instance "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() {
		fmt.Fprintf(f.fs.Output(), "Usage: fulfill instance %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		f.fs.PrintDefaults()
	}
	f.fs.StringVar(&f.stateDir, "state-dir", or(getenv("FULFILL_INSTANCE_DIR"), "fulfill-instance"), "directory of license.lic and instance.json [FULFILL_INSTANCE_DIR]")
	f.fs.StringVar(&f.keys, "public-key", getenv("FULFILL_INSTANCE_PUBLIC_KEYS"), "trust only these license keys (fulfill-ed25519-public:…, comma-separated), not the server's published ones [FULFILL_INSTANCE_PUBLIC_KEYS]")
	f.fs.StringVar(&f.now, "now", getenv("FULFILL_INSTANCE_NOW"), "pretend today is this date (YYYY-MM-DD), to follow a server on a simulated clock; never in production [FULFILL_INSTANCE_NOW]")
	if withServer {
		f.fs.StringVar(&f.server, "server", getenv("FULFILL_SERVER_URL"), "Fulfill server URL, e.g. https://customers.example.com [FULFILL_SERVER_URL]")
	}
	return f
}

// parse parses args and refuses positional arguments.
func (f *instanceFlags) parse(args []string, stdout io.Writer) error {
	if err := parseFlags(f.fs, args, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{"instance: " + err.Error()}
	}
	if f.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("instance: unexpected argument %q", f.fs.Arg(0))}
	}
	if f.keys != "" {
		f.ring, _ = license.NewKeyring()
		for _, k := range strings.Split(f.keys, ",") {
			pub, err := license.ParsePublicKey(strings.TrimSpace(k))
			if err != nil {
				return usageError{fmt.Sprintf("instance: --public-key: %v", err)}
			}
			f.ring.Add(pub)
		}
	}
	if f.now != "" {
		if _, err := time.Parse(time.DateOnly, f.now); err != nil {
			return usageError{fmt.Sprintf("instance: --now %q: want YYYY-MM-DD", f.now)}
		}
	}
	if f.server != "" && !strings.HasPrefix(f.server, "http://") && !strings.HasPrefix(f.server, "https://") {
		return usageError{fmt.Sprintf("instance: --server %q: want an http:// or https:// URL", f.server)}
	}
	return nil
}

func (f *instanceFlags) client() *instance.Client {
	c := &instance.Client{BaseURL: f.server, StateDir: f.stateDir, Version: instanceVersion, TrustedKeys: f.ring}
	if f.now != "" {
		// Noon of the simulated day: licenses issued that day on the server
		// are not in the future.
		day, _ := time.Parse(time.DateOnly, f.now)
		c.Now = func() time.Time { return day.Add(12 * time.Hour) }
	}
	return c
}

// countFlags are --billable and --max.
type countFlags struct {
	fs            *flag.FlagSet
	billable, max int
}

func (c *countFlags) add(fs *flag.FlagSet) {
	c.fs = fs
	fs.IntVar(&c.billable, "billable", 0, "billable users today")
	fs.IntVar(&c.max, "max", 0, "highest daily billable user count of the current term (max historical)")
}

// check, after parsing, wants both counts or neither (both if required),
// and no negative count. It reports whether they were given.
func (c *countFlags) check(required bool) (given bool, err error) {
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case !set["billable"] && !set["max"] && required:
		return false, usageError{"instance: --billable and --max are required"}
	case !set["billable"] && !set["max"]:
		return false, nil
	case !set["billable"] || !set["max"]:
		return false, usageError{"instance: give both --billable and --max"}
	case c.billable < 0 || c.max < 0:
		return false, usageError{"instance: --billable and --max must not be negative"}
	}
	return true, nil
}

func instanceActivate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	f := newInstanceFlags("activate", "--server URL --code CODE [--state-dir DIR]",
		"Activates this instance with the 24-character activation code from the customer's\n"+
			"subscription: fetches the server's public keys, verifies the license the server\n"+
			"returns against them and stores both in the state directory.", stderr, getenv, true)
	var code string
	f.fs.StringVar(&code, "code", "", "activation code (24 characters)")
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if f.server == "" {
		return usageError{"instance activate: --server or FULFILL_SERVER_URL is required"}
	}
	if code == "" {
		return usageError{"instance activate: --code is required"}
	}
	p, res, err := f.client().ActivateResult(ctx, code)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Activated: subscription %s, plan %s, %d seats, expires %s.\n", p.SubscriptionID, p.Plan, p.Seats, dateOr(p.ExpiresAt.String(), "never"))
	if n := len(res.FutureSubscriptions); n > 0 {
		fmt.Fprintf(stdout, "Future subscriptions: %d.\n", n)
	}
	fmt.Fprintf(stdout, "License stored in %s.\n", filepath.Join(f.stateDir, "license.lic"))
	return nil
}

func instanceSync(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	f := newInstanceFlags("sync", "--billable N --max N [--server URL] [--state-dir DIR]",
		"Reports today's user counts to the server (Seat Link) with the stored license and\n"+
			"stores the newer license the server may send, after verifying it. Network errors,\n"+
			"429 and 5xx are retried with backoff; if they persist the report is kept for\n"+
			"export-usage.", stderr, getenv, true)
	var counts countFlags
	counts.add(f.fs)
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if _, err := counts.check(true); err != nil {
		return err
	}
	res, err := f.client().Sync(ctx, instance.Usage{MaxHistorical: counts.max, Billable: counts.billable})
	if err != nil {
		return err
	}
	if res.NewLicense {
		fmt.Fprintln(stdout, "New license received and stored.")
	} else {
		fmt.Fprintln(stdout, "No new license.")
	}
	fmt.Fprintf(stdout, "Seats: %d\n", res.License.Seats)
	fmt.Fprintf(stdout, "Expires: %s\n", dateOr(res.License.ExpiresAt.String(), "never"))
	fmt.Fprintf(stdout, "Next reconciliation: %s\n", dateOr(res.NextReconciliationDate, "none"))
	return nil
}

func instanceExportUsage(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	f := newInstanceFlags("export-usage", "--out FILE [--billable N --max N] [--state-dir DIR]",
		"For air-gapped sites: with --billable and --max, records today's counts first; then\n"+
			"writes the usage file (format fulfill-usage-v1) with every pending report, for the\n"+
			"vendor to upload. --out - writes to standard output.", stderr, getenv, false)
	var out string
	var counts countFlags
	f.fs.StringVar(&out, "out", "", "file to write, or - for standard output")
	counts.add(f.fs)
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if out == "" {
		return usageError{"instance export-usage: --out is required"}
	}
	given, err := counts.check(false)
	if err != nil {
		return err
	}
	c := f.client()
	if given {
		if err := c.RecordOffline(instance.Usage{MaxHistorical: counts.max, Billable: counts.billable}); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := c.ExportUsage(&buf, nil); err != nil {
		return err
	}
	if out == "-" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	// The file carries the license, which authenticates the instance: 0600.
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		return err
	}
	pending, err := c.PendingReports()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote %d daily report(s) to %s.\n", len(pending), out)
	return nil
}

func instanceStatus(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	f := newInstanceFlags("status", "[--billable N --max N] [--state-dir DIR]",
		"Shows the stored license (verified offline) and its state today; with --billable\n"+
			"and --max the seat and true-up checks use those counts.", stderr, getenv, false)
	var counts countFlags
	counts.add(f.fs)
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if _, err := counts.check(false); err != nil {
		return err
	}
	c := f.client()
	st, err := c.LoadState()
	if err != nil {
		return err
	}
	p, _, err := c.License()
	if err != nil {
		return err
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	s := p.Check(now, counts.billable, counts.max)
	w := func(k, v string) { fmt.Fprintf(stdout, "%-21s %s\n", k+":", v) }
	w("Instance", st.InstanceID)
	w("Server", dateOr(st.ServerURL, "-"))
	w("Subscription", p.SubscriptionID)
	w("Plan", p.Plan)
	w("Seats", fmt.Sprintf("%d (up to %d with the 10%% tolerance)", p.Seats, s.SeatLimit))
	if p.ExpiresAt.IsZero() {
		w("Expires", "never")
	} else {
		w("Expires", fmt.Sprintf("%s (%d days left)", p.ExpiresAt, max(s.DaysLeft, 0)))
	}
	w("State", s.State.String())
	if !st.LastSyncAt.IsZero() {
		w("Last sync", st.LastSyncAt.UTC().Format(time.RFC3339))
	} else {
		w("Last sync", "never")
	}
	w("Next reconciliation", dateOr(st.NextReconciliationDate, "none"))
	w("Pending reports", fmt.Sprint(len(st.Pending)))
	return nil
}

func dateOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
