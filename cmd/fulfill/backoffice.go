package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/backoffice"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/store"
)

const importUsage = `Usage: fulfill import customers|subscriptions FILE.csv [flags]

Migrates an existing customer base (formats in docs/import.md). Every row is
validated; rejected rows are listed as "line N: field: reason" and the valid
rows are imported in one transaction. Imported subscriptions are not invoiced
or charged. Exit status 0 unless the import failed, or --all-or-nothing
refused it.
`

// openDB opens the configured database and refuses an old schema.
func openDB(ctx context.Context, c *Config) (*store.DB, error) {
	db, err := c.openStore(ctx)
	if err != nil {
		return nil, err
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("import", stderr, getenv)
	allOrNothing := fs.Bool("all-or-nothing", false, "import nothing if any row is rejected (exit status 1)")
	dryRun := fs.Bool("dry-run", false, "validate and report, import nothing")
	setUsage(fs, importUsage)
	pos, err := parseAnywhere(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != commerce.ImportCustomers && pos[0] != commerce.ImportSubscriptions) {
		fs.Usage()
		return usageError{"want: fulfill import customers|subscriptions FILE.csv"}
	}
	f, err := os.Open(pos[1])
	if err != nil {
		return err
	}
	defer f.Close()
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	ks := c.keyStore()
	if list, err := ks.List(); err != nil {
		return err
	} else if len(list) == 0 && !*dryRun {
		// Self-managed subscriptions get a license, as `fulfill serve` would sign.
		kid, err := ks.Generate(true)
		if err != nil {
			return fmt.Errorf("generate the first license signing key: %w", err)
		}
		fmt.Fprintf(stderr, "Generated license signing key %s in %s.\n", kid, ks.Dir)
	}
	clock := fulfill.ClockFunc(time.Now)
	svc := &commerce.Service{DB: db, Clock: clock, Tax: billing.DefaultTaxTable("US"), Keys: ks}
	bar := newProgressBar(stderr, "importing")
	start := time.Now()
	rep, err := svc.Import(ctx, pos[0], f, commerce.ImportOptions{Actor: "cli", AllOrNothing: *allOrNothing,
		DryRun: *dryRun, Progress: bar.update})
	bar.done()
	if err != nil {
		return fmt.Errorf("import %s: nothing imported: %w", pos[1], err)
	}
	elapsed := time.Since(start)
	for _, r := range rep.Rejected {
		fmt.Fprintln(stdout, r.String())
	}
	fmt.Fprintf(stdout, "%d rows read, %d rejected; imported %d customers, %d subscriptions, %d licenses in %s (%.0f rows/s, %s)\n",
		rep.Rows, len(rep.Rejected), rep.Customers, rep.Subscriptions, rep.Licenses, elapsed.Round(time.Millisecond),
		float64(rep.Rows)/elapsed.Seconds(), db.Dialect)
	switch {
	case *dryRun:
		fmt.Fprintln(stdout, "Dry run: nothing was imported.")
	case *allOrNothing && len(rep.Rejected) > 0:
		return fmt.Errorf("nothing imported: %d of %d rows rejected (--all-or-nothing)", len(rep.Rejected), rep.Rows)
	}
	return nil
}

const exportUsage = `Usage: fulfill export customers|subscriptions|invoices|payments [-o FILE] [flags]
       fulfill export crm FILE [--since YYYY-MM-DD] [flags]

Writes a CSV export (money in minor units with a currency column, dates
YYYY-MM-DD) to FILE or standard output. "export crm" appends every business
event not yet in FILE to that CSV file, the built-in CRM adapter.
`

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("export", stderr, getenv)
	out := fs.String("o", "", "write to this file instead of standard output")
	since := fs.String("since", "", "crm: only events from this date (YYYY-MM-DD)")
	setUsage(fs, exportUsage)
	pos, err := parseAnywhere(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) == 2 && pos[0] == "crm" {
		var from time.Time
		if *since != "" {
			d, err := fulfill.ParseDate(*since)
			if err != nil {
				return usageError{"--since: " + err.Error()}
			}
			from = d.Time()
		}
		db, err := openDB(ctx, c)
		if err != nil {
			return err
		}
		defer db.Close()
		n, err := backoffice.Sync(ctx, db, &backoffice.CSVFile{Path: pos[1]}, from)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d events handed to the CRM file %s (events already there were skipped).\n", n, pos[1])
		return nil
	}
	if len(pos) != 1 || backoffice.Columns[pos[0]] == nil {
		fs.Usage()
		return usageError{"want: fulfill export " + strings.Join(backoffice.Exports, "|") + " or fulfill export crm FILE"}
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	if *out == "" {
		return backoffice.Export(ctx, db, pos[0], stdout)
	}
	// Write beside the target and rename, so a failed export leaves no
	// truncated file behind.
	tmp, err := os.CreateTemp(dirOf(*out), ".export-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := backoffice.Export(ctx, db, pos[0], tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), *out)
}

func dirOf(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// progressBar draws "importing [=====>    ] 4200/9950" on a terminal, updated
// in place; elsewhere (a log, a pipe) it prints a line every 10%.
type progressBar struct {
	w        io.Writer
	label    string
	unit     string // what is counted, "rows" unless set
	terminal bool
	last     time.Time
	start    time.Time // when the bar was made (the work began), for the rate and the time left
	lastPct  int
	drawn    bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	p := &progressBar{w: w, label: label, lastPct: -1, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressBar) update(done, total int) {
	if total == 0 {
		return
	}
	pct := done * 100 / total
	if !p.terminal {
		if pct/10 != p.lastPct/10 || done == total {
			if pct != p.lastPct {
				fmt.Fprintf(p.w, "%s: %d/%d %s (%d%%)%s\n", p.label, done, total, or(p.unit, "rows"), pct, p.rate(done, total))
			}
		}
		p.lastPct = pct
		return
	}
	if done != total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	const width = 30
	fill := done * width / total
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	fmt.Fprintf(p.w, "\r%s [%s] %d/%d%s\x1b[K", p.label, bar, done, total, p.rate(done, total))
	p.drawn = true
}

// rate is ", 1234/s, 56s left" once there is something to measure, and
// ", 1234/s, took 2.3s" on the last update however quick the work was.
func (p *progressBar) rate(done, total int) string {
	el := time.Since(p.start)
	if done == 0 || el <= 0 || (done < total && el < 100*time.Millisecond) {
		return ""
	}
	r := float64(done) / el.Seconds()
	if done >= total {
		return fmt.Sprintf(", %.0f/s, took %s", r, el.Round(time.Millisecond))
	}
	left := time.Duration(float64(total-done) / r * float64(time.Second))
	return fmt.Sprintf(", %.0f/s, %s left", r, left.Round(time.Second))
}

// done ends the bar's line.
func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
