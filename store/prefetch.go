package store

import (
	"database/sql"
	"fmt"

	"github.com/fulfillhq/fulfill"
)

// A billing run renews its subscriptions in batches, one transaction each.
// A renewal read its subscription, add-ons, pending charges, customer,
// terms, seat usage and license count one row at a time: seven or eight
// statements each, on PostgreSQL as many round trips (issue 18). The batch
// therefore reads them first, with one statement per kind for all its
// subscriptions (PrefetchRenewals), and the transaction answers each of
// those reads once from what it read.
//
// What was read stays true until the renewal that reads it: every row
// read belongs to one subscription of the batch, and is read by that
// subscription's renewal before it writes anything of it. Each such row is
// answered once, then forgotten, and forgotten too when the transaction
// writes it, so any later read sees the database. A customer may have
// several subscriptions in the batch, whose renewals each change its
// credit: the customers read ahead are answered as often as they are read
// and kept up to date with the transaction's writes of their credit and
// credit hold (the only columns a renewal writes), and forgotten on any
// other write of them. The rows
// are read with the locks the reads one by one take (FOR UPDATE on
// PostgreSQL), in the order of their ids.

// prefetched is what PrefetchRenewals read, by subscription id (customers
// by their id); each entry is answered once.
type prefetched struct {
	subs    map[string]*fulfill.Subscription
	pending map[string]int // charges awaiting their outcome; every id read has an entry
	// customers are answered as often as they are read, with the
	// transaction's writes (aheadCustomer, customerWritten).
	customers map[string]*fulfill.Customer
	terms     map[string]*SubscriptionTerms // every id read has one (empty if none)
	usage     map[string]prefetchedUsage
	nextSeq   map[string]int // the next license number
}

// prefetchedUsage is SeatUsage over the subscription's current term.
type prefetchedUsage struct {
	from, to fulfill.Date
	usage    SeatUsage
}

// PrefetchRenewals reads ahead, for the renewals of ids in this
// transaction, their subscriptions with add-ons, pending charges,
// customers, terms, seat usage over their current terms and license
// numbers: one statement for each, where the renewals made one each.
func (t *Tx) PrefetchRenewals(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	p := &prefetched{subs: map[string]*fulfill.Subscription{}, pending: map[string]int{}, customers: map[string]*fulfill.Customer{},
		terms: map[string]*SubscriptionTerms{}, usage: map[string]prefetchedUsage{}, nextSeq: map[string]int{}}
	t.pre = nil // the reads below go to the database
	err := chunks(ids, func(part []string) error {
		subs, err := t.prefetchSubs(part)
		if err != nil {
			return err
		}
		for _, s := range subs {
			p.subs[s.ID] = s
		}
		return t.prefetchRest(p, part, subs)
	})
	if err != nil {
		return fmt.Errorf("read ahead the renewals of %d subscriptions: %w", len(ids), err)
	}
	t.pre = p
	return nil
}

// in is the statement's IN list for keys, and its arguments (padKeys).
func (t *Tx) in(from int, keys []string) (string, []any) {
	args := padKeys(keys)
	return numbered(from, len(args)), args
}

func (t *Tx) prefetchSubs(ids []string) ([]*fulfill.Subscription, error) {
	list, args := t.in(1, ids)
	subs, err := queryAll(t.ctx, t.tx, scanSub, `SELECT `+subCols+subFrom+` WHERE s.id IN (`+list+`) ORDER BY s.id`+
		t.lock(" FOR UPDATE OF s"), args...)
	if err != nil {
		return nil, err
	}
	if t.addOns == nil {
		t.addOns = map[string][]fulfill.SubscriptionAddOn{}
	}
	for _, s := range subs {
		t.addOns[s.ID] = []fulfill.SubscriptionAddOn{}
	}
	rows, err := t.tx.QueryContext(t.ctx, `SELECT s.subscription_id, s.addon_code, a.name, s.quantity, s.unit_amount, s.pricing,
		s.entitlements, s.updated_at FROM subscription_addons s JOIN addons a ON a.code = s.addon_code
		WHERE s.subscription_id IN (`+list+`) ORDER BY s.subscription_id, s.addon_code`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		a, err := scanSubAddOn(prefixScanner{rows, &id})
		if err != nil {
			return nil, err
		}
		t.addOns[id] = append(t.addOns[id], a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, s := range subs {
		s.AddOns = cloneSubAddOns(t.addOns[s.ID])
	}
	return subs, nil
}

// prefixScanner scans a row's first column into first, the rest with the
// scan it is given.
type prefixScanner struct {
	rows  *sql.Rows
	first any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}

// prefetchRest reads the pending charges, customers, terms, seat usage and
// license numbers of subs (ids, as asked).
func (t *Tx) prefetchRest(p *prefetched, ids []string, subs []*fulfill.Subscription) error {
	list, args := t.in(1, ids)
	for _, id := range ids {
		p.pending[id] = 0
		p.terms[id] = &SubscriptionTerms{SubscriptionID: id}
		p.nextSeq[id] = 1
	}
	if err := t.eachRow(`SELECT subscription_id, COUNT(*) FROM payment_attempts WHERE subscription_id IN (`+list+`)
		AND state = '`+AttemptPending+`' GROUP BY subscription_id`, args, func(rows *sql.Rows) error {
		var id string
		var n int
		err := rows.Scan(&id, &n)
		p.pending[id] = n
		return err
	}); err != nil {
		return err
	}
	if err := t.eachRow(`SELECT `+termsCols+` FROM subscription_terms WHERE subscription_id IN (`+list+`) ORDER BY subscription_id`+
		t.lock(" FOR UPDATE"), args, func(rows *sql.Rows) error {
		st, err := scanTerms(rows)
		if err == nil {
			p.terms[st.SubscriptionID] = st
		}
		return err
	}); err != nil {
		return err
	}
	if err := t.eachRow(`SELECT subscription_id, COALESCE(MAX(seq), 0) + 1 FROM licenses WHERE subscription_id IN (`+list+`)
		GROUP BY subscription_id`, args, func(rows *sql.Rows) error {
		var id string
		var n int
		err := rows.Scan(&id, &n)
		p.nextSeq[id] = n
		return err
	}); err != nil {
		return err
	}
	// Seat usage over each subscription's current term, and its latest
	// report's billable users.
	if err := t.eachRow(`SELECT s.id, s.starts_on, s.ends_on,
		(SELECT COALESCE(MAX(r.max_users), 0) FROM seat_reports r WHERE r.subscription_id = s.id AND r.date >= s.starts_on AND r.date < s.ends_on),
		(SELECT COUNT(*) FROM seat_reports r WHERE r.subscription_id = s.id AND r.date >= s.starts_on AND r.date < s.ends_on),
		COALESCE((SELECT r.billable_users FROM seat_reports r WHERE r.subscription_id = s.id ORDER BY r.date DESC, r.created_at DESC LIMIT 1), 0)
		FROM subscriptions s WHERE s.id IN (`+list+`)`, args, func(rows *sql.Rows) error {
		var id string
		var u prefetchedUsage
		err := rows.Scan(&id, &u.from, &u.to, &u.usage.MaxUsers, &u.usage.Reports, &u.usage.BillableUsers)
		p.usage[id] = u
		return err
	}); err != nil {
		return err
	}
	// The customers, each once however many subscriptions it has in the
	// batch. Answering them all from here keeps the batch free of reads
	// between its writes (on PostgreSQL a read sends the kept writes, and
	// with them takes the invoice numbers of a batch numbered at its
	// commit, latenumber.go).
	seen := map[string]bool{}
	var custIDs []string
	for _, s := range subs {
		if !seen[s.CustomerID] {
			seen[s.CustomerID] = true
			custIDs = append(custIDs, s.CustomerID)
		}
	}
	if len(custIDs) == 0 {
		return nil
	}
	clist, cargs := t.in(1, custIDs)
	return t.eachRow(`SELECT `+customerCols+` FROM customers WHERE id IN (`+clist+`) ORDER BY id`+t.lock(" FOR UPDATE"), cargs,
		func(rows *sql.Rows) error {
			c, err := scanCustomer(rows)
			if err == nil {
				p.customers[c.ID] = c
			}
			return err
		})
}

// eachRow runs query in the transaction and calls fn for each row.
func (t *Tx) eachRow(query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := t.tx.QueryContext(t.ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// nothingAhead stands for a transaction that read nothing ahead: its maps
// are nil, so a lookup finds nothing and a delete does nothing.
var nothingAhead prefetched

// ahead is what this transaction read ahead (nothingAhead if nothing).
func (t *Tx) ahead() *prefetched {
	if t.pre == nil {
		return &nothingAhead
	}
	return t.pre
}

// take answers a read of id from what was read ahead (one of ahead's
// maps), once.
func take[V any](m map[string]V, id string) (V, bool) {
	v, ok := m[id]
	delete(m, id)
	return v, ok
}

// takeUsage answers SeatUsage over [from, to) from what was read ahead,
// if it was read over that period.
func (t *Tx) takeUsage(id string, from, to fulfill.Date) (SeatUsage, bool) {
	u, ok := take(t.ahead().usage, id)
	return u.usage, ok && u.from == from && u.to == to
}

// forgetSub forgets what was read ahead of subscription id, when the
// transaction writes it.
func (t *Tx) forgetSub(id string) {
	delete(t.ahead().subs, id)
	delete(t.ahead().usage, id)
}

// forgetCustomer forgets a customer read ahead, when the transaction
// writes it.
func (t *Tx) forgetCustomer(id string) { delete(t.ahead().customers, id) }

// aheadCustomer answers a read of a customer read ahead: a copy of what
// was read, with the transaction's writes.
func (t *Tx) aheadCustomer(id string) (*fulfill.Customer, bool) {
	c, ok := t.ahead().customers[id]
	if !ok {
		return nil, false
	}
	cp := *c
	return &cp, true
}

// customerWritten keeps a customer read ahead as the transaction writes
// it (change sets the columns written on it).
func (t *Tx) customerWritten(id string, change func(*fulfill.Customer)) {
	if c, ok := t.ahead().customers[id]; ok {
		change(c)
	}
}
