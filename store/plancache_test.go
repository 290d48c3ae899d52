package store

import (
	"context"
	"testing"

	"github.com/fulfillhq/fulfill"
)

// Issue 18: a transaction reads each plan version once (a billing run's
// batch renews a hundred subscriptions on a few plans): a second read in the
// same transaction does not go to the database, and hands out a copy the
// caller may change; a plan version inserted in the transaction is current
// for the next read by code.
func TestTransactionReadsAPlanOnce(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		p := insertPlan(t, db, "pln_cache", "cached")
		inTx(t, db, func(tx *Tx) error {
			first, err := tx.PlanByID(p.ID)
			if err != nil {
				return err
			}
			if _, err := tx.PlanByCode(p.Code); err != nil {
				return err
			}
			first.Prices["USD"], first.Name = 1, "changed by the caller"
			// Not read again: a change behind the store's back is not seen.
			if err := tx.exec(`UPDATE plans SET name = $1 WHERE id = $2`, "renamed", p.ID); err != nil {
				return err
			}
			for _, read := range []func() (*fulfill.Plan, error){
				func() (*fulfill.Plan, error) { return tx.PlanByID(p.ID) },
				func() (*fulfill.Plan, error) { return tx.PlanByCode(p.Code) },
			} {
				again, err := read()
				if err != nil {
					return err
				}
				if again.Name != "Premium" || again.Prices["USD"] != 29_00 {
					t.Errorf("second read: %q, %d; want the first read's Premium, 2900, unchanged by its caller", again.Name, again.Prices["USD"])
				}
			}
			v2 := &fulfill.Plan{ID: "pln_cache2", Code: p.Code, Name: "Premium 2", Kind: "self_managed", TermMonths: 12,
				Prices: map[string]int64{"USD": 39_00}, CreatedAt: t0}
			if err := tx.InsertPlan(v2); err != nil {
				return err
			}
			cur, err := tx.PlanByCode(p.Code)
			if err != nil {
				return err
			}
			if cur.ID != v2.ID || cur.Prices["USD"] != 39_00 {
				t.Errorf("after a new version: current is %s at %d, want %s at 3900", cur.ID, cur.Prices["USD"], v2.ID)
			}
			return nil
		})
	})
}

// A transaction reads a subscription's add-ons once (Tx.Subscription reads
// them, and a renewal's license grants again); writing them forgets what
// was read, and writing none over none writes nothing.
func TestTransactionReadsASubscriptionsAddOnsOnce(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_addons", "sub_addons")
		a := &fulfill.AddOn{Code: "duo", Name: "Duo", Recurring: true, TermMonths: 12, Prices: map[string]int64{"USD": 19_00},
			Pricing: "per_seat", Kinds: []string{"self_managed"}}
		inTx(t, db, func(tx *Tx) error { return tx.InsertAddOn(a, t0) })
		inTx(t, db, func(tx *Tx) error {
			sub, err := tx.Subscription("sub_addons")
			if err != nil {
				return err
			}
			if len(sub.AddOns) != 0 {
				t.Errorf("add-ons %+v, want none", sub.AddOns)
			}
			if err := tx.SetSubscriptionAddOns(sub.ID, nil, t0); err != nil { // none over none
				return err
			}
			// Not read again: a row added behind the store's back is not seen.
			if err := tx.exec(`INSERT INTO subscription_addons (subscription_id, addon_code, quantity, unit_amount, pricing, entitlements, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, sub.ID, "duo", 1, 19_00, "per_seat", "{}", t0); err != nil {
				return err
			}
			if as, err := tx.SubscriptionAddOns(sub.ID); err != nil || len(as) != 0 {
				t.Errorf("second read: %+v, %v; want the first read's none", as, err)
			}
			if err := tx.SetSubscriptionAddOns(sub.ID, []fulfill.SubscriptionAddOn{{Code: "duo", Quantity: 5, UnitAmount: 19_00,
				Pricing: "per_seat"}}, t0); err != nil {
				return err
			}
			as, err := tx.SubscriptionAddOns(sub.ID)
			if err != nil || len(as) != 1 || as[0].Quantity != 5 || as[0].Name != "Duo" {
				t.Errorf("after writing them: %+v, %v; want duo × 5, read again", as, err)
			}
			return nil
		})
	})
}
