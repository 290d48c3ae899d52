package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"strings"

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
	c.later = c.later[un[0].at:]
	var last int64
	err := c.run(ctx, before, func(b *pgx.Batch) func(pgx.BatchResults) error {
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
