package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/fulfillhq/fulfill"
)

// Every invoicing transaction takes the gapless invoice counter's row in
// turn and holds it until it commits. Numbered as the invoice is stored,
// a purchase held it through everything it did after (its ledger, mails,
// events, audit entry and answer, River's job insert) and then its commit.
// A transaction that asks (NumberInvoicesAtCommit) on PostgreSQL instead
// gives its new invoices a placeholder number that never leaves the
// process: its kept writes (pipeline.go) carry the placeholder, and the
// batch that first sends them (the COMMIT's, in a purchase) is preceded by
// one that sends what was kept before the first such invoice and takes
// the numbers, in order; the placeholders are then replaced, in the kept
// statements' values and in the invoices themselves, before the rest is
// sent. The counter's row is so held only from that batch to the commit,
// and the numbers stay gapless and in commit order. A statement that runs
// at once after such an invoice (a read) takes the numbers first, as a
// commit does: the placeholder never reaches the database.

// The kept writes after the first unnumbered invoice that carry no
// placeholder and touch no table that one of those that do touches (nor a
// table whose rows hang on such a table's by a foreign key) are sent
// before the numbers are taken, in their order, in the same round trip:
// in a billing batch the subscriptions' new terms, versions and licenses,
// a third of its statements, run before the counter's row is locked, not
// while it is held (splitUnnumbered). Their relative order to the writes
// that wait changes, which none of them can see: they write other tables,
// none with a trigger, none referencing the others.

// unnumbered is an invoice whose number is a placeholder.
type unnumbered struct {
	inv         *fulfill.Invoice
	placeholder string
	at          int // its insert's place in the kept statements
}

// NumberInvoicesAtCommit makes this transaction number the invoices it
// inserts as late as it can (see above); a no-op on SQLite, where one
// writer at a time holds the whole database anyway. The use case must not
// put an invoice's number anywhere but in the values of its statements
// (and in what it answers once the transaction has committed): an invoice
// PDF rendered inside the transaction would keep the placeholder.
func (t *Tx) NumberInvoicesAtCommit() { t.lateNumbers = t.tx.conn != nil }

// placeholderNumber gives inv a placeholder number, to be replaced by the
// next one of the counter when the kept statements are sent.
func (t *Tx) placeholderNumber(inv *fulfill.Invoice) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	inv.Number = "INV-UNNUMBERED-" + hex.EncodeToString(b[:])
	t.tx.unnumbered = append(t.tx.unnumbered, unnumbered{inv: inv, placeholder: inv.Number, at: len(t.tx.later)})
	return nil
}

// numberInvoices takes the numbers of the unnumbered invoices, sending
// with the statement that does it what was kept before the first of them,
// and puts the numbers in their place.
func (c *txConn) numberInvoices(ctx context.Context) error {
	if len(c.unnumbered) == 0 {
		return nil
	}
	un := c.unnumbered
	c.unnumbered = nil
	before := c.later[:un[0].at:un[0].at]
	rest := c.later[un[0].at:]
	early, late, err := c.splitUnnumbered(ctx, rest)
	if err != nil {
		c.err = fmt.Errorf("next invoice numbers: %w", err)
		return c.err
	}
	before = append(before, early...)
	c.later = late
	var last int64
	err = c.run(ctx, before, func(b *pgx.Batch) func(pgx.BatchResults) error {
		b.Queue(`UPDATE sequences SET value = value + $1 WHERE name = 'invoice' RETURNING value`, len(un))
		return func(br pgx.BatchResults) error { return br.QueryRow().Scan(&last) }
	})
	if err != nil {
		c.err = fmt.Errorf("next invoice numbers: %w", err)
		return c.err
	}
	pairs := make([]string, 0, 2*len(un))
	for i, u := range un {
		u.inv.Number = fmt.Sprintf("INV-%06d", last-int64(len(un)-1-i))
		pairs = append(pairs, u.placeholder, u.inv.Number)
	}
	r := strings.NewReplacer(pairs...)
	numbered := func(s string) string {
		if !strings.Contains(s, "INV-UNNUMBERED-") {
			return s
		}
		return r.Replace(s)
	}
	for i := range c.later {
		s := &c.later[i]
		if s.lazy != nil {
			if s.args, err = s.lazy(numbered); err != nil {
				c.err = err
				return err
			}
			s.lazy = nil
			continue
		}
		for j, a := range s.args {
			if s.args[j], err = numberedValue(a, numbered); err != nil {
				c.err = err
				return err
			}
		}
	}
	return nil
}

// numberedValue is a statement's value with the placeholders replaced.
func numberedValue(a any, numbered func(string) string) (any, error) {
	switch v := a.(type) {
	case string:
		return numbered(v), nil
	case *string:
		if v != nil {
			s := numbered(*v)
			return &s, nil
		}
	case []byte:
		if bytes.Contains(v, []byte("INV-UNNUMBERED-")) {
			return []byte(numbered(string(v))), nil
		}
	case driver.Valuer:
		dv, err := v.Value()
		if err != nil {
			return nil, err
		}
		switch d := dv.(type) {
		case string:
			if strings.Contains(d, "INV-UNNUMBERED-") {
				return numbered(d), nil
			}
		case []byte:
			if bytes.Contains(d, []byte("INV-UNNUMBERED-")) {
				return []byte(numbered(string(d))), nil
			}
		}
	}
	return a, nil
}

// tableRefs is what of the schema decides which kept writes may go before
// the invoice numbers: the tables each table's foreign keys reference,
// and the tables with triggers.
type tableRefs struct {
	parents  map[string][]string
	triggers map[string]bool
}

// writeTarget matches a write of one table that reads no other.
var writeTarget = regexp.MustCompile(`(?is)^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([a-z_][a-z0-9_]*)[\s(]`)

// targets caches target's answers by statement text (a few dozen texts).
var targets sync.Map

// target is the table a kept statement writes and how, or "" if it is not
// a plain write of one table (it reads another, or is not a write).
func target(query string) (kind, table string) {
	if t, ok := targets.Load(query); ok {
		kt := t.([2]string)
		return kt[0], kt[1]
	}
	var kt [2]string
	if m := writeTarget.FindStringSubmatch(query); m != nil {
		rest := strings.ToUpper(query[len(m[0]):])
		if !strings.Contains(rest, "SELECT") && !strings.Contains(rest, " FROM ") && !strings.Contains(rest, "USING") {
			kt = [2]string{strings.ToUpper(strings.Fields(m[1])[0]), strings.ToLower(m[2])}
		}
	}
	if len(query) < 4096 {
		targets.Store(query, kt)
	}
	return kt[0], kt[1]
}

// numberedStmt reports whether a kept statement carries a placeholder.
func numberedStmt(s laterStmt) bool {
	if s.lazy != nil {
		return true
	}
	for _, a := range s.args {
		if carriesPlaceholder(a) {
			return true
		}
	}
	return false
}

// carriesPlaceholder reports whether a statement's value holds a
// placeholder number (the values numberedValue replaces in); a value it
// cannot tell of is taken to.
func carriesPlaceholder(a any) bool {
	has := func(s string) bool { return strings.Contains(s, "INV-UNNUMBERED-") }
	switch v := a.(type) {
	case string:
		return has(v)
	case *string:
		return v != nil && has(*v)
	case []byte:
		return bytes.Contains(v, []byte("INV-UNNUMBERED-"))
	case driver.Valuer:
		dv, err := v.Value()
		if err != nil {
			return true
		}
		return carriesPlaceholder(dv)
	}
	return false
}

// splitUnnumbered splits the kept statements from the first unnumbered
// invoice on into those sent before the numbers are taken and those sent
// after (see above).
func (c *txConn) splitUnnumbered(ctx context.Context, stmts []laterStmt) (early, late []laterStmt, err error) {
	refs, err := c.tableRefs(ctx)
	if err != nil || refs == nil {
		return nil, stmts, err
	}
	// The tables that must wait: those of the statements with a
	// placeholder, and those whose rows reference theirs, transitively.
	wait := map[string]bool{}
	numbered := make([]bool, len(stmts))
	for i, s := range stmts {
		numbered[i] = numberedStmt(s)
		if _, t := target(s.query); t != "" && numbered[i] {
			wait[t] = true
		}
	}
	for grew := true; grew; {
		grew = false
		for child, parents := range refs.parents {
			for _, p := range parents {
				if wait[p] && !wait[child] {
					wait[child], grew = true, true
				}
			}
		}
	}
	referenced := map[string]bool{} // tables a waiting table references
	for t := range wait {
		for _, p := range refs.parents[t] {
			referenced[p] = true
		}
	}
	for i, s := range stmts {
		kind, t := target(s.query)
		switch {
		case t == "":
			// Not a plain write (River's insert of the jobs, a setting):
			// it and all after it keep their place.
			return early, append(late, stmts[i:]...), nil
		case wait[t] || refs.triggers[t] || numbered[i], kind == "DELETE" && referenced[t]:
			late = append(late, s)
		default:
			early = append(early, s)
		}
	}
	return early, late, nil
}

// tableRefs reads the schema's foreign keys and triggers, once per DB.
func (c *txConn) tableRefs(ctx context.Context) (*tableRefs, error) {
	if c.refs == nil {
		return nil, nil
	}
	if r := c.refs.Load(); r != nil {
		return r, nil
	}
	r := &tableRefs{parents: map[string][]string{}, triggers: map[string]bool{}}
	c.trip()
	rows, err := c.Tx.QueryContext(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, '' FROM pg_constraint c WHERE c.contype = 'f'
		UNION ALL SELECT DISTINCT t.tgrelid::regclass::text, '', 't' FROM pg_trigger t WHERE NOT t.tgisinternal`)
	if err != nil {
		return nil, fmt.Errorf("the schema's foreign keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var child, parent, trigger string
		if err := rows.Scan(&child, &parent, &trigger); err != nil {
			return nil, err
		}
		child, parent = strings.Trim(child, `"`), strings.Trim(parent, `"`)
		if trigger != "" {
			r.triggers[child] = true
		} else {
			r.parents[child] = append(r.parents[child], parent)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	c.refs.Store(r)
	return r, nil
}
