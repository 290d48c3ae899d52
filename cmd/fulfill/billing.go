package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
)

const billingUsage = `Usage: fulfill billing run [--date YYYY-MM-DD] [--batch N] [--parallel N] [--data-dir DIR | --database-url URL]

Does now, in order, what falls due on the date (default today): renewals and
expiries with their true-ups, quarterly seat reconciliations, payment retries
of failed renewals, and revenue recognition. The running server does the same
every hour; this runs it by hand, with a progress bar (rate and time left).
Emails it causes are queued for the server to send.

Renewals are done --batch at a time, one transaction each; a renewal that
fails is left out (and listed) and the run goes on. On PostgreSQL --parallel
batches (default 4) are renewed at once, on connections of their own; on
SQLite one at a time unless --parallel says otherwise. A run that is stopped
or killed is resumed by running it again: nothing is renewed twice.
`

func billingCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, billingUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(stderr, billingUsage)
		return usageError{"billing: want `billing run`"}
	}
	fs, c := flags("billing run", stderr, getenv)
	setUsage(fs, billingUsage)
	date := fs.String("date", "", "the day to run (YYYY-MM-DD); default today")
	batch := fs.Int("batch", commerce.DefaultRunBatch, "renewals per transaction")
	parallel := fs.Int("parallel", 0, fmt.Sprintf("batches renewed at once (default %d on PostgreSQL, 1 on SQLite)", commerce.DefaultRunParallel))
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&c.Payments, "payments", or(getenv("FULFILL_PAYMENTS"), "test"), "payment provider: test or stripe [FULFILL_PAYMENTS]")
	fs.StringVar(&c.StripeAPIBase, "stripe-api-base", getenv("FULFILL_STRIPE_API_BASE"), "Stripe API base URL [FULFILL_STRIPE_API_BASE]")
	fs.StringVar(&c.SellerCountry, "seller-country", or(getenv("FULFILL_SELLER_COUNTRY"), "US"), "the seller's country, for tax [FULFILL_SELLER_COUNTRY]")
	fs.StringVar(&c.PublicURL, "public-url", or(getenv("FULFILL_PUBLIC_URL"), "http://127.0.0.1:8080"),
		"the server's public URL, for links in the emails the run queues (default: serve's loopback default) [FULFILL_PUBLIC_URL]")
	c.StripeSecretKey = getenv("FULFILL_STRIPE_SECRET_KEY")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if *batch < 1 || *batch > 10000 {
		return usageError{"--batch: want 1 to 10000"}
	}
	if *parallel < 0 || *parallel > 64 {
		return usageError{"--parallel: want 1 to 64 (0: the default)"}
	}
	country, err := checkCountry("--seller-country", c.SellerCountry)
	if err != nil {
		return err
	}
	c.SellerCountry = country
	publicURL, err := parsePublicURL(c.PublicURL)
	if err != nil {
		return err
	}
	day := fulfill.DateOf(time.Now())
	if *date != "" {
		d, err := fulfill.ParseDate(*date)
		if err != nil {
			return usageError{"--date: " + err.Error()}
		}
		day = d
	}
	payments, err := paymentProvider(c)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	// The business clock stands at the day run, so renewals and reconciliations
	// are dated as they would have been.
	clock := fulfill.ClockFunc(func() time.Time {
		now := time.Now().UTC()
		return day.Time().Add(now.Sub(now.Truncate(24 * time.Hour)))
	})
	svc := &commerce.Service{DB: db, Clock: clock, Payments: payments, Tax: billing.DefaultTaxTable(c.SellerCountry), Keys: c.keyStore(),
		PublicURL: publicURL}
	if fp := failpoint(getenv); fp != "" {
		// Tests only: die at a named point (billing-batch-N), like a crash.
		svc.Failpoint = func(name string) {
			if name == fp {
				os.Exit(3)
			}
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	bar := newProgressBar(stderr, "billing run")
	bar.unit = "items"
	sum, err := svc.RunDueWith(ctx, day, commerce.RunOptions{Batch: *batch, Parallel: *parallel, Progress: bar.update})
	bar.done()
	if sum != nil {
		for _, f := range sum.Failed {
			fmt.Fprintf(stderr, "subscription %s: %v\n", f.SubscriptionID, f.Err)
		}
	}
	if err != nil {
		return fmt.Errorf("billing run for %s: %w", day, err)
	}
	fmt.Fprintf(stdout, "%s: %d subscriptions renewed, expired or lapsed; %d reconciliations; %d payment retries; revenue recognised on %d invoices\n",
		day, sum.Subscriptions, sum.Reconciliations, sum.Retries, sum.Recognized)
	return nil
}
