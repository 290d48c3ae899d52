package store

import (
	"database/sql/driver"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill"
)

// An import (commerce.Import) reads its file in batches of a few hundred
// rows: for each batch it looks up the customers and subscriptions the
// rows name with one query per kind of key (WHERE key IN (...)), and
// writes the batch's rows with multi-row INSERTs of up to rowsPerInsert
// rows, kept for
// the pipeline (execLater). On PostgreSQL a batch then costs a handful of
// round trips instead of a few per row (issue 18: 3.7 ms a row), and on
// SQLite a handful of statements; memory holds one batch, not the file.

// maxParams bounds the parameters of one lookup (an IN list): SQLite
// allows 32766, PostgreSQL 65535.
const maxParams = 30000

// ImportBatch is what a batch of import rows writes.
type ImportBatch struct {
	Customers     []*fulfill.Customer
	ExternalIDs   [][2]string // customer id, external id
	Subscriptions []*fulfill.Subscription
	Change        Change             // every subscription's first version
	Licenses      []*fulfill.License // of the subscriptions above, each its first (seq 1)
}

// InsertImportBatch writes a batch: customers, their external ids, the
// subscriptions with their first version, and their licenses, with
// multi-row statements (insertRows), sent together with the transaction's
// next statement on PostgreSQL.
func (t *Tx) InsertImportBatch(b *ImportBatch) error {
	now := b.Change.At.UTC()
	rows := make([][]any, 0, len(b.Customers))
	for _, c := range b.Customers {
		rows = append(rows, customerArgs(c))
	}
	if err := t.insertRows("customers", customerCols, rows); err != nil {
		return mapErr(err, "Customer")
	}
	rows = rows[:0]
	for _, x := range b.ExternalIDs {
		rows = append(rows, []any{x[1], x[0], now})
	}
	if err := t.insertRows("customer_external_ids", "external_id, customer_id, created_at", rows); err != nil {
		return mapErr(err, "External id")
	}
	rows = rows[:0]
	versions := make([][]any, 0, len(b.Subscriptions))
	for _, s := range b.Subscriptions {
		s.Version = 1
		rows = append(rows, subArgs(s))
		versions = append(versions, versionArgs(s, b.Change))
	}
	if err := t.insertRows("subscriptions", subInsertCols, rows); err != nil {
		return mapErr(err, "Subscription")
	}
	if err := t.insertRows("subscription_versions", versionCols, versions); err != nil {
		return err
	}
	rows = rows[:0]
	for _, l := range b.Licenses {
		l.Seq = 1
		rows = append(rows, licenseArgs(l))
	}
	return t.insertRows("licenses", licenseCols, rows)
}

// NewEvent is one event for EmitEvents.
type NewEvent struct {
	SubjectID  string
	CustomerID *string
	Data       any
}

// EmitEvents records events of one type, as EmitEvent does, in one
// statement.
func (t *Tx) EmitEvents(typ string, es []NewEvent, now time.Time) ([]*Event, error) {
	out := make([]*Event, 0, len(es))
	rows := make([][]any, 0, len(es))
	for _, ne := range es {
		e, args, err := newEvent(typ, ne.SubjectID, ne.CustomerID, ne.Data, now)
		if err != nil {
			return nil, err
		}
		out, rows = append(out, e), append(rows, args)
	}
	if err := t.insertRows("events", eventCols, rows); err != nil {
		return nil, err
	}
	for _, e := range out {
		t.events = append(t.events, e.ID) // dispatched by one job at commit (insertJobs)
	}
	return out, nil
}

// insertRows inserts rows (each the values of cols, in order) into table,
// with multi-row statements kept for the pipeline. A statement carries
// rowsPerInsert rows, and the rest goes in statements of 32, 16, …, 1
// rows, so that a table is written with a few statement texts that the
// connections keep compiled (stmtcache.go; pgx's statement cache).
func (t *Tx) insertRows(table, cols string, rows [][]any) error {
	for len(rows) > 0 {
		n := rowsPerInsert
		for n > len(rows) {
			n /= 2
		}
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if t.db.Dialect == Postgres {
			if err := resolveValuers(args); err != nil {
				return err
			}
		}
		q := "INSERT INTO " + table + " (" + cols + ") VALUES " + t.valuesList(n, len(rows[0]))
		if err := t.execLater(q, args...); err != nil {
			return fmt.Errorf("insert %d rows into %s: %w", n, table, err)
		}
		rows = rows[n:]
	}
	return nil
}

// resolveValuers replaces each driver.Valuer (fulfill.Date) by its value:
// given the Valuer, pgx first tries the column type's binary format,
// fails on the text a Date gives, and encodes it again as text, which was
// a tenth of an import's CPU.
func resolveValuers(args []any) error {
	for i, a := range args {
		if v, ok := a.(driver.Valuer); ok {
			var err error
			if args[i], err = v.Value(); err != nil {
				return err
			}
		}
	}
	return nil
}

// valuesLists keeps valuesList's answers, by dialect, rows and columns.
var valuesLists sync.Map

// valuesList is "(…), (…)": rows groups of cols parameters.
func (t *Tx) valuesList(rows, cols int) string {
	key := [3]any{t.db.Dialect, rows, cols}
	if v, ok := valuesLists.Load(key); ok {
		return v.(string)
	}
	var b strings.Builder
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + t.placeholders(i*cols+1, cols) + ")")
	}
	v, _ := valuesLists.LoadOrStore(key, b.String())
	return v.(string)
}

// rowsPerInsert is how many rows one INSERT carries at most: a power of two
// (insertRows), and few enough that the widest row (a customer's 25 columns)
// stays far below the dialects' limit on parameters.
const rowsPerInsert = 64

// placeholders is n parameters, the first numbered from: "$from, …" on
// PostgreSQL, "?, …" on SQLite, whose driver looks each numbered name up in
// a list (modernc's bind: quadratic in a statement's parameters).
func (t *Tx) placeholders(from, n int) string {
	if t.db.Dialect != Postgres {
		return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
	}
	return numbered(from, n)
}

// numbered is "$from, $from+1, …", n of them.
func numbered(from, n int) string {
	b := make([]byte, 0, n*7)
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(append(b, '$'), int64(from+i), 10)
	}
	return string(b)
}

// byKeys is selFrom (a SELECT … FROM …) restricted to the rows whose
// keyExpr is one of keys (at least one, no repeats), and its arguments.
//
// On SQLite it is an IN list, padded to a power of two with the last key
// again, so that lists of a few lengths (a few compiled statements) serve
// every batch. On PostgreSQL it is one array parameter, each key looked up
// by its own index scan (a LATERAL subquery, kept apart by OFFSET 0): rows
// an import has just written have no statistics yet, and with the default
// estimates the planner would scan the whole table for a list of hundreds
// of keys (67 ms a batch at 40,000 customers, where the index takes 3 ms).
// The first lookup of a transaction also turns PostgreSQL's JIT off for
// the rest of it, which those same estimates would make compile each query.
func (t *Tx) byKeys(selFrom, keyExpr string, keys []string) (string, []any) {
	if t.db.Dialect == Postgres {
		if !t.jitOff {
			t.jitOff = true
			t.execLater(`SET LOCAL jit = off`) // sent with the query; a failure fails it
		}
		return `SELECT q.* FROM unnest($1::text[]) AS k(key) CROSS JOIN LATERAL (` + selFrom + ` WHERE ` + keyExpr +
			` = k.key OFFSET 0) AS q`, []any{keys}
	}
	args := padKeys(keys)
	return selFrom + ` WHERE ` + keyExpr + ` IN (` + t.placeholders(1, len(args)) + `)`, args
}

// padKeys are keys as the arguments of an IN list, padded to a power of two
// by repeating the last one, so that SQLite compiles a few statements, not
// one per length.
func padKeys(keys []string) []any {
	n := 1
	for n < len(keys) {
		n *= 2
	}
	args := make([]any, n)
	for i := range args {
		args[i] = keys[min(i, len(keys)-1)]
	}
	return args
}

// chunks calls fn with keys without repeats, at most maxParams at a time.
func chunks(keys []string, fn func(part []string) error) error {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	for len(keys) > 0 {
		n := min(maxParams, len(keys))
		if err := fn(keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// CustomersByEmail lists the customers whose lower-cased email (SQL's
// lower, which may differ from Go's outside ASCII: see
// CustomersWithNonASCIIEmail) is one of emails.
func (t *Tx) CustomersByEmail(emails []string) ([]*fulfill.Customer, error) {
	var out []*fulfill.Customer
	coll := ""
	if t.db.Dialect == Postgres {
		coll = ` COLLATE "C"` // the index on lower(email) is byte-wise
	}
	err := chunks(emails, func(part []string) error {
		q, args := t.byKeys(`SELECT `+customerCols+` FROM customers`, `lower(email)`+coll, part)
		cs, err := queryAll(t.ctx, t.tx, scanCustomer, q, args...)
		out = append(out, cs...)
		return err
	})
	return out, err
}

// CustomersWithNonASCIIEmail lists the customers whose email has a
// character outside printable ASCII: the only ones SQL's lower() and Go's
// strings.ToLower may lower-case differently.
func (t *Tx) CustomersWithNonASCIIEmail() ([]*fulfill.Customer, error) {
	cond := `email GLOB '*[^ -~]*'`
	if t.db.Dialect == Postgres {
		cond = `email ~ '[^ -~]'`
	}
	return queryAll(t.ctx, t.tx, scanCustomer, `SELECT `+customerCols+` FROM customers WHERE `+cond)
}

// CustomersByExternalID maps those of ids that an import recorded to their
// customer.
func (t *Tx) CustomersByExternalID(ids []string) (map[string]*fulfill.Customer, error) {
	m := map[string]*fulfill.Customer{}
	err := chunks(ids, func(part []string) error {
		q, args := t.byKeys(`SELECT x.external_id, `+prefixCols("c.", customerCols)+`
			FROM customer_external_ids x JOIN customers c ON c.id = x.customer_id`, `x.external_id`, part)
		rows, err := t.tx.QueryContext(t.ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ext string
			c, err := scanCustomer(scanFunc(func(dest ...any) error { return rows.Scan(append([]any{&ext}, dest...)...) }))
			if err != nil {
				return err
			}
			m[ext] = c
		}
		return rows.Err()
	})
	return m, err
}

// SubscriptionKeysOf lists, as SubscriptionKey, the subscriptions of the
// given customers.
func (t *Tx) SubscriptionKeysOf(customerIDs []string) (map[string]bool, error) {
	m := map[string]bool{}
	err := chunks(customerIDs, func(part []string) error {
		q, args := t.byKeys(`SELECT s.customer_id, p.code, s.starts_on`+subFrom, `s.customer_id`, part)
		rows, err := t.tx.QueryContext(t.ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cid, code string
			var start fulfill.Date
			if err := rows.Scan(&cid, &code, &start); err != nil {
				return err
			}
			m[SubscriptionKey(cid, code, start)] = true
		}
		return rows.Err()
	})
	return m, err
}

// scanFunc is a function as a scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// prefixCols qualifies a list of columns: "a, b" with "c." is "c.a, c.b".
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// importCacheKiB is the SQLite page cache a bulk transaction gets (GrowCache).
const importCacheKiB = 32 << 10

// GrowCache gives this transaction's SQLite connection a page cache of
// 32 MiB instead of its 2: a transaction that writes tens of thousands of
// rows otherwise fills the cache with changed pages, spills them to the
// WAL and writes many of them again (a quarter of an import's CPU). The
// returned function restores the connection's cache size; call it before
// the transaction ends. On PostgreSQL it does nothing.
func (t *Tx) GrowCache() (restore func(), err error) {
	if t.db.Dialect == Postgres {
		return func() {}, nil
	}
	var was int64
	if err := t.tx.QueryRowContext(t.ctx, `PRAGMA cache_size`).Scan(&was); err != nil {
		return nil, fmt.Errorf("read the cache size: %w", err)
	}
	if err := t.exec(fmt.Sprintf(`PRAGMA cache_size = %d`, -importCacheKiB)); err != nil {
		return nil, fmt.Errorf("grow the cache: %w", err)
	}
	return func() { t.exec(fmt.Sprintf(`PRAGMA cache_size = %d`, was)) }, nil
}
