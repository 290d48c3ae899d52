package store

import (
	"context"
	"database/sql"
	"time"
)

// Payment attempt states.
const (
	AttemptPending   = "pending"
	AttemptSucceeded = "succeeded"
	AttemptDeclined  = "declined"
)

// PaymentAttempt is a charge recorded before the provider is called (phase
// 1 of a payment in atomic phases), and its outcome once known (phase 3).
type PaymentAttempt struct {
	ID         string
	Kind       string // what the charge pays for: "purchase", "change"
	State      string
	CustomerID string
	// SubscriptionID is the subscription bought or changed (for a
	// purchase, reserved: it exists once the charge succeeds).
	SubscriptionID string
	InvoiceID      string // reserved: the invoice is stored when the charge succeeds
	Amount         int64  // what the provider is asked to take
	Currency       string
	PaymentMethod  string
	// ProviderKey is the provider's idempotency key, derived from our ids:
	// asking again with it returns the first charge, never a second one.
	ProviderKey string
	// CreditReserved is account credit taken off the customer in phase 1
	// for this invoice; a decline gives it back.
	CreditReserved int64
	// Intent is what phase 3 stores on success (JSON, kind-specific).
	Intent         []byte
	ProviderRef    string
	FailureCode    string
	FailureMessage string
	CreatedAt      time.Time
	FinishedAt     *time.Time
}

const attemptCols = `id, kind, state, customer_id, subscription_id, invoice_id, amount, currency, payment_method, provider_key, credit_reserved,
	intent, provider_ref, failure_code, failure_message, created_at, finished_at`

func scanAttempt(s interface{ Scan(...any) error }) (*PaymentAttempt, error) {
	var a PaymentAttempt
	var intent string
	var fin sql.NullTime
	if err := s.Scan(&a.ID, &a.Kind, &a.State, &a.CustomerID, &a.SubscriptionID, &a.InvoiceID, &a.Amount, &a.Currency, &a.PaymentMethod, &a.ProviderKey,
		&a.CreditReserved, &intent, &a.ProviderRef, &a.FailureCode, &a.FailureMessage, &a.CreatedAt, &fin); err != nil {
		return nil, err
	}
	a.Intent = []byte(intent)
	if fin.Valid {
		a.FinishedAt = &fin.Time
	}
	return &a, nil
}

// InsertPaymentAttempt records a charge about to be made.
func (t *Tx) InsertPaymentAttempt(a *PaymentAttempt) error {
	return mapErr(t.exec(`INSERT INTO payment_attempts (`+attemptCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		a.ID, a.Kind, a.State, a.CustomerID, a.SubscriptionID, a.InvoiceID, a.Amount, a.Currency, a.PaymentMethod, a.ProviderKey,
		a.CreditReserved, string(a.Intent), a.ProviderRef, a.FailureCode, a.FailureMessage, a.CreatedAt.UTC(), nil), "Payment attempt")
}

// PaymentAttempt returns an attempt, locked for update: of two processes
// finishing one attempt, the second sees the first's outcome.
func (t *Tx) PaymentAttempt(id string) (*PaymentAttempt, error) {
	a, err := scanAttempt(t.tx.QueryRowContext(t.ctx, `SELECT `+attemptCols+` FROM payment_attempts WHERE id = $1`+t.db.forUpdate(), id))
	return a, mapErr(err, "Payment attempt")
}

// PendingAttemptsFor lists the charges for the subscription that await
// their outcome, oldest first.
func (db *DB) PendingAttemptsFor(ctx context.Context, subscriptionID string) ([]string, error) {
	return queryStrings(ctx, db.Write, `SELECT id FROM payment_attempts WHERE subscription_id = $1 AND state = $2 ORDER BY created_at, id`,
		subscriptionID, AttemptPending)
}

// PendingPaymentFor reports whether a charge for the subscription awaits
// its outcome.
func (t *Tx) PendingPaymentFor(subscriptionID string) (bool, error) {
	if n, ok := take(t.ahead().pending, subscriptionID); ok {
		return n > 0, nil
	}
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM payment_attempts WHERE subscription_id = $1 AND state = $2`,
		subscriptionID, AttemptPending).Scan(&n)
	return n > 0, err
}

// PendingPaymentForInvoice reports whether a charge for the invoice awaits
// its outcome.
func (t *Tx) PendingPaymentForInvoice(invoiceID string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM payment_attempts WHERE invoice_id = $1 AND state = $2`,
		invoiceID, AttemptPending).Scan(&n)
	return n > 0, err
}

// FinishPaymentAttempt records the outcome of a pending attempt.
func (t *Tx) FinishPaymentAttempt(a *PaymentAttempt, now time.Time) error {
	n := now.UTC()
	a.FinishedAt = &n
	return t.execLater(`UPDATE payment_attempts SET state = $1, provider_ref = $2, failure_code = $3, failure_message = $4, finished_at = $5
		WHERE id = $6`, a.State, a.ProviderRef, a.FailureCode, a.FailureMessage, n, a.ID)
}

// PaymentAttempt returns an attempt.
func (db *DB) PaymentAttempt(ctx context.Context, id string) (*PaymentAttempt, error) {
	a, err := scanAttempt(db.Read.QueryRowContext(ctx, `SELECT `+attemptCols+` FROM payment_attempts WHERE id = $1`, id))
	return a, mapErr(err, "Payment attempt")
}

// PaymentAttemptCounts counts attempts by state, for tests and operators.
func (db *DB) PaymentAttemptCounts(ctx context.Context) (map[string]int, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT state, COUNT(*) FROM payment_attempts GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		counts[st] = n
	}
	return counts, rows.Err()
}
