// Package backoffice connects Fulfill to the systems behind it: CSV exports
// of customers, subscriptions, invoices and payments for the ERP and the
// accountants, and the CRM adapter that receives every business event.
//
// Exports stream: rows go to the writer as the database returns them. Money
// is an integer count of the currency's minor unit next to its ISO 4217
// code; dates are YYYY-MM-DD and times RFC 3339 in UTC.
package backoffice

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/csvsafe"
	"github.com/fulfillhq/fulfill/store"
)

// Exports names what can be exported, in the order the docs list them.
var Exports = []string{"customers", "subscriptions", "invoices", "payments"}

// Columns are the header of each export. The first ten customer columns
// are those of an import file, so an export can be imported elsewhere.
var Columns = map[string][]string{
	"customers": {"email", "name", "company", "address", "city", "postal_code", "country", "tax_id", "currency", "external_id",
		"id", "credit_balance", "credit_hold", "created_at"},
	"subscriptions": {"customer_email", "plan", "seats", "starts_on", "ends_on", "auto_renew", "state", "seat_reconciliation",
		"namespace", "id", "customer_id", "plan_version", "kind", "trial", "currency", "unit_amount", "payment_method",
		"license_id", "created_at"},
	"invoices": {"id", "number", "customer_id", "subscription_id", "status", "currency", "subtotal", "tax", "total",
		"amount_paid", "amount_credited", "amount_refunded", "amount_due", "period_start", "period_end", "issued_on",
		"due_on", "paid_at", "payment_method", "tax_rate_basis_points", "reverse_charge", "created_at"},
	"payments": {"id", "invoice_id", "customer_id", "provider", "provider_ref", "amount", "currency", "status",
		"failure_code", "created_at"},
}

// Export writes one export as CSV. An unknown name is a not-found error.
func Export(ctx context.Context, db *store.DB, name string, w io.Writer) error {
	cols, ok := Columns[name]
	if !ok {
		return fulfill.Errorf(fulfill.ENotFound, "No export %q: there are customers, subscriptions, invoices and payments.", name)
	}
	cw := csvsafe.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	var err error
	switch name {
	case "customers":
		err = db.EachCustomer(ctx, func(c *fulfill.Customer, ext string) error {
			return cw.Write([]string{c.Email, c.Name, c.Company, c.Address, c.City, c.PostalCode, c.Country, c.TaxID,
				c.Currency, ext, c.ID, itoa(c.Credit), btoa(c.CreditHold), ts(c.CreatedAt)})
		})
	case "subscriptions":
		err = db.EachSubscription(ctx, func(s *fulfill.Subscription, email string) error {
			return cw.Write([]string{email, s.Plan, itoa(s.Seats), s.StartsOn.String(), s.EndsOn.String(), btoa(s.AutoRenew),
				s.State, btoa(s.SeatReconciliation), s.Namespace, s.ID, s.CustomerID, strconv.Itoa(s.PlanVersion), s.Kind,
				btoa(s.Trial), s.Currency, itoa(s.UnitAmount), s.PaymentMethod, deref(s.LicenseID), ts(s.CreatedAt)})
		})
	case "invoices":
		err = db.EachInvoice(ctx, func(i *fulfill.Invoice) error {
			paid := ""
			if i.PaidAt != nil {
				paid = ts(*i.PaidAt)
			}
			return cw.Write([]string{i.ID, i.Number, i.CustomerID, deref(i.SubscriptionID), i.Status, i.Currency,
				itoa(i.Subtotal), itoa(i.Tax), itoa(i.Total), itoa(i.AmountPaid), itoa(i.AmountCredited),
				itoa(i.AmountRefunded), itoa(i.AmountDue), i.PeriodStart.String(), i.PeriodEnd.String(), i.IssuedOn.String(),
				i.DueOn.String(), paid, i.PaymentMethod, itoa(i.TaxRateBP), btoa(i.ReverseCharge), ts(i.CreatedAt)})
		})
	case "payments":
		err = db.EachPayment(ctx, func(p *fulfill.Payment, customerID string) error {
			return cw.Write([]string{p.ID, p.InvoiceID, customerID, p.Provider, p.ProviderRef, itoa(p.Amount), p.Currency,
				p.Status, p.FailureCode, ts(p.CreatedAt)})
		})
	}
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
func btoa(b bool) string  { return strconv.FormatBool(b) }
func ts(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
