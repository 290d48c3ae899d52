package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
)

// Ledger accounts. Amounts are signed: a debit is positive, a credit
// negative, and every transaction sums to zero.
const (
	AccountReceivables     = "receivables"
	AccountCash            = "cash"
	AccountDeferredRevenue = "deferred_revenue"
	AccountRevenue         = "revenue"
	AccountTaxPayable      = "tax_payable"
	AccountCustomerCredit  = "customer_credit"
	AccountWriteOffs       = "write_offs"
)

// Posting is one line of a ledger transaction.
type Posting struct {
	Account    string
	CustomerID string
	InvoiceID  string
	Amount     int64 // debit > 0, credit < 0
}

// LedgerTransaction is a posted, balanced set of postings.
type LedgerTransaction struct {
	ID            string
	Kind          string
	ReferenceType string
	ReferenceID   string
	Currency      string
	Memo          string
	EffectiveOn   fulfill.Date
	CreatedAt     time.Time
	Postings      []Posting
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Post records one balanced transaction; an unbalanced one is refused.
// Zero postings are dropped, and a transaction with none is not recorded.
func (t *Tx) Post(lt *LedgerTransaction) error {
	var sum int64
	ps := lt.Postings[:0:0]
	for _, p := range lt.Postings {
		if p.Amount != 0 {
			ps = append(ps, p)
			sum += p.Amount
		}
	}
	if sum != 0 {
		return fmt.Errorf("ledger: %s %s does not balance (off by %d)", lt.Kind, lt.ReferenceID, sum)
	}
	if len(ps) == 0 {
		return nil
	}
	lt.Postings = ps
	if lt.ID == "" {
		lt.ID = fulfill.NewID("ltx")
	}
	if err := t.execLater(`INSERT INTO ledger_transactions (id, kind, reference_type, reference_id, currency, memo, effective_on, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, lt.ID, lt.Kind, lt.ReferenceType, lt.ReferenceID, lt.Currency, lt.Memo,
		lt.EffectiveOn, lt.CreatedAt.UTC()); err != nil {
		return err
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO ledger_entries (transaction_id, position, account, customer_id, invoice_id, amount) VALUES `)
	args := make([]any, 0, 6*len(ps))
	for i, p := range ps {
		if i > 0 {
			q.WriteString(", ")
		}
		b := len(args)
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d)", b+1, b+2, b+3, b+4, b+5, b+6)
		args = append(args, lt.ID, i+1, p.Account, nullable(p.CustomerID), nullable(p.InvoiceID), p.Amount)
	}
	return t.execLater(q.String(), args...)
}

// Balance is an account's balance in one currency, for one customer or all.
type Balance struct {
	Account    string `json:"account"`
	CustomerID string `json:"customer_id,omitempty"`
	Currency   string `json:"currency"`
	Amount     int64  `json:"amount"` // debit balance; credit balances are negative
}

// Balances sums the ledger by account and currency, and by customer when
// byCustomer is set.
func (db *DB) Balances(ctx context.Context, byCustomer bool) ([]Balance, error) {
	cols := "e.account, '' AS customer_id, t.currency"
	group := "e.account, t.currency"
	if byCustomer {
		cols = "e.account, COALESCE(e.customer_id, '') AS customer_id, t.currency"
		group = "e.account, COALESCE(e.customer_id, ''), t.currency"
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+cols+`, SUM(e.amount) FROM ledger_entries e
		JOIN ledger_transactions t ON t.id = e.transaction_id GROUP BY `+group+` ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var b Balance
		if err := rows.Scan(&b.Account, &b.CustomerID, &b.Currency, &b.Amount); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// UnbalancedTransactions lists transactions whose entries do not sum to
// zero: there must never be any.
func (db *DB) UnbalancedTransactions(ctx context.Context) ([]string, error) {
	return queryStrings(ctx, db.Read, `SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING SUM(amount) <> 0`)
}

// LedgerEntry is one exported ledger line.
type LedgerEntry struct {
	TransactionID, Kind, ReferenceType, ReferenceID, Currency, Memo string
	EffectiveOn                                                     fulfill.Date
	CreatedAt                                                       time.Time
	Position                                                        int
	Account                                                         string
	CustomerID, InvoiceID                                           sql.NullString
	Amount                                                          int64
}

// EachLedgerEntry streams the ledger in posting order.
func (db *DB) EachLedgerEntry(ctx context.Context, fn func(*LedgerEntry) error) error {
	rows, err := db.Read.QueryContext(ctx, `SELECT t.id, t.kind, t.reference_type, t.reference_id, t.currency, t.memo,
		t.effective_on, t.created_at, e.position, e.account, e.customer_id, e.invoice_id, e.amount
		FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id ORDER BY t.id, e.position`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e LedgerEntry
		if err := rows.Scan(&e.TransactionID, &e.Kind, &e.ReferenceType, &e.ReferenceID, &e.Currency, &e.Memo, &e.EffectiveOn,
			&e.CreatedAt, &e.Position, &e.Account, &e.CustomerID, &e.InvoiceID, &e.Amount); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ---- invoices: amounts after finalization ----

// Invoice returns an invoice with its lines, locked for update.
func (t *Tx) Invoice(id string) (*fulfill.Invoice, error) {
	lock := t.lock(" FOR UPDATE")
	inv, err := scanInvoice(t.tx.QueryRowContext(t.ctx, `SELECT `+invoiceCols+` FROM invoices WHERE id = $1`+lock, id))
	if err != nil {
		return nil, mapErr(err, "Invoice")
	}
	return inv, loadLines(t.ctx, t.tx, []*fulfill.Invoice{inv})
}

// SaveInvoiceAmounts writes an invoice's status and running amounts.
func (t *Tx) SaveInvoiceAmounts(inv *fulfill.Invoice) error {
	inv.AmountDue = DueOf(inv)
	return t.execLater(`UPDATE invoices SET status = $1, amount_paid = $2, amount_credited = $3, amount_refunded = $4,
		net_revenue = $5, recognized = $6, paid_at = $7, due_on = $8 WHERE id = $9`,
		inv.Status, inv.AmountPaid, inv.AmountCredited, inv.AmountRefunded, inv.NetRevenue, inv.Recognized,
		utcPtr(inv.PaidAt), inv.DueOn, inv.ID)
}

// InvoicesToRecognize lists finalized invoices whose revenue is not fully
// recognised yet.
func (db *DB) InvoicesToRecognize(ctx context.Context) ([]string, error) {
	return queryStrings(ctx, db.Read, `SELECT id FROM invoices WHERE status IN ('open', 'paid', 'uncollectible')
		AND recognized <> net_revenue ORDER BY id`)
}

// OpenInvoices lists every open invoice (for the aging report), oldest due
// first; the probe customer's are left out.
func (db *DB) OpenInvoices(ctx context.Context) ([]*fulfill.Invoice, error) {
	return queryAll(ctx, db.Read, scanInvoice, `SELECT `+invoiceCols+` FROM invoices WHERE status = 'open' AND `+notProbe("customer_id")+` ORDER BY due_on, id`)
}

// ---- credit notes ----

// CreditNote is a reduction of an invoice, in part or whole.
type CreditNote struct {
	ID         string       `json:"id"`
	Number     string       `json:"number"`
	InvoiceID  string       `json:"invoice_id"`
	CustomerID string       `json:"customer_id"`
	Currency   string       `json:"currency"`
	Subtotal   int64        `json:"subtotal"`
	Tax        int64        `json:"tax"`
	Total      int64        `json:"total"`
	Method     string       `json:"method"` // reduce_due, refund, account_credit
	Reason     string       `json:"reason"`
	IssuedOn   fulfill.Date `json:"issued_on"`
	CreatedAt  time.Time    `json:"created_at"`
}

// InsertCreditNote numbers (without gaps) and stores a credit note.
func (t *Tx) InsertCreditNote(cn *CreditNote) error {
	var n int64
	if err := t.tx.QueryRowContext(t.ctx, `UPDATE sequences SET value = value + 1 WHERE name = 'credit_note' RETURNING value`).Scan(&n); err != nil {
		return err
	}
	cn.Number = fmt.Sprintf("CN-%06d", n)
	return t.exec(`INSERT INTO credit_notes (id, number, invoice_id, customer_id, currency, subtotal, tax, total, method, reason, issued_on, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, cn.ID, cn.Number, cn.InvoiceID, cn.CustomerID, cn.Currency,
		cn.Subtotal, cn.Tax, cn.Total, cn.Method, cn.Reason, cn.IssuedOn, cn.CreatedAt.UTC())
}

// CreditNotes lists an invoice's credit notes (all when invoiceID is empty).
func (db *DB) CreditNotes(ctx context.Context, invoiceID string) ([]*CreditNote, error) {
	q := `SELECT id, number, invoice_id, customer_id, currency, subtotal, tax, total, method, reason, issued_on, created_at FROM credit_notes`
	var args []any
	if invoiceID != "" {
		q += ` WHERE invoice_id = $1`
		args = append(args, invoiceID)
	}
	rows, err := db.Read.QueryContext(ctx, q+` ORDER BY number`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*CreditNote{}
	for rows.Next() {
		var c CreditNote
		if err := rows.Scan(&c.ID, &c.Number, &c.InvoiceID, &c.CustomerID, &c.Currency, &c.Subtotal, &c.Tax, &c.Total, &c.Method,
			&c.Reason, &c.IssuedOn, &c.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// CreditNote returns one credit note, read in the transaction.
func (t *Tx) CreditNote(id string) (*CreditNote, error) {
	return creditNote(t.ctx, t.tx, id)
}

// CreditNote returns one credit note.
func (db *DB) CreditNote(ctx context.Context, id string) (*CreditNote, error) {
	return creditNote(ctx, db.Read, id)
}

func creditNote(ctx context.Context, q querier, id string) (*CreditNote, error) {
	var c CreditNote
	err := q.QueryRowContext(ctx, `SELECT id, number, invoice_id, customer_id, currency, subtotal, tax, total, method, reason,
		issued_on, created_at FROM credit_notes WHERE id = $1`, id).Scan(&c.ID, &c.Number, &c.InvoiceID, &c.CustomerID, &c.Currency,
		&c.Subtotal, &c.Tax, &c.Total, &c.Method, &c.Reason, &c.IssuedOn, &c.CreatedAt)
	if err != nil {
		return nil, mapErr(err, "Credit note")
	}
	return &c, nil
}

// ---- dunning ----

// Dunning is the retry schedule of a failed automatic payment.
type Dunning struct {
	InvoiceID      string
	SubscriptionID string
	StartedOn      fulfill.Date
	Attempts       int
	NextAttemptOn  fulfill.Date
	State          string // active, resolved, exhausted, lapsed
	PrevSeats      int64
	TrueUp         int64
	TrueUpFrom     fulfill.Date
	TrueUpTo       fulfill.Date
}

// PutDunning inserts or updates a dunning record.
func (t *Tx) PutDunning(d *Dunning) error {
	delete(t.fresh, d.InvoiceID)
	return t.exec(`INSERT INTO dunning (invoice_id, subscription_id, started_on, attempts, next_attempt_on, state, prev_seats, trueup, trueup_from, trueup_to)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (invoice_id) DO UPDATE SET attempts = excluded.attempts, next_attempt_on = excluded.next_attempt_on, state = excluded.state`,
		d.InvoiceID, d.SubscriptionID, d.StartedOn, d.Attempts, d.NextAttemptOn, d.State, d.PrevSeats, d.TrueUp, d.TrueUpFrom, d.TrueUpTo)
}

// DunningFor returns the dunning record of an invoice, if any.
func (t *Tx) DunningFor(invoiceID string) (*Dunning, error) {
	if t.fresh[invoiceID] {
		return nil, nil // inserted by this transaction, which gave it no dunning record
	}
	var d Dunning
	err := t.tx.QueryRowContext(t.ctx, `SELECT invoice_id, subscription_id, started_on, attempts, next_attempt_on, state, prev_seats,
		trueup, trueup_from, trueup_to FROM dunning WHERE invoice_id = $1`, invoiceID).Scan(&d.InvoiceID, &d.SubscriptionID, &d.StartedOn,
		&d.Attempts, &d.NextAttemptOn, &d.State, &d.PrevSeats, &d.TrueUp, &d.TrueUpFrom, &d.TrueUpTo)
	if err != nil {
		if err == sql.ErrNoRows {
			return nil, nil
		}
		return nil, err
	}
	return &d, nil
}

// DueDunning lists the invoices whose next payment retry falls on or before day.
func (db *DB) DueDunning(ctx context.Context, day fulfill.Date) ([]string, error) {
	return queryStrings(ctx, db.Read, `SELECT invoice_id FROM dunning WHERE state = 'active' AND next_attempt_on <= $1 ORDER BY invoice_id`, day)
}
