package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
)

// queryAddOns lists the catalog's add-ons with their prices, or the one
// with code when code is set.
func queryAddOns(ctx context.Context, q querier, code string) ([]*fulfill.AddOn, error) {
	query := `SELECT a.code, a.name, a.recurring, a.term_months, a.pricing, a.kinds, a.entitlements, p.currency, p.unit_amount
		FROM addons a JOIN addon_prices p ON p.addon_code = a.code`
	var args []any
	if code != "" {
		query += ` WHERE a.code = $1`
		args = append(args, code)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY a.code, p.currency`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var as []*fulfill.AddOn
	for rows.Next() {
		var a fulfill.AddOn
		var kinds, ents, cur string
		var amt int64
		if err := rows.Scan(&a.Code, &a.Name, &a.Recurring, &a.TermMonths, &a.Pricing, &kinds, &ents, &cur, &amt); err != nil {
			return nil, err
		}
		if n := len(as); n > 0 && as[n-1].Code == a.Code {
			as[n-1].Prices[cur] = amt
			continue
		}
		if a.Entitlements, err = fulfill.ParseEntitlements(ents); err != nil {
			return nil, fmt.Errorf("add-on %s entitlements: %w", a.Code, err)
		}
		a.Kinds = strings.Split(kinds, ",")
		a.Prices = map[string]int64{cur: amt}
		as = append(as, &a)
	}
	return as, rows.Err()
}

// AddOn returns the catalog add-on with this code.
func (t *Tx) AddOn(code string) (*fulfill.AddOn, error) {
	as, err := queryAddOns(t.ctx, t.tx, code)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fulfill.Errorf(fulfill.ENotFound, "Add-on not found.")
	}
	return as[0], nil
}

const subAddOnQuery = `SELECT s.addon_code, a.name, s.quantity, s.unit_amount, s.pricing, s.entitlements, s.updated_at
	FROM subscription_addons s JOIN addons a ON a.code = s.addon_code WHERE s.subscription_id = $1 ORDER BY s.addon_code`

func scanSubAddOn(sc interface{ Scan(...any) error }) (fulfill.SubscriptionAddOn, error) {
	var a fulfill.SubscriptionAddOn
	var ents string
	if err := sc.Scan(&a.Code, &a.Name, &a.Quantity, &a.UnitAmount, &a.Pricing, &ents, &a.UpdatedAt); err != nil {
		return a, err
	}
	e, err := fulfill.ParseEntitlements(ents)
	if err != nil {
		return a, fmt.Errorf("subscription add-on %s entitlements: %w", a.Code, err)
	}
	a.Entitlements = e
	return a, nil
}

// SubscriptionAddOns lists a subscription's add-ons by code, in the
// caller's transaction.
// The transaction keeps what it read (Tx.Subscription reads them too, and
// a renewal's license grants read them again): SetSubscriptionAddOns, the
// only writer, forgets them.
func (t *Tx) SubscriptionAddOns(subscriptionID string) ([]fulfill.SubscriptionAddOn, error) {
	if as, ok := t.addOns[subscriptionID]; ok {
		return cloneSubAddOns(as), nil
	}
	as, err := queryAll(t.ctx, t.tx, scanSubAddOn, subAddOnQuery, subscriptionID)
	if err != nil {
		return nil, err
	}
	if t.addOns == nil {
		t.addOns = map[string][]fulfill.SubscriptionAddOn{}
	}
	t.addOns[subscriptionID] = cloneSubAddOns(as)
	return as, nil
}

func cloneSubAddOns(as []fulfill.SubscriptionAddOn) []fulfill.SubscriptionAddOn {
	if as == nil {
		return nil
	}
	out := make([]fulfill.SubscriptionAddOn, len(as))
	for i, a := range as {
		a.Entitlements.Flags = slices.Clone(a.Entitlements.Flags)
		a.Entitlements.Limits = maps.Clone(a.Entitlements.Limits)
		out[i] = a
	}
	return out
}

// SubscriptionAddOns lists a subscription's add-ons by code.
func (db *DB) SubscriptionAddOns(ctx context.Context, subscriptionID string) ([]fulfill.SubscriptionAddOn, error) {
	return queryAll(ctx, db.Read, scanSubAddOn, subAddOnQuery, subscriptionID)
}

// SetSubscriptionAddOns replaces a subscription's add-ons with as.
func (t *Tx) SetSubscriptionAddOns(subscriptionID string, as []fulfill.SubscriptionAddOn, now time.Time) error {
	if cur, ok := t.addOns[subscriptionID]; ok && len(cur) == 0 && len(as) == 0 {
		return nil // none before, none after (most renewals): nothing to write
	}
	delete(t.addOns, subscriptionID)
	t.forgetSub(subscriptionID)
	if err := t.execLater(`DELETE FROM subscription_addons WHERE subscription_id = $1`, subscriptionID); err != nil {
		return err
	}
	for _, a := range as {
		if err := t.exec(`INSERT INTO subscription_addons (subscription_id, addon_code, quantity, unit_amount, pricing, entitlements, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, subscriptionID, a.Code, a.Quantity, a.UnitAmount, a.Pricing,
			a.Entitlements.String(), now.UTC()); err != nil {
			return mapErr(err, "Add-on")
		}
	}
	return nil
}
