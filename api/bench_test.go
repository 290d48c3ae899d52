package api_test

import (
	"context"
	"testing"

	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// BenchmarkPurchase measures one self-managed purchase by card: the
// subscription, invoice, payment, ledger postings, license, email, events and
// their jobs, in atomic phases (intent, charge, outcome).
func BenchmarkPurchase(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			url := dbtest.SQLiteURL(b)
			if engine == "postgres" {
				url = dbtest.PostgresURL(b)
			}
			e := newEnv(b, url, "2026-01-01")
			c, err := e.svc.CreateCustomer(context.Background(), commerce.CustomerInput{Email: "bench@example.com", Name: "B", Country: "US"})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.svc.Purchase(context.Background(), "bench", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium",
					Seats: 10, PaymentMethod: "pm_card_visa"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
