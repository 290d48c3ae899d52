package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
)

// What PrefetchRenewals read is answered once, by the transaction, without
// a statement; a write of the row is seen by the next read, which goes to
// the database again.
func TestPrefetchedRenewalReadsAreAnsweredOnceAndForgottenOnWrite(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_pre1", "sub_pre1")
		subscribed(t, db, "cus_pre2", "sub_pre2")
		// Reports before, in and after the term (2026-03-01 to 2027-03-01).
		for i, r := range []struct {
			day       fulfill.Date
			max, bill int64
			src       string
		}{{fulfill.NewDate(2026, 2, 27), 90, 80, "vendor"}, {fulfill.NewDate(2026, 3, 1), 12, 11, "vendor"},
			{fulfill.NewDate(2026, 9, 1), 15, 9, "vendor"}, {fulfill.NewDate(2026, 9, 1), 14, 13, "probe"},
			{fulfill.NewDate(2027, 3, 1), 99, 7, "vendor"}} {
			inTx(t, db, func(tx *Tx) error {
				return tx.UpsertSeatReport(&fulfill.SeatReport{SubscriptionID: "sub_pre1", Date: r.day, MaxUsers: r.max,
					BillableUsers: r.bill, Source: r.src, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
			})
		}
		var want [2]SeatUsage
		inTx(t, db, func(tx *Tx) error {
			for i, id := range []string{"sub_pre1", "sub_pre2"} {
				u, err := tx.SeatUsage(id, fulfill.NewDate(2026, 3, 1), fulfill.NewDate(2027, 3, 1))
				if err != nil {
					return err
				}
				want[i] = u
			}
			return nil
		})
		if want[0].Reports != 3 || want[0].MaxUsers != 15 {
			t.Fatalf("seat usage read one by one: %+v", want[0])
		}
		inTx(t, db, func(tx *Tx) error {
			if err := tx.PrefetchRenewals([]string{"sub_pre2", "sub_pre1"}); err != nil {
				return err
			}
			for i, id := range []string{"sub_pre1", "sub_pre2"} {
				if u, err := tx.SeatUsage(id, fulfill.NewDate(2026, 3, 1), fulfill.NewDate(2027, 3, 1)); err != nil || u != want[i] {
					t.Errorf("%s: seat usage read ahead %+v, %v; read one by one %+v", id, u, err, want[i])
				}
			}
			return nil
		})
		inTx(t, db, func(tx *Tx) error {
			if err := tx.PrefetchRenewals([]string{"sub_pre1", "sub_pre2", "sub_missing"}); err != nil {
				return err
			}
			before := db.WriteRoundTrips()
			sub, err := tx.Subscription("sub_pre1")
			if err != nil {
				return err
			}
			if _, err := tx.Customer(sub.CustomerID); err != nil {
				return err
			}
			if _, err := tx.SubscriptionTerms(sub.ID); err != nil {
				return err
			}
			if _, err := tx.PendingPaymentFor(sub.ID); err != nil {
				return err
			}
			if _, err := tx.SeatUsage(sub.ID, sub.StartsOn, sub.EndsOn); err != nil {
				return err
			}
			if n := db.WriteRoundTrips() - before; n != 0 {
				t.Errorf("%s: reads read ahead made %d calls to the database, want none", db.Dialect, n)
			}
			if sub.ID != "sub_pre1" || sub.Seats != 10 || sub.CustomerID != "cus_pre1" {
				t.Errorf("read ahead: %+v", sub)
			}
			sub.Seats = 77
			if err := tx.UpdateSubscription(sub, Change{Action: "change", Actor: "test", At: t0}); err != nil {
				return err
			}
			again, err := tx.Subscription("sub_pre1")
			if err != nil {
				return err
			}
			if again.Seats != 77 {
				t.Errorf("after the write the read gave %d seats, want the 77 written", again.Seats)
			}
			if err := tx.SetCustomerCredit("cus_pre2", 500); err != nil {
				return err
			}
			c, err := tx.Customer("cus_pre2")
			if err != nil {
				return err
			}
			if c.Credit != 500 {
				t.Errorf("after the write the customer has %d credit, want the 500 written", c.Credit)
			}
			if _, err := tx.Subscription("sub_missing"); fulfill.ErrorCode(err) != fulfill.ENotFound {
				t.Errorf("a subscription that does not exist: %v, want not found", err)
			}
			return nil
		})
	})
}

// A customer with two subscriptions in the batch is read ahead too, and
// answered to each of their renewals with what the transaction wrote of it
// before (the first renewal changes its credit before the second reads
// it), without a statement: on PostgreSQL a read between the batch's
// writes would send them, and take its invoice numbers before its commit.
// Any other write of it makes the next read go to the database.
func TestPrefetchKeepsACustomerOfTwoSubscriptionsInTheBatchUpToDate(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_two", "sub_two1")
		s := testSub("sub_two2", "cus_two", "pln_sub_two1")
		inTx(t, db, func(tx *Tx) error { return tx.InsertSubscription(s, Change{Action: "create", Actor: "test", At: t0}) })
		inTx(t, db, func(tx *Tx) error {
			if err := tx.PrefetchRenewals([]string{"sub_two1", "sub_two2"}); err != nil {
				return err
			}
			before := db.WriteRoundTrips()
			c, err := tx.Customer("cus_two")
			if err != nil {
				return err
			}
			if err := tx.SetCustomerCredit(c.ID, c.Credit+100); err != nil {
				return err
			}
			if err := tx.SetCreditHold(c.ID, true); err != nil {
				return err
			}
			c2, err := tx.Customer("cus_two")
			if err != nil || c2.Credit != c.Credit+100 || !c2.CreditHold {
				t.Errorf("the second read: %+v, %v; want the credit and hold written", c2, err)
			}
			c2.Credit = -1 // a caller's change of its copy is not what was written
			if c3, err := tx.Customer("cus_two"); err != nil || c3.Credit != c.Credit+100 {
				t.Errorf("the third read: %+v, %v; want the credit written", c3, err)
			}
			if n := db.WriteRoundTrips() - before; db.Dialect == Postgres && n != 0 {
				t.Errorf("reads and writes of the customer read ahead made %d calls, want none (the writes are kept)", n)
			}
			c.Name = "Renamed"
			if err := tx.UpdateCustomer(c); err != nil {
				return err
			}
			c4, err := tx.Customer("cus_two")
			if err != nil || c4.Name != "Renamed" || c4.Credit != c.Credit+100 {
				t.Errorf("after another write: %+v, %v; want it read again", c4, err)
			}
			return err
		})
		c, err := db.Customer(ctx, "cus_two")
		if err != nil || c.Credit != 100 || !c.CreditHold || c.Name != "Renamed" {
			t.Errorf("committed: %+v, %v", c, err)
		}
	})
}

// A transaction that keeps hundreds of statements (a billing run's batch)
// sends them together; they all commit, in order, and one that fails there
// fails the transaction with its error, leaving nothing.
func TestStatementsSentAheadCommitInOrderOrFailTheirTransaction(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_ahead", "sub_ahead")
		const n = 3*256 + 7
		audit := func(tx *Tx, i int) error {
			return tx.Audit(&fulfill.AuditEntry{ID: fmt.Sprintf("aud_ahead_%04d", i), At: t0, Actor: "test", Action: "test.ahead",
				SubjectType: "subscription", SubjectID: "sub_ahead", Detail: "{}"})
		}
		inTx(t, db, func(tx *Tx) error {
			sub, err := tx.Subscription("sub_ahead")
			if err != nil {
				return err
			}
			for i := range n {
				if err := audit(tx, i); err != nil {
					return err
				}
				sub.Seats = int64(i + 1)
				if err := tx.UpdateSubscription(sub, Change{Action: "change", Actor: "test", At: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		sub, err := db.Subscription(ctx, "sub_ahead")
		if err != nil || sub.Seats != n {
			t.Fatalf("after the commit: %+v, %v; want the last of %d updates", sub, err, n)
		}
		log, err := db.AuditLog(ctx, "subscription", "sub_ahead", fulfill.Page{Limit: 2 * n})
		if err != nil || len(log) != n {
			t.Fatalf("audit log: %d entries, %v; want %d", len(log), err, n)
		}
		// The same audit ids again, in a lot sent ahead: the transaction fails.
		err = db.InTx(ctx, func(tx *Tx) error {
			sub, err := tx.Subscription("sub_ahead")
			if err != nil {
				return err
			}
			sub.Seats = 1000
			if err := tx.UpdateSubscription(sub, Change{Action: "change", Actor: "test", At: t0}); err != nil {
				return err
			}
			for i := range n {
				if err := audit(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "unique") && !strings.Contains(err.Error(), "duplicate") {
			t.Fatalf("the transaction returned %v; want the duplicate audit id", err)
		}
		if sub, _ := db.Subscription(ctx, "sub_ahead"); sub.Seats != n {
			t.Errorf("the failed transaction left %d seats, want the %d before it", sub.Seats, n)
		}
	})
}

// An event's document is exactly what json.Marshal of the event gives,
// whatever its data holds (HTML, line separators, nested values).
func TestEventDocumentIsTheEventMarshalled(t *testing.T) {
	t.Parallel()
	cust := "cus_<doc>&"
	for _, data := range []any{
		map[string]any{"html": "<b>&amp;</b>", "sep": "a\u2028b\u2029c", "n": 12, "nested": []any{1, "x", nil, map[string]any{"k": true}}},
		nil, "plain", 42, []string{},
		&fulfill.Invoice{ID: "inv_1", Number: "INV-000001", Total: 100, Lines: []fulfill.InvoiceLine{{Description: "Seats <10>"}}},
	} {
		e, args, err := newEvent("test.doc", "sub_<1>", &cust, data, t0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := args[4].(string); got != string(want) {
			t.Errorf("document of %#v:\n got %s\nwant %s", data, got, want)
		}
	}
}
