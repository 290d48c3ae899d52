package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/fulfillhq/fulfill"
)

// Issue 18: phase 3 of a payment reads its attempt and customer in one
// statement; they read back as the two reads alone give them, and an
// unknown attempt is not found.
func TestPaymentAttemptAndCustomerReadTogetherAsAlone(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		cust := testCustomer("cus_pair")
		a := &PaymentAttempt{ID: "pa_pair", Kind: "purchase", State: AttemptPending, CustomerID: cust.ID, SubscriptionID: "sub_pair",
			InvoiceID: "inv_pair", Amount: 1200, Currency: "EUR", PaymentMethod: "pm_card_visa", ProviderKey: "fulfill-inv_pair",
			CreditReserved: 300, Intent: []byte(`{"actor":"test"}`), CreatedAt: t0}
		inTx(t, db, func(tx *Tx) error {
			if err := tx.InsertCustomer(cust); err != nil {
				return err
			}
			return tx.InsertPaymentAttempt(a)
		})
		inTx(t, db, func(tx *Tx) error {
			wantA, err := tx.PaymentAttempt(a.ID)
			if err != nil {
				return err
			}
			wantC, err := tx.Customer(cust.ID)
			if err != nil {
				return err
			}
			gotA, gotC, err := tx.PaymentAttemptAndCustomer(a.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(gotA, wantA) || !reflect.DeepEqual(gotC, wantC) {
				t.Errorf("read together:\n%+v\n%+v\nalone:\n%+v\n%+v", gotA, gotC, wantA, wantC)
			}
			_, _, err = tx.PaymentAttemptAndCustomer("pa_none")
			if fulfill.ErrorCode(err) != fulfill.ENotFound {
				t.Errorf("unknown attempt: %v, want not found", err)
			}
			return nil
		})
	})
}
