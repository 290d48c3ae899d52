package store

import "time"

// RecordProviderEvent marks a payment provider's event as applied. It
// reports false when the event was applied before: each event changes
// state once, however often it is delivered.
func (t *Tx) RecordProviderEvent(provider, eventID, typ, outcome string, now time.Time) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO provider_events (provider, event_id, type, outcome, received_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, provider, eventID, typ, outcome, now.UTC())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PaymentByRef reports whether a succeeded payment with this provider
// reference is recorded.
func (t *Tx) PaymentByRef(provider, ref string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM payments WHERE provider = $1 AND provider_ref = $2 AND status = 'succeeded'`,
		provider, ref).Scan(&n)
	return n > 0, err
}
