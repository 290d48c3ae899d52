package store

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
)

// Tx is one business transaction: every change of a use case, and the jobs it
// triggers, commit or roll back together. Every read a use case makes while
// it holds a Tx goes through the Tx, never through the pool: on PostgreSQL a
// transaction waiting for a second pool connection can wait for ever once
// every connection is held by such a transaction.
type Tx struct {
	db       *DB
	tx       *txConn // the transaction, and the statements it keeps (pipeline.go)
	ctx      context.Context
	readOnly bool
	// committed run after the transaction commits (metrics, logs).
	committed []func()
	// jobs are inserted together, in one statement, before it commits.
	jobs []river.InsertManyParams
	// events are the ids of the events emitted, dispatched by one job.
	events []string
	// emails are the ids of the mails queued, sent by one job (EnqueueEmail).
	emails []string
	// plans are the plan versions read in this transaction (plancache.go).
	plans map[string]*fulfill.Plan
	// addOns are the subscription add-ons read in this transaction, by
	// subscription (SubscriptionAddOns).
	addOns map[string][]fulfill.SubscriptionAddOn
	// jitOff: PostgreSQL's JIT is off for the rest of the transaction (byKeys).
	jitOff bool
	// pre is what PrefetchRenewals read ahead (prefetch.go).
	pre *prefetched
	// invoiceNumber is the invoice counter as this transaction left it,
	// once it has taken a number (0 before): see nextInvoiceNumber.
	invoiceNumber int64
	// fresh are the invoices this transaction inserted and gave no
	// dunning record (DunningFor).
	fresh map[string]bool
	// lateNumbers: invoices are numbered when the kept writes are sent
	// (NumberInvoicesAtCommit).
	lateNumbers bool
	// licenseSeqs are the last license numbers of the subscriptions this
	// transaction inserted (InsertLicense).
	licenseSeqs map[string]int
}

// freshSubscription notes a subscription this transaction inserted: it has
// no license yet.
func (t *Tx) freshSubscription(id string) {
	if t.licenseSeqs == nil {
		t.licenseSeqs = map[string]int{}
	}
	t.licenseSeqs[id] = 0
}

// freshInvoice notes an invoice this transaction inserted.
func (t *Tx) freshInvoice(id string) {
	if t.fresh == nil {
		t.fresh = map[string]bool{}
	}
	t.fresh[id] = true
}

// InTx runs fn in one transaction. A transaction PostgreSQL aborts as a
// serialization failure or a deadlock is run again (see MaxTxAttempts), so
// fn must do nothing outside the transaction beyond setting its results: no
// network call, nothing appended to or counted in outer variables.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	var committed []func()
	err := db.writeTx(ctx, func(ctx context.Context, tx *txConn) error {
		t := &Tx{db: db, tx: tx, ctx: ctx}
		err := fn(t)
		if err == nil {
			err = t.insertJobs()
		}
		committed = t.committed // only the last attempt's
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range committed {
		f()
	}
	return nil
}

// AfterCommit runs f once the transaction has committed, and never if it
// rolls back: for counting and logging what was really recorded.
func (t *Tx) AfterCommit(f func()) { t.committed = append(t.committed, f) }

// ReadTx runs fn in a read-only transaction: one consistent view of the
// data that takes no lock and never waits for a writer (on SQLite it runs on
// the reader pool, beside the single writer). Reads that lock rows for
// update in InTx do not lock in ReadTx, and writes fail.
func (db *DB) ReadTx(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return db.runTx(ctx, opts, func(tx *sql.Tx) error {
		return fn(&Tx{db: db, tx: &txConn{Tx: tx}, ctx: ctx, readOnly: true})
	})
}

// lock is clause (" FOR UPDATE", " FOR UPDATE OF s") on PostgreSQL in a
// writing transaction, and nothing on SQLite, whose single writer already
// excludes other writers, or in a read-only transaction.
func (t *Tx) lock(clause string) string {
	if t.readOnly || t.db.Dialect != Postgres {
		return ""
	}
	return clause
}

// Context is the transaction's context.
func (t *Tx) Context() context.Context { return t.ctx }

// Enqueue inserts a job in this transaction: it runs only if the
// transaction commits. Jobs are inserted together when the use case is
// done, in one statement (River's InsertManyTx): on SQLite, River's insert
// was a third of a purchase's CPU when each of its five jobs had its own. A
// unique job is inserted at once, so that a duplicate is skipped as before.
func (t *Tx) Enqueue(args river.JobArgs, opts *river.InsertOpts) error {
	if unique(args, opts) {
		if err := t.tx.send(t.ctx); err != nil {
			return err
		}
		_, err := t.db.jobs.InsertTx(t.ctx, t.tx.Tx, args, opts)
		return err
	}
	t.jobs = append(t.jobs, river.InsertManyParams{Args: args, InsertOpts: opts})
	return nil
}

// insertJobs inserts the jobs Enqueue gathered.
func (t *Tx) insertJobs() error {
	if len(t.events) > 0 {
		t.jobs = append(t.jobs, river.InsertManyParams{Args: EventArgs{EventIDs: t.events}})
		t.events = nil
	}
	for ids := range slices.Chunk(t.emails, mailsPerJob) {
		t.jobs = append(t.jobs, river.InsertManyParams{Args: emailJob(ids)})
	}
	t.emails = nil
	if len(t.jobs) == 0 {
		return nil
	}
	// The kept statements (pipeline.go) stay kept, and on PostgreSQL the
	// jobs' insert, which reads none of them, is kept with them, to go
	// with the COMMIT (keepconn.go).
	if t.tx.err != nil {
		return t.tx.err
	}
	err := t.tx.keeping(func() error {
		_, err := t.db.jobs.InsertManyFastTx(t.ctx, t.tx.Tx, t.jobs)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert %d jobs: %w", len(t.jobs), err)
	}
	t.jobs = nil
	return nil
}

// unique reports whether a job is inserted unique (by its options or its
// kind's).
func unique(args river.JobArgs, opts *river.InsertOpts) bool {
	if opts != nil && !reflect.ValueOf(opts.UniqueOpts).IsZero() {
		return true
	}
	if a, ok := args.(river.JobArgsWithInsertOpts); ok {
		return !reflect.ValueOf(a.InsertOpts().UniqueOpts).IsZero()
	}
	return false
}

// querier is what reads need: the pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (t *Tx) exec(q string, args ...any) error {
	_, err := t.tx.ExecContext(t.ctx, q, args...)
	return err
}

// ---- catalog ----

const planCols = `id, code, version, name, kind, term_months, created_at, entitlements, max_instances`

func scanPlan(s interface{ Scan(...any) error }) (*fulfill.Plan, error) {
	var p fulfill.Plan
	var ents string
	if err := s.Scan(&p.ID, &p.Code, &p.Version, &p.Name, &p.Kind, &p.TermMonths, &p.CreatedAt, &ents, &p.MaxInstances); err != nil {
		return nil, err
	}
	e, err := fulfill.ParseEntitlements(ents)
	if err != nil {
		return nil, fmt.Errorf("plan %s entitlements: %w", p.ID, err)
	}
	p.Entitlements = e
	return &p, nil
}

// InsertPlan adds a plan as the current version of its code; an older
// version of the same code stops being current.
func (t *Tx) InsertPlan(p *fulfill.Plan) error {
	t.plans = nil // which version is current changes
	if err := t.exec(`UPDATE plans SET current = $1 WHERE code = $2`, false, p.Code); err != nil {
		return err
	}
	err := t.tx.QueryRowContext(t.ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM plans WHERE code = $1`, p.Code).Scan(&p.Version)
	if err != nil {
		return err
	}
	if err := t.exec(`INSERT INTO plans (id, code, version, name, kind, term_months, current, created_at, entitlements, max_instances)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		p.ID, p.Code, p.Version, p.Name, p.Kind, p.TermMonths, true, p.CreatedAt.UTC(), p.Entitlements.String(), p.MaxInstances); err != nil {
		return mapErr(err, "Plan")
	}
	for cur, amt := range p.Prices {
		if err := t.exec(`INSERT INTO plan_prices (plan_id, currency, unit_amount) VALUES ($1, $2, $3)`, p.ID, cur, amt); err != nil {
			return err
		}
	}
	return nil
}

// InsertAddOn adds an add-on.
func (t *Tx) InsertAddOn(a *fulfill.AddOn, now time.Time) error {
	if err := t.exec(`INSERT INTO addons (code, name, recurring, term_months, created_at, pricing, kinds, entitlements)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.Code, a.Name, a.Recurring, a.TermMonths, now.UTC(), a.Pricing, strings.Join(a.Kinds, ","), a.Entitlements.String()); err != nil {
		return mapErr(err, "Add-on")
	}
	for cur, amt := range a.Prices {
		if err := t.exec(`INSERT INTO addon_prices (addon_code, currency, unit_amount) VALUES ($1, $2, $3)`, a.Code, cur, amt); err != nil {
			return err
		}
	}
	return nil
}

// CatalogEmpty reports whether no plan exists yet.
func (db *DB) CatalogEmpty(ctx context.Context) (bool, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM plans`).Scan(&n)
	return n == 0, err
}

func loadPrices(ctx context.Context, q querier, plans []*fulfill.Plan) error {
	if len(plans) == 0 {
		return nil
	}
	byID := make(map[string]*fulfill.Plan, len(plans))
	ids := make([]any, len(plans))
	ph := make([]string, len(plans))
	for i, p := range plans {
		p.Prices = map[string]int64{}
		byID[p.ID] = p
		ids[i] = p.ID
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	rows, err := q.QueryContext(ctx, `SELECT plan_id, currency, unit_amount FROM plan_prices WHERE plan_id IN (`+strings.Join(ph, ",")+`)`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, cur string
		var amt int64
		if err := rows.Scan(&id, &cur, &amt); err != nil {
			return err
		}
		byID[id].Prices[cur] = amt
	}
	return rows.Err()
}

// Plans lists the current version of every plan.
func (db *DB) Plans(ctx context.Context) ([]*fulfill.Plan, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+planCols+` FROM plans WHERE current = $1 ORDER BY code`, true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []*fulfill.Plan
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return ps, loadPrices(ctx, db.Read, ps)
}

// AddOns lists the add-ons.
func (db *DB) AddOns(ctx context.Context) ([]*fulfill.AddOn, error) {
	return queryAddOns(ctx, db.Read, "")
}

// PlanByCode returns the current version of the plan with this code.
func (t *Tx) PlanByCode(code string) (*fulfill.Plan, error) {
	if p := t.cachedPlan("code:" + code); p != nil {
		return p, nil
	}
	p, _, err := t.planWithPrices(`code = $1 AND current = $2`, code, true)
	if err != nil {
		return nil, err
	}
	t.keepPlan(p, true)
	return p, nil
}

// PlanByID returns one plan version.
func (t *Tx) PlanByID(id string) (*fulfill.Plan, error) {
	if p := t.cachedPlan("id:" + id); p != nil {
		return p, nil
	}
	p, current, err := t.planWithPrices(`id = $1`, id)
	if err != nil {
		return nil, err
	}
	// The current version is kept by its code too: a purchase reads its
	// plan by id (the license) and by code (the license mail).
	t.keepPlan(p, current)
	return p, nil
}

// planWithPrices reads the one plan version where cond holds (on columns
// of plans) with its prices, in one statement, and whether it is current.
func (t *Tx) planWithPrices(cond string, args ...any) (*fulfill.Plan, bool, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT `+planCols+`, current, pp.currency, pp.unit_amount FROM plans
		LEFT JOIN plan_prices pp ON pp.plan_id = plans.id WHERE `+cond, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var p *fulfill.Plan
	var current bool
	for rows.Next() {
		var cur sql.NullString
		var amt sql.NullInt64
		q, err := scanPlan(scanWith{rows, []any{&current, &cur, &amt}})
		if err != nil {
			return nil, false, err
		}
		if p == nil {
			p = q
			p.Prices = map[string]int64{}
		}
		if cur.Valid {
			p.Prices[cur.String] = amt.Int64
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if p == nil {
		return nil, false, mapErr(sql.ErrNoRows, "Plan")
	}
	return p, current, nil
}

// scanWith scans a row whose last columns go to extra, after those the
// row's scan function reads.
type scanWith struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (s scanWith) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra...)...) }

// ---- customers ----

const customerCols = `id, email, name, company, address, city, postal_code, country, tax_id, currency,
	contact_name, contact_email, billing_name, billing_email, credit, credit_hold, created_at, probe,
	terms_days, po_number, po_required, billing_cc, vat_check, vat_checked_at, vat_check_ref`

func scanCustomer(s interface{ Scan(...any) error }) (*fulfill.Customer, error) {
	var c fulfill.Customer
	var checked sql.NullTime
	err := s.Scan(&c.ID, &c.Email, &c.Name, &c.Company, &c.Address, &c.City, &c.PostalCode, &c.Country, &c.TaxID, &c.Currency,
		&c.ContactName, &c.ContactEmail, &c.BillingName, &c.BillingEmail, &c.Credit, &c.CreditHold, &c.CreatedAt, &c.Probe,
		&c.TermsDays, &c.PONumber, &c.PORequired, &c.BillingCC, &c.VATCheck, &checked, &c.VATCheckRef)
	if err != nil {
		return nil, err
	}
	if checked.Valid {
		t := checked.Time.UTC()
		c.VATCheckedAt = &t
	}
	return &c, nil
}

// InsertCustomer adds a customer.
func (t *Tx) InsertCustomer(c *fulfill.Customer) error {
	return mapErr(t.exec(`INSERT INTO customers (`+customerCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`,
		customerArgs(c)...), "Customer")
}

// customerArgs are a customer's values in the order of customerCols.
func customerArgs(c *fulfill.Customer) []any {
	return []any{c.ID, c.Email, c.Name, c.Company, c.Address, c.City, c.PostalCode, c.Country, c.TaxID, c.Currency,
		c.ContactName, c.ContactEmail, c.BillingName, c.BillingEmail, c.Credit, c.CreditHold, c.CreatedAt.UTC(), c.Probe,
		c.TermsDays, c.PONumber, c.PORequired, c.BillingCC, c.VATCheck, utcPtr(c.VATCheckedAt), c.VATCheckRef}
}

// ProbeCustomer is the probe customer, if there is one.
func (t *Tx) ProbeCustomer() (*fulfill.Customer, error) {
	c, err := scanCustomer(t.tx.QueryRowContext(t.ctx, `SELECT `+customerCols+` FROM customers WHERE probe = $1`, true))
	return c, mapErr(err, "Probe customer")
}

// Customer returns a customer, locked for update.
func (t *Tx) Customer(id string) (*fulfill.Customer, error) {
	if c, ok := t.aheadCustomer(id); ok {
		return c, nil
	}
	c, err := scanCustomer(t.tx.QueryRowContext(t.ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`+t.lock(" FOR UPDATE"), id))
	return c, mapErr(err, "Customer")
}

// SetCreditHold puts a customer on credit hold, or takes it off. The write
// is kept (pipeline.go): it reads nothing back.
func (t *Tx) SetCreditHold(id string, on bool) error {
	t.customerWritten(id, func(c *fulfill.Customer) { c.CreditHold = on })
	return t.execLater(`UPDATE customers SET credit_hold = $1 WHERE id = $2`, on, id)
}

// SetCustomerCredit sets the account credit balance. The write is kept
// (pipeline.go): it reads nothing back.
func (t *Tx) SetCustomerCredit(id string, credit int64) error {
	t.customerWritten(id, func(c *fulfill.Customer) { c.Credit = credit })
	return t.execLater(`UPDATE customers SET credit = $1 WHERE id = $2`, credit, id)
}

// Customer returns a customer.
func (db *DB) Customer(ctx context.Context, id string) (*fulfill.Customer, error) {
	c, err := scanCustomer(db.Read.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`, id))
	return c, mapErr(err, "Customer")
}

// Customers lists customers, newest id first, after the cursor.
func (db *DB) Customers(ctx context.Context, p fulfill.Page) ([]*fulfill.Customer, error) {
	q, args := pageQuery(`SELECT `+customerCols+` FROM customers`, "", nil, p)
	return queryAll(ctx, db.Read, scanCustomer, q, args...)
}

// pageQuery appends keyset pagination by id (descending) to a query whose
// optional filter is where (without WHERE).
func pageQuery(base, where string, args []any, p fulfill.Page) (string, []any) {
	conds := []string{}
	if where != "" {
		conds = append(conds, where)
	}
	if p.Cursor != "" {
		args = append(args, p.Cursor)
		conds = append(conds, fmt.Sprintf("id < $%d", len(args)))
	}
	if len(conds) > 0 {
		base += " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, p.Limit)
	return base + fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args)), args
}
