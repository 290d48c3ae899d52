package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
)

// InsertInvoice gives the invoice the next number (without gaps: the counter
// moves in this transaction) and stores it with its lines.
func (t *Tx) InsertInvoice(inv *fulfill.Invoice) error {
	// The counter's row stays locked until the transaction ends: on
	// PostgreSQL the number is taken in the round trip that sends the kept
	// writes, and the invoice and what follows are kept in turn, to go with
	// the COMMIT (pipeline.go), so that the row is held for as few round
	// trips as the use case needs.
	if t.lateNumbers {
		if err := t.placeholderNumber(inv); err != nil {
			return err
		}
	} else {
		n, err := t.nextInvoiceNumber()
		if err != nil {
			return err
		}
		inv.Number = fmt.Sprintf("INV-%06d", n)
	}
	t.freshInvoice(inv.ID)
	err := t.execLaterAs("Invoice", `INSERT INTO invoices (id, number, customer_id, subscription_id, status, currency, subtotal, tax, total,
		amount_paid, tax_rate_bp, reverse_charge, tax_note, issued_on, due_on, paid_at, payment_method, created_at,
		net_revenue, period_start, period_end, po_number)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		inv.ID, inv.Number, inv.CustomerID, inv.SubscriptionID, inv.Status, inv.Currency, inv.Subtotal, inv.Tax, inv.Total,
		inv.AmountPaid, inv.TaxRateBP, inv.ReverseCharge, inv.TaxNote, inv.IssuedOn, inv.DueOn, utcPtr(inv.PaidAt),
		inv.PaymentMethod, inv.CreatedAt.UTC(), inv.NetRevenue, inv.PeriodStart, inv.PeriodEnd, inv.PONumber)
	if err != nil {
		return mapErr(err, "Invoice")
	}
	if len(inv.Lines) == 0 {
		return nil
	}
	// One statement for all lines.
	var q strings.Builder
	q.WriteString(`INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity, unit_amount, amount,
		period_start, period_end, proration) VALUES `)
	args := make([]any, 0, 10*len(inv.Lines))
	for i, l := range inv.Lines {
		if i > 0 {
			q.WriteString(", ")
		}
		b := len(args)
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", b+1, b+2, b+3, b+4, b+5, b+6, b+7, b+8, b+9, b+10)
		args = append(args, inv.ID, i+1, l.Kind, l.Description, l.Quantity, l.UnitAmount, l.Amount, l.PeriodStart, l.PeriodEnd, l.Proration)
	}
	return t.execLater(q.String(), args...)
}

// nextInvoiceNumber moves the invoice counter on by one and returns it.
// The first number a transaction takes locks the counter's row until it
// commits (PostgreSQL; on SQLite the transaction holds the only write
// lock), so no other can move it meanwhile: the numbers after it are known
// without reading the row again, and the statements that move it on are
// sent with the next (execLater), not one round trip each.
func (t *Tx) nextInvoiceNumber() (int64, error) {
	if t.invoiceNumber > 0 {
		if err := t.execLater(`UPDATE sequences SET value = value + 1 WHERE name = 'invoice'`); err != nil {
			return 0, fmt.Errorf("next invoice number: %w", err)
		}
		t.invoiceNumber++
		return t.invoiceNumber, nil
	}
	var n int64
	if err := t.queryRowKept([]any{&n}, `UPDATE sequences SET value = value + 1 WHERE name = 'invoice' RETURNING value`); err != nil {
		return 0, fmt.Errorf("next invoice number: %w", err)
	}
	t.invoiceNumber = n
	return n, nil
}

// DueOf is what is still owed on an invoice: nothing once it is paid, void
// or written off.
func DueOf(inv *fulfill.Invoice) int64 {
	if inv.Status != fulfill.InvoiceOpen {
		return 0
	}
	return max(0, inv.Total-inv.AmountPaid-inv.AmountCredited)
}

func utcPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// InsertPayment records a payment attempt.
func (t *Tx) InsertPayment(p *fulfill.Payment) error {
	return t.execLater(`INSERT INTO payments (id, invoice_id, provider, provider_ref, amount, currency, status, failure_code, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		p.ID, p.InvoiceID, p.Provider, p.ProviderRef, p.Amount, p.Currency, p.Status, p.FailureCode, p.CreatedAt.UTC())
}

const invoiceCols = `id, number, customer_id, subscription_id, status, currency, subtotal, tax, total, amount_paid,
	tax_rate_bp, reverse_charge, tax_note, issued_on, due_on, paid_at, payment_method, created_at,
	amount_credited, amount_refunded, net_revenue, recognized, period_start, period_end, po_number`

func scanInvoice(s interface{ Scan(...any) error }) (*fulfill.Invoice, error) {
	var inv fulfill.Invoice
	var paid sql.NullTime
	err := s.Scan(&inv.ID, &inv.Number, &inv.CustomerID, &inv.SubscriptionID, &inv.Status, &inv.Currency, &inv.Subtotal,
		&inv.Tax, &inv.Total, &inv.AmountPaid, &inv.TaxRateBP, &inv.ReverseCharge, &inv.TaxNote, &inv.IssuedOn, &inv.DueOn,
		&paid, &inv.PaymentMethod, &inv.CreatedAt, &inv.AmountCredited, &inv.AmountRefunded, &inv.NetRevenue, &inv.Recognized,
		&inv.PeriodStart, &inv.PeriodEnd, &inv.PONumber)
	if err != nil {
		return nil, err
	}
	if paid.Valid {
		inv.PaidAt = &paid.Time
	}
	inv.AmountDue = DueOf(&inv)
	inv.Lines = []fulfill.InvoiceLine{}
	return &inv, nil
}

// Invoice returns an invoice with its lines.
func (db *DB) Invoice(ctx context.Context, id string) (*fulfill.Invoice, error) {
	inv, err := scanInvoice(db.Read.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr(err, "Invoice")
	}
	return inv, loadLines(ctx, db.Read, []*fulfill.Invoice{inv})
}

// Invoices lists invoices, of one customer or subscription when given.
func (db *DB) Invoices(ctx context.Context, customerID, subscriptionID string, p fulfill.Page) ([]*fulfill.Invoice, error) {
	var conds []string
	var args []any
	if customerID != "" {
		args = append(args, customerID)
		conds = append(conds, fmt.Sprintf("customer_id = $%d", len(args)))
	}
	if subscriptionID != "" {
		args = append(args, subscriptionID)
		conds = append(conds, fmt.Sprintf("subscription_id = $%d", len(args)))
	}
	q, args := pageQuery(`SELECT `+invoiceCols+` FROM invoices`, strings.Join(conds, " AND "), args, p)
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var invs []*fulfill.Invoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, err
		}
		invs = append(invs, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return invs, loadLines(ctx, db.Read, invs)
}

func loadLines(ctx context.Context, q querier, invs []*fulfill.Invoice) error {
	if len(invs) == 0 {
		return nil
	}
	byID := map[string]*fulfill.Invoice{}
	ph := make([]string, len(invs))
	args := make([]any, len(invs))
	for i, inv := range invs {
		byID[inv.ID] = inv
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = inv.ID
	}
	rows, err := q.QueryContext(ctx, `SELECT invoice_id, kind, description, quantity, unit_amount, amount, period_start,
		period_end, proration FROM invoice_lines WHERE invoice_id IN (`+strings.Join(ph, ",")+`) ORDER BY invoice_id, position`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var l fulfill.InvoiceLine
		if err := rows.Scan(&id, &l.Kind, &l.Description, &l.Quantity, &l.UnitAmount, &l.Amount, &l.PeriodStart, &l.PeriodEnd, &l.Proration); err != nil {
			return err
		}
		byID[id].Lines = append(byID[id].Lines, l)
	}
	return rows.Err()
}

// Payments lists an invoice's payment attempts.
func (db *DB) Payments(ctx context.Context, invoiceID string) ([]fulfill.Payment, error) {
	return payments(ctx, db.Read, invoiceID)
}

// Payments lists an invoice's payment attempts, read in the transaction.
func (t *Tx) Payments(invoiceID string) ([]fulfill.Payment, error) {
	return payments(t.ctx, t.tx, invoiceID)
}

func payments(ctx context.Context, q querier, invoiceID string) ([]fulfill.Payment, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, invoice_id, provider, provider_ref, amount, currency, status, failure_code, created_at
		FROM payments WHERE invoice_id = $1 ORDER BY created_at, id`, invoiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []fulfill.Payment
	for rows.Next() {
		var p fulfill.Payment
		if err := rows.Scan(&p.ID, &p.InvoiceID, &p.Provider, &p.ProviderRef, &p.Amount, &p.Currency, &p.Status, &p.FailureCode, &p.CreatedAt); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// ---- API tokens ----

// Token is a stored API token (only its hash is kept).
type Token struct {
	ID   string
	Name string
	Role string
}

// PutToken stores the hash of a named token, replacing an earlier token of
// the same name.
//
// Copies of the server started together with the same FULFILL_ADMIN_TOKEN
// store the same token at once. On PostgreSQL the loser of that race meets
// the winner's row on the token_hash index, which its ON CONFLICT (name)
// does not cover, and fails with a duplicate; run again, it finds the row
// by its name and updates it.
func (db *DB) PutToken(ctx context.Context, name, hash, role string, now time.Time) error {
	var err error
	for range 2 {
		_, err = db.Write.ExecContext(ctx, `INSERT INTO api_tokens (id, name, token_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, role = excluded.role, created_at = excluded.created_at`,
			fulfill.NewID("tok"), name, hash, role, now.UTC())
		if err = mapErr(err, "API token"); fulfill.ErrorCode(err) != fulfill.EConflict {
			return err
		}
	}
	return err
}

// TokenByHash finds a token by its hash.
func (db *DB) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	var t Token
	err := db.Read.QueryRowContext(ctx, `SELECT id, name, role FROM api_tokens WHERE token_hash = $1`, hash).Scan(&t.ID, &t.Name, &t.Role)
	if err != nil {
		return nil, mapErr(err, "Token")
	}
	return &t, nil
}

// TableCounts returns the row count of every Fulfill table, for tests that
// check that a refused request changed nothing.
func (db *DB) TableCounts(ctx context.Context) (map[string]int, error) {
	tables := []string{"plans", "plan_prices", "addons", "addon_prices", "customers", "subscriptions",
		"subscription_versions", "activation_codes", "invoices", "invoice_lines", "payments", "seat_reports", "sequences",
		"licenses", "instances", "usage_pings", "emails", "reconciliations", "events",
		"ledger_transactions", "ledger_entries", "credit_notes", "dunning",
		"webhook_endpoints", "webhook_deliveries", "webhook_attempts", "saas_provisions", "saas_provision_attempts",
		"subscription_addons", "custom_licenses"}
	counts := map[string]int{}
	for _, tbl := range tables {
		var n int
		if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+tbl).Scan(&n); err != nil {
			return nil, err
		}
		counts[tbl] = n
	}
	var seq int
	if err := db.Read.QueryRowContext(ctx, `SELECT value FROM sequences WHERE name = 'invoice'`).Scan(&seq); err != nil {
		return nil, err
	}
	counts["sequence:invoice"] = seq
	return counts, nil
}
