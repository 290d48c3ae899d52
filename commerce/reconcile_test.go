package commerce_test

import (
	"context"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// watchingProvider looks at the database while the provider is called:
// a charge made inside a transaction would see its own invoice missing
// from every other connection.
type watchingProvider struct {
	fulfill.PaymentProvider
	db        *store.DB
	invoiceOK map[string]bool // invoice id → committed when its charge ran
	decline   bool
}

func (p *watchingProvider) Charge(ctx context.Context, req fulfill.ChargeRequest) (fulfill.ChargeResult, error) {
	_, err := p.db.Invoice(ctx, req.InvoiceID)
	p.invoiceOK[req.InvoiceID] = err == nil
	if p.decline {
		req.PaymentMethod = "pm_card_chargeDeclined"
	}
	return p.PaymentProvider.Charge(ctx, req)
}

// The quarterly reconciliation charges the card outside its transaction
// (issue 17): when the provider is called, the invoice that raises the
// seats is already committed; paid, the invoice is paid once; declined, it
// stays open with the failed payment, and the seats are owed.
func TestReconciliationChargesOutsideTheTransaction(t *testing.T) {
	t.Parallel()
	for _, decline := range []bool{false, true} {
		dbtest.ForEach(t, func(t *testing.T, url string) {
			t.Parallel()
			ctx := context.Background()
			env := testenv.New(t, url, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "US")
			watch := &watchingProvider{PaymentProvider: env.Svc.Payments, db: env.DB, invoiceOK: map[string]bool{}}
			env.Svc.Payments = watch
			cust, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "ops@example.com", Name: "Ops", Country: "US"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := env.Svc.Purchase(ctx, commerce.System, commerce.PurchaseInput{CustomerID: cust.ID, Plan: "sm-premium", Seats: 100,
				PaymentMethod: "pm_card_visa", SeatReconciliation: true})
			if err != nil {
				t.Fatal(err)
			}
			sub := res.Subscription.ID
			watch.decline = decline // the card fails from now on
			env.Clock.Set(time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC))
			users := int64(110)
			if _, err := env.Svc.RecordSeatReport(ctx, commerce.SeatReportInput{SubscriptionID: sub, MaxUsers: &users, BillableUsers: &users}); err != nil {
				t.Fatal(err)
			}
			env.Clock.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
			args := commerce.ReconcileArgs{SubscriptionID: sub, QuarterEnd: "2026-04-01", Step: "charge"}
			if err := env.Svc.Reconcile(ctx, args); err != nil {
				t.Fatal(err)
			}
			if err := env.Svc.Reconcile(ctx, args); err != nil { // a job run twice
				t.Fatal(err)
			}
			invs, err := env.DB.Invoices(ctx, "", sub, fulfill.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(invs) != 2 {
				t.Fatalf("%d invoices, want the purchase and one reconciliation", len(invs))
			}
			rec := invs[0]
			if !watch.invoiceOK[rec.ID] {
				t.Fatalf("the provider was called for %s before its invoice was committed: the charge ran inside the transaction", rec.Number)
			}
			pays, err := env.DB.Payments(ctx, rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			want, status := fulfill.InvoicePaid, "succeeded"
			if decline {
				want, status = fulfill.InvoiceOpen, "failed"
			}
			if rec.Status != want || len(pays) != 1 || pays[0].Status != status {
				t.Fatalf("reconciliation invoice %s: %s with payments %+v; want %s with one %s payment", rec.Number, rec.Status, pays, want, status)
			}
			s, err := env.DB.Subscription(ctx, sub)
			if err != nil || s.Seats != 110 {
				t.Fatalf("seats after reconciliation: %v, %v; want 110", s, err)
			}
		})
	}
}
