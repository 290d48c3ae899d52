package store

import (
	"context"
	"fmt"

	"github.com/fulfillhq/fulfill"
)

// dueWhere picks the subscriptions due on or before $1 (DueSubscriptions).
const dueWhere = `
		WHERE (s.ends_on <= $1 AND s.state IN ('active', 'past_due', 'canceled'))
		   OR (s.state = 'past_due' AND EXISTS (SELECT 1 FROM invoices i
		       WHERE i.subscription_id = s.id AND i.status = 'open' AND i.due_on <= $1))`

// DueSubscriptionCustomers maps the subscriptions DueSubscriptions lists
// to their customers: a billing run that renews several batches at once
// keeps a customer's subscriptions in one batch, so that no two of its
// transactions lock the same customer.
func (db *DB) DueSubscriptionCustomers(ctx context.Context, day fulfill.Date) (map[string]string, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT s.id, s.customer_id FROM subscriptions s`+dueWhere, day)
	if err != nil {
		return nil, fmt.Errorf("customers of the due subscriptions: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var sub, cust string
		if err := rows.Scan(&sub, &cust); err != nil {
			return nil, fmt.Errorf("customers of the due subscriptions: %w", err)
		}
		out[sub] = cust
	}
	return out, rows.Err()
}

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
