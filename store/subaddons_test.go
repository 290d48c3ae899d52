package store

import (
	"context"
	"testing"

	"github.com/fulfillhq/fulfill"
)

// Issue 18: a subscription and its add-ons are read in one query, one
// round trip on PostgreSQL, where they were two: every seat link, purchase
// and renewal reads its subscription. The add-ons come in code order with
// their catalog names; a subscription without any has an empty list;
// add-ons written in the transaction are read back in it.
func TestSubscriptionIsReadWithItsAddOnsInOneQuery(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_ao", "sub_ao")
		subscribed(t, db, "cus_none", "sub_none")
		ents, err := fulfill.ParseEntitlements(`{"duo":true,"storage_gb":10}`)
		if err != nil {
			t.Fatal(err)
		}
		inTx(t, db, func(tx *Tx) error {
			for _, a := range []*fulfill.AddOn{{Code: "storage", Name: "Storage", Pricing: "per_unit", Kinds: []string{"self_managed"}, Prices: map[string]int64{"USD": 60_00}},
				{Code: "duo", Name: "Duo Pro", Pricing: "per_seat", Kinds: []string{"self_managed"}, Prices: map[string]int64{"USD": 19_00}}} {
				if err := tx.InsertAddOn(a, t0); err != nil {
					return err
				}
			}
			return tx.SetSubscriptionAddOns("sub_ao", []fulfill.SubscriptionAddOn{
				{Code: "storage", Quantity: 3, UnitAmount: 60_00, Pricing: "per_unit"},
				{Code: "duo", Quantity: 10, UnitAmount: 19_00, Pricing: "per_seat", Entitlements: ents}}, t0)
		})
		check := func(what string, s *fulfill.Subscription, want ...string) {
			t.Helper()
			if s.AddOns == nil {
				t.Errorf("%s: add-ons nil, want a list", what)
			}
			var got []string
			for _, a := range s.AddOns {
				got = append(got, a.Code+"/"+a.Name)
			}
			if !same(got, want) {
				t.Errorf("%s: add-ons %v, want %v", what, got, want)
			}
		}
		for _, lock := range []bool{false, true} {
			var s, none *fulfill.Subscription
			trips := db.WriteRoundTrips()
			if lock {
				inTx(t, db, func(tx *Tx) (err error) {
					if s, err = tx.Subscription("sub_ao"); err != nil {
						return err
					}
					none, err = tx.Subscription("sub_none")
					return err
				})
				if n := db.WriteRoundTrips() - trips; n != 2 {
					t.Errorf("two subscriptions with their add-ons read in %d calls, want 2", n)
				}
			} else {
				if s, err = db.Subscription(ctx, "sub_ao"); err != nil {
					t.Fatal(err)
				}
				if none, err = db.Subscription(ctx, "sub_none"); err != nil {
					t.Fatal(err)
				}
			}
			check("with add-ons", s, "duo/Duo Pro", "storage/Storage")
			check("without add-ons", none)
			if d := s.AddOns[0]; d.Quantity != 10 || d.UnitAmount != 19_00 || d.Pricing != "per_seat" || d.Entitlements.String() != ents.String() ||
				!d.UpdatedAt.Equal(t0) {
				t.Errorf("duo add-on read as %+v", d)
			}
			if s.ID != "sub_ao" || s.CustomerID != "cus_ao" || s.Plan != "plan-sub_ao" {
				t.Errorf("subscription read as %+v", s)
			}
		}
		inTx(t, db, func(tx *Tx) error {
			if _, err := tx.Subscription("sub_ao"); err != nil {
				return err
			}
			if err := tx.SetSubscriptionAddOns("sub_ao", []fulfill.SubscriptionAddOn{{Code: "storage", Quantity: 5, UnitAmount: 60_00, Pricing: "per_unit"}}, t0); err != nil {
				return err
			}
			s, err := tx.Subscription("sub_ao")
			if err != nil {
				return err
			}
			check("after writing in the transaction", s, "storage/Storage")
			if s.AddOns[0].Quantity != 5 {
				t.Errorf("storage quantity %d after writing 5", s.AddOns[0].Quantity)
			}
			return nil
		})
		_, err = db.Subscription(ctx, "sub_nope")
		wantCode(t, "unknown subscription", err, fulfill.ENotFound)
		inTx(t, db, func(tx *Tx) error {
			_, err := tx.Subscription("sub_nope")
			wantCode(t, "unknown subscription in a transaction", err, fulfill.ENotFound)
			return nil
		})
	})
}
