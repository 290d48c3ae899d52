package store

import (
	"context"
	"testing"
	"time"
)

// A transaction that numbers its invoices at commit sends the kept writes
// that carry no number, and touch no table that those that do touch, in
// the round trip that takes the numbers, before the counter's UPDATE: the
// counter's row is not locked while they run (here one waits on a row
// another transaction holds), only while what names the numbers does.
func TestWritesWithoutANumberRunBeforeTheNumbersAreTaken(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_early")
		inv := testInvoice("inv_early", "cus_early")
		var release func()
		if db.Dialect == Postgres {
			// Another transaction holds the customer's row.
			holder, err := db.Write.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback()
			if _, err := holder.ExecContext(ctx, `SELECT id FROM customers WHERE id = 'cus_early' FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			release = func() { holder.Rollback() }
		}
		done := make(chan error, 1)
		go func() {
			done <- db.InTx(ctx, func(tx *Tx) error {
				tx.NumberInvoicesAtCommit()
				if err := tx.InsertInvoice(inv); err != nil {
					return err
				}
				return tx.SetCustomerCredit("cus_early", 500)
			})
		}()
		if release != nil {
			// The commit's first round trip waits on the customer's row.
			for waiting := 0; waiting == 0; {
				select {
				case err := <-done:
					t.Fatalf("committed while the customer's row was held: %v", err)
				case <-time.After(5 * time.Millisecond):
				}
				if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()
					AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
			}
			other, err := db.Write.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.ExecContext(ctx, `SELECT value FROM sequences WHERE name = 'invoice' FOR UPDATE NOWAIT`); err != nil {
				t.Errorf("the invoice counter is locked while a write without a number waits: %v", err)
			}
			other.Rollback()
			release()
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, err := db.Invoice(ctx, "inv_early")
		if err != nil || got.Number != "INV-000001" || inv.Number != "INV-000001" {
			t.Errorf("invoice %+v, %v; want INV-000001", got, err)
		}
		if c, err := db.Customer(ctx, "cus_early"); err != nil || c.Credit != 500 {
			t.Errorf("customer %+v, %v; want the credit written", c, err)
		}
	})
}
