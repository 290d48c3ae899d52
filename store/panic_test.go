package store

import (
	"context"
	"testing"
	"time"
)

// TestPanicInATransactionGivesItsConnectionBack: a use case that panics in
// its transaction (a bug, recovered further up, by net/http for one) leaves
// the database usable. Before, on SQLite the transaction kept the only
// write connection, and on PostgreSQL closing its connection waited for
// ever, so the panic never even reached the caller.
func TestPanicInATransactionGivesItsConnectionBack(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_1")
		done := make(chan any, 1)
		go func() {
			defer func() { done <- recover() }()
			_ = db.InTx(context.Background(), func(tx *Tx) error {
				if err := tx.exec(`UPDATE customers SET name = 'Changed' WHERE id = $1`, "cus_1"); err != nil {
					return err
				}
				var s []int
				_ = s[len(s)] // a bug: index out of range
				return nil
			})
		}()
		select {
		case p := <-done:
			if p == nil {
				t.Fatal("the panic did not reach the caller")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the panicking transaction never returned (its connection's Close waits)")
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := db.InTx(wctx, func(tx *Tx) error {
			return tx.exec(`UPDATE customers SET company = 'Next' WHERE id = $1`, "cus_1")
		}); err != nil {
			t.Fatalf("the next write transaction: %v", err)
		}
		got, err := db.Customer(ctx, "cus_1")
		if err != nil || got.Name == "Changed" || got.Company != "Next" {
			t.Fatalf("after the panic: %+v, %v (the panicking change must be rolled back)", got, err)
		}
	})
}
