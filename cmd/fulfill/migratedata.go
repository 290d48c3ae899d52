package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill/store"
)

const migrateDataUsage = `Usage: fulfill migrate-data --from DATA_DIR --to postgres://…

Copies every row of the SQLite database in DATA_DIR into an empty
PostgreSQL database: it applies the migrations to the target, copies each
table in its own transaction (parents before children), moves the jobs not
yet finished, then checks that every table has as many rows on both sides
and that the invoice totals per currency are equal. It refuses a target
that already holds data. Stop the server first, or copy from a backup
(fulfill backup) with --file instead of --from.
`

func migrateDataCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, _ := flags("migrate-data", stderr, getenv)
	setUsage(fs, migrateDataUsage)
	from := fs.String("from", "", "the data directory of the SQLite database")
	file := fs.String("file", "", "the SQLite database file (default DATA_DIR/fulfill.db)")
	to := fs.String("to", "", "the PostgreSQL database URL (postgres://…)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	src := *file
	if src == "" && *from != "" {
		src = filepath.Join(*from, "fulfill.db")
	}
	if src == "" {
		return usageError{"migrate-data: --from DATA_DIR (or --file) is required"}
	}
	if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
		return usageError{"migrate-data: --to postgres://… is required"}
	}
	if _, err := checkBackup(ctx, src); err != nil {
		return err
	}
	sdb, err := store.Open(ctx, src)
	if err != nil {
		return err
	}
	defer sdb.Close()
	if err := sdb.CheckSchema(ctx); err != nil {
		return fmt.Errorf("the source: %w (run fulfill migrate --data-dir on it first)", err)
	}
	ddb, err := store.Open(ctx, *to)
	if err != nil {
		return err
	}
	defer ddb.Close()
	if err := ddb.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate the target: %w", err)
	}
	start := time.Now()
	bar := newProgressBar(stderr, "migrate-data")
	bar.unit = "rows"
	rep, err := store.CopyData(ctx, sdb, ddb, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	var rows int64
	for _, t := range rep.Tables {
		rows += t.Rows
	}
	fmt.Fprintf(stdout, "Copied %d rows in %d tables and %d unfinished jobs in %s; row counts checked.\n", rows, len(rep.Tables), rep.Jobs,
		time.Since(start).Round(time.Millisecond))
	for _, s := range rep.InvoiceTotals {
		fmt.Fprintf(stdout, "  %s (equal on both sides)\n", s)
	}
	return nil
}
