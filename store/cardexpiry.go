package store

import (
	"context"

	"github.com/fulfillhq/fulfill"
)

// PaymentMethod reads one saved card by its id, in a transaction.
func (t *Tx) PaymentMethod(id string) (*PaymentMethod, error) {
	pm, err := scanPaymentMethod(t.tx.QueryRowContext(t.ctx, `SELECT `+pmCols+` FROM payment_methods WHERE id = $1`, id))
	return pm, mapErr(err, "Payment method")
}

// SetCardDetails records what the payment provider reported of a saved
// card, and the label it is shown with.
func (t *Tx) SetCardDetails(id, label string, card fulfill.CardDetails) error {
	return t.exec(`UPDATE payment_methods SET label = $1, brand = $2, last4 = $3, exp_month = $4, exp_year = $5 WHERE id = $6`,
		label, card.Brand, card.Last4, card.ExpMonth, card.ExpYear, id)
}

// ExpiringDefaultCards lists the default cards of billing accounts whose
// expiry month, as year×12+month, is from fromMonth to toMonth.
func (db *DB) ExpiringDefaultCards(ctx context.Context, fromMonth, toMonth int) ([]*PaymentMethod, error) {
	return queryAll(ctx, db.Read, scanPaymentMethod, `SELECT `+pmCols+` FROM payment_methods
		WHERE is_default = $1 AND exp_year > 0 AND exp_year * 12 + exp_month BETWEEN $2 AND $3 ORDER BY id`, true, fromMonth, toMonth)
}

// NoticesOfKind lists, as "subject/cause", the notices of kind on record
// whose cause is at least from (causes of one kind share one format, e.g.
// "2026-12", so they compare as text).
func (db *DB) NoticesOfKind(ctx context.Context, kind, from string) (map[string]bool, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT subject_id, cause FROM billing_notices WHERE kind = $1 AND cause >= $2`, kind, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sent := map[string]bool{}
	for rows.Next() {
		var subject, cause string
		if err := rows.Scan(&subject, &cause); err != nil {
			return nil, err
		}
		sent[subject+"/"+cause] = true
	}
	return sent, rows.Err()
}
