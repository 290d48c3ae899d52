package store

import (
	"context"
	"fmt"
)

// PendingSubscriptionAttempts maps every subscription with a charge
// awaiting its outcome to those attempts' ids, oldest first: one query for
// a billing run, which finishes them before the day's renewals.
func (db *DB) PendingSubscriptionAttempts(ctx context.Context) (map[string][]string, error) {
	rows, err := db.Write.QueryContext(ctx, `SELECT subscription_id, id FROM payment_attempts
		WHERE state = $1 AND subscription_id <> '' ORDER BY created_at, id`, AttemptPending)
	if err != nil {
		return nil, fmt.Errorf("list pending payment attempts: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var sub, id string
		if err := rows.Scan(&sub, &id); err != nil {
			return nil, fmt.Errorf("list pending payment attempts: %w", err)
		}
		out[sub] = append(out[sub], id)
	}
	return out, rows.Err()
}
