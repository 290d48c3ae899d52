package store

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

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

// A seat link reads its subscription and the instance in one query: the
// instance is nil when the subscription has none by that id (also when
// another subscription has), and comes whole, deactivated or not, beside
// every add-on of the subscription.
func TestSubscriptionAndInstanceAreReadInOneQuery(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_si", "sub_si")
		subscribed(t, db, "cus_other", "sub_other")
		n := func(v int64) *int64 { return &v }
		inTx(t, db, func(tx *Tx) error {
			for _, code := range []string{"a1", "a2"} {
				if err := tx.InsertAddOn(&fulfill.AddOn{Code: code, Name: "Add-on " + code, Pricing: "per_unit", Kinds: []string{"self_managed"},
					Prices: map[string]int64{"USD": 1_00}}, t0); err != nil {
					return err
				}
			}
			if err := tx.SetSubscriptionAddOns("sub_si", []fulfill.SubscriptionAddOn{{Code: "a1", Quantity: 1, Pricing: "per_unit"},
				{Code: "a2", Quantity: 2, Pricing: "per_unit"}}, t0); err != nil {
				return err
			}
			if err := tx.SyncInstance("sub_si", "gl-live", "live.example", "18.1", t0, n(9), n(8), InstanceSync{UniqueInstanceID: "u-live",
				AddOnMetrics: `[{"add_on_type":"duo_pro","purchased_seats":3,"assigned_seats":2}]`}); err != nil {
				return err
			}
			if err := tx.SyncInstance("sub_si", "gl-off", "off.example", "18.0", t0, nil, nil, InstanceSync{}); err != nil {
				return err
			}
			if err := tx.SetInstanceDeactivated("sub_si", "gl-off", t0.Add(time.Hour)); err != nil {
				return err
			}
			return tx.SyncInstance("sub_other", "gl-theirs", "theirs.example", "18.0", t0, nil, nil, InstanceSync{})
		})
		read := func(id, instanceID string) (*fulfill.Subscription, *fulfill.Instance, int64) {
			t.Helper()
			var s *fulfill.Subscription
			var in *fulfill.Instance
			before := db.WriteRoundTrips()
			inTx(t, db, func(tx *Tx) (err error) {
				s, in, err = tx.SubscriptionAndInstance(id, instanceID)
				return err
			})
			return s, in, db.WriteRoundTrips() - before
		}
		s, live, calls := read("sub_si", "gl-live")
		if calls != 1 {
			t.Errorf("read in %d calls, want 1", calls)
		}
		if len(s.AddOns) != 2 || s.AddOns[0].Code != "a1" || s.AddOns[1].Quantity != 2 || s.CustomerID != "cus_si" {
			t.Errorf("subscription read as %+v", s)
		}
		want, err := db.Instances(ctx, "sub_si")
		if err != nil {
			t.Fatal(err)
		}
		var listed *fulfill.Instance
		for _, in := range want {
			if in.InstanceID == "gl-live" {
				listed = in
			}
		}
		got, _ := json.Marshal(live)
		wantJSON, _ := json.Marshal(listed)
		if live == nil || string(got) != string(wantJSON) || live.DeactivatedAt != nil || *live.BillableUsers != 8 || len(live.AddOnMetrics) != 1 {
			t.Errorf("live instance read as %s, want %s", got, wantJSON)
		}
		if _, off, _ := read("sub_si", "gl-off"); off == nil || off.DeactivatedAt == nil || off.Active() || off.MaxUsers != nil {
			t.Errorf("deactivated instance read as %+v", off)
		}
		if _, none, _ := read("sub_si", "gl-theirs"); none != nil {
			t.Errorf("another subscription's instance read as this one's: %+v", none)
		}
		if s, none, _ := read("sub_other", "gl-new"); none != nil || len(s.AddOns) != 0 || s.AddOns == nil {
			t.Errorf("unknown instance of a subscription without add-ons: %+v, %+v", s, none)
		}
		inTx(t, db, func(tx *Tx) error {
			_, _, err := tx.SubscriptionAndInstance("sub_nope", "gl-live")
			wantCode(t, "unknown subscription", err, fulfill.ENotFound)
			return nil
		})
	})
}

// Issue 18: reading one subscription looks up its own rows by index and
// never walks a whole table. The add-ons were joined as a parenthesised
// inner join, which SQLite built in full (every add-on of every
// subscription, with its catalog row) and sorted before it picked the
// subscription's: in a seat link that read was 16% of the CPU, and it grew
// with the book.
func TestSubscriptionReadSearchesItsRowsByIndex(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		args := strings.NewReplacer("$1", "'sub_1'", "$2", "'inst_1'")
		for name, q := range map[string]string{"subscription": subQuery, "subscription and instance": subInstanceQuery} {
			plan := explain(t, ctx, db, args.Replace(q))
			for _, line := range plan {
				if db.Dialect == SQLite && regexp.MustCompile(`\bSCAN\b|TEMP B-TREE`).MatchString(line) ||
					db.Dialect == Postgres && strings.Contains(line, "Seq Scan") {
					t.Errorf("%s: the read walks a table (%s); plan:\n%s", name, strings.TrimSpace(line), strings.Join(plan, "\n"))
				}
			}
		}
	})
}
