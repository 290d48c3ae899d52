package commerce

import (
	"context"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// ProviderEvent is a payment provider's notification, already verified.
type ProviderEvent struct {
	Provider  string
	ID        string
	Type      string // e.g. payment_intent.succeeded
	InvoiceID string // from the payment's metadata
	Ref       string // the provider's payment id
	Amount    int64
}

// ApplyProviderEvent applies a provider event once, in any order: a payment
// that succeeded pays its invoice unless that payment is recorded already;
// anything else is recorded and otherwise ignored.
func (s *Service) ApplyProviderEvent(ctx context.Context, ev ProviderEvent) (string, error) {
	outcome := "ignored"
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if ev.Type == "payment_intent.succeeded" && ev.InvoiceID != "" {
			outcome = "paid"
			inv, err := tx.Invoice(ev.InvoiceID)
			switch {
			case fulfill.ErrorCode(err) == fulfill.ENotFound:
				outcome = "unknown invoice"
			case err != nil:
				return err
			default:
				known, err := tx.PaymentByRef(ev.Provider, ev.Ref)
				if err != nil {
					return err
				}
				if known || inv.Status != fulfill.InvoiceOpen || store.DueOf(inv) == 0 {
					outcome = "already recorded"
					break
				}
				fresh, err := tx.RecordProviderEvent(ev.Provider, ev.ID, ev.Type, outcome, s.now())
				if err != nil || !fresh {
					outcome = "duplicate"
					return err
				}
				cust, err := tx.Customer(inv.CustomerID)
				if err != nil {
					return err
				}
				return s.recordPayment(tx, cust, inv, ev.Amount, ev.Provider, ev.Ref, store.AccountCash)
			}
		}
		fresh, err := tx.RecordProviderEvent(ev.Provider, ev.ID, ev.Type, outcome, s.now())
		if err == nil && !fresh {
			outcome = "duplicate"
		}
		return err
	})
	return outcome, err
}
