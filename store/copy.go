package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// riverState are River's own tables: the target's River migrations create
// them, and its clients, leaders and queues are live state, not data.
// Unfinished jobs are moved separately (copyJobs).
var riverState = map[string]bool{"river_job": true, "river_leader": true, "river_client": true, "river_client_queue": true,
	"river_queue": true, "river_migration": true}

// seeded are tables the migrations fill: the target's seed rows are
// replaced by the source's.
var seeded = map[string]bool{"sequences": true}

// TableCount is a table and its number of rows.
type TableCount struct {
	Table string
	Rows  int64
}

// CopyReport says what CopyData copied and checked.
type CopyReport struct {
	Tables []TableCount
	// Jobs is how many unfinished jobs moved to the target's queue.
	Jobs int64
	// InvoiceTotals are "CUR: count, sum of totals", equal on both sides.
	InvoiceTotals []string
}

// CopyData copies every row of Fulfill's tables from an SQLite database to
// an empty PostgreSQL one whose schema is migrated to the same version, one
// transaction per table, parents before children, then the jobs not yet
// finished. It then compares the row count of every table and the invoice
// totals per currency. progress, if set, is called with rows done and the
// total.
func CopyData(ctx context.Context, src, dst *DB, progress func(done, total int)) (*CopyReport, error) {
	if src.Dialect != SQLite || dst.Dialect != Postgres {
		return nil, errors.New("copy data: from SQLite to PostgreSQL only")
	}
	sv, _, err := src.SchemaStatus(ctx)
	if err != nil {
		return nil, err
	}
	dv, _, err := dst.SchemaStatus(ctx)
	if err != nil {
		return nil, err
	}
	if sv != dv {
		return nil, fmt.Errorf("copy data: the source has schema version %d, the target %d: migrate both to the same version first", sv, dv)
	}
	tables, err := copyOrder(ctx, src)
	if err != nil {
		return nil, err
	}
	counts := make([]TableCount, len(tables))
	total := 0
	for i, t := range tables {
		counts[i].Table = t
		if err := src.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&counts[i].Rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		total += int(counts[i].Rows)
		if err := targetEmpty(ctx, dst, t); err != nil {
			return nil, err
		}
	}
	if err := targetEmpty(ctx, dst, "river_job"); err != nil {
		return nil, err
	}
	done := 0
	step := func() {
		done++
		if progress != nil && (done%200 == 0 || done == total) {
			progress(done, total)
		}
	}
	for _, t := range tables {
		if err := copyTable(ctx, src, dst, t, step); err != nil {
			return nil, fmt.Errorf("copy %s: %w", t, err)
		}
	}
	jobs, err := copyJobs(ctx, src, dst)
	if err != nil {
		return nil, err
	}
	rep := &CopyReport{Tables: counts, Jobs: jobs}
	for _, c := range counts {
		var n int64
		if err := dst.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.Table).Scan(&n); err != nil {
			return nil, err
		}
		if n != c.Rows {
			return nil, fmt.Errorf("copy data: %s has %d rows in the target, %d in the source", c.Table, n, c.Rows)
		}
	}
	a, err := InvoiceTotals(ctx, src)
	if err != nil {
		return nil, err
	}
	b, err := InvoiceTotals(ctx, dst)
	if err != nil {
		return nil, err
	}
	if strings.Join(a, "; ") != strings.Join(b, "; ") {
		return nil, fmt.Errorf("copy data: invoice totals differ: source %v, target %v", a, b)
	}
	rep.InvoiceTotals = a
	return rep, nil
}

// InvoiceTotals are the number of invoices, the sum of their totals and of
// the amounts paid, per currency: "USD: 12 invoices, total 123400, paid 123400".
func InvoiceTotals(ctx context.Context, db *DB) ([]string, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT currency, COUNT(*), COALESCE(SUM(total), 0), COALESCE(SUM(amount_paid), 0)
		FROM invoices GROUP BY currency ORDER BY currency`)
	if err != nil {
		return nil, fmt.Errorf("invoice totals: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var cur string
		var n, total, paid int64
		if err := rows.Scan(&cur, &n, &total, &paid); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s: %d invoices, total %d, paid %d", cur, n, total, paid))
	}
	return out, rows.Err()
}

// copyOrder lists the source's Fulfill tables, each after the tables its
// foreign keys refer to.
func copyOrder(ctx context.Context, src *DB) ([]string, error) {
	names, err := queryStrings(ctx, src.Read, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	deps := map[string]map[string]bool{}
	var tables []string
	for _, n := range names {
		if riverState[n] {
			continue
		}
		tables = append(tables, n)
		parents, err := queryStrings(ctx, src.Read, `SELECT DISTINCT "table" FROM pragma_foreign_key_list($1)`, n)
		if err != nil {
			return nil, err
		}
		deps[n] = map[string]bool{}
		for _, p := range parents {
			if p != n {
				deps[n][p] = true
			}
		}
	}
	var order []string
	placed := map[string]bool{}
	for len(order) < len(tables) {
		progressed := false
		for _, t := range tables {
			if placed[t] {
				continue
			}
			ready := true
			for p := range deps[t] {
				if !placed[p] {
					ready = false
				}
			}
			if ready {
				order, placed[t], progressed = append(order, t), true, true
			}
		}
		if !progressed {
			var left []string
			for _, t := range tables {
				if !placed[t] {
					left = append(left, t)
				}
			}
			sort.Strings(left)
			return nil, fmt.Errorf("copy data: the foreign keys of %v form a cycle", left)
		}
	}
	return order, nil
}

func targetEmpty(ctx context.Context, dst *DB, table string) error {
	q := `SELECT COUNT(*) FROM ` + table
	if seeded[table] {
		q += ` WHERE value <> 0`
	}
	var n int64
	if err := dst.Read.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return fmt.Errorf("copy data: read the target's %s: %w", table, err)
	}
	if n > 0 {
		return fmt.Errorf("copy data: the target is not empty (%s has %d rows): copy into a new database only", table, n)
	}
	return nil
}

// pgTypes are the data types of a PostgreSQL table's columns.
func pgTypes(ctx context.Context, dst *DB, table string) (map[string]string, error) {
	rows, err := dst.Read.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			return nil, err
		}
		out[c] = t
	}
	return out, rows.Err()
}

func copyTable(ctx context.Context, src, dst *DB, table string, step func()) error {
	types, err := pgTypes(ctx, dst, table)
	if err != nil {
		return err
	}
	rows, err := src.Read.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	ph := make([]string, len(cols))
	for i, c := range cols {
		if types[c] == "" {
			return fmt.Errorf("column %s is not in the target", c)
		}
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	return dst.tx(ctx, func(tx *sql.Tx) error {
		if seeded[table] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
				return err
			}
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(ph, ", ")+`)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			for i, c := range cols {
				vals[i] = convert(vals[i], types[c])
			}
			if _, err := stmt.ExecContext(ctx, vals...); err != nil {
				return fmt.Errorf("row %v: %w", vals[0], err)
			}
			step()
		}
		return rows.Err()
	})
}

// sqliteTimes are the layouts SQLite text timestamps come in.
var sqliteTimes = []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02"}

// convert turns an SQLite value into one for a PostgreSQL column of type pg.
func convert(v any, pg string) any {
	switch pg {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return x != 0
		case string:
			return x == "1" || x == "true"
		}
	case "date":
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.DateOnly)
		case string:
			if len(x) >= 10 {
				return x[:10]
			}
		}
	case "timestamp with time zone", "timestamp without time zone":
		if x, ok := v.(string); ok {
			for _, l := range sqliteTimes {
				if t, err := time.Parse(l, x); err == nil {
					return t
				}
			}
		}
	case "json", "jsonb", "text", "character varying":
		if x, ok := v.([]byte); ok {
			return string(x)
		}
	case "bytea":
		if x, ok := v.(string); ok {
			return []byte(x)
		}
	}
	return v
}

// copyJobs moves the jobs that have not finished (waiting, scheduled, to be
// retried, or running when the source stopped: available again) into the
// target's queue, with their arguments, attempts and schedule. Errors,
// tags and uniqueness keys of the source stay behind.
func copyJobs(ctx context.Context, src, dst *DB) (int64, error) {
	rows, err := src.Read.QueryContext(ctx, `SELECT kind, queue, json(args), priority, max_attempts, attempt, state, scheduled_at, created_at
		FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("read jobs: %w", err)
	}
	defer rows.Close()
	var n int64
	err = dst.tx(ctx, func(tx *sql.Tx) error {
		for rows.Next() {
			var kind, queue, args, state string
			var priority, maxAttempts, attempt int64
			var scheduled, created any
			if err := rows.Scan(&kind, &queue, &args, &priority, &maxAttempts, &attempt, &state, &scheduled, &created); err != nil {
				return err
			}
			if state == "running" {
				state = "available"
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO river_job (kind, queue, args, priority, max_attempts, attempt, state, scheduled_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, kind, queue, args, priority, maxAttempts, attempt, state,
				convert(scheduled, "timestamp with time zone"), convert(created, "timestamp with time zone")); err != nil {
				return fmt.Errorf("job %s: %w", kind, err)
			}
			n++
		}
		return rows.Err()
	})
	return n, err
}
