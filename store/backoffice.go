package store

import (
	"context"
	"database/sql"

	"github.com/fulfillhq/fulfill"
)

// What imports and exports need: the identity of a subscription for
// duplicate checks, and whole-table walks that stream rows instead of
// loading them (the batched lookups and writes are in importbatch.go).

// SubscriptionKey is the identity of a subscription for duplicate checks.
func SubscriptionKey(customerID, plan string, startsOn fulfill.Date) string {
	return customerID + "|" + plan + "|" + startsOn.String()
}

// EachCustomer calls fn for every customer, oldest first, with the external
// id it was imported under ("" if none).
func (db *DB) EachCustomer(ctx context.Context, fn func(c *fulfill.Customer, externalID string) error) error {
	rows, err := db.Read.QueryContext(ctx, `SELECT c.id, c.email, c.name, c.company, c.address, c.city, c.postal_code,
		c.country, c.tax_id, c.currency, c.contact_name, c.contact_email, c.billing_name, c.billing_email, c.credit,
		c.credit_hold, c.created_at, COALESCE(x.external_id, '')
		FROM customers c LEFT JOIN customer_external_ids x ON x.customer_id = c.id ORDER BY c.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ext string
		var c fulfill.Customer
		if err := rows.Scan(&c.ID, &c.Email, &c.Name, &c.Company, &c.Address, &c.City, &c.PostalCode, &c.Country, &c.TaxID,
			&c.Currency, &c.ContactName, &c.ContactEmail, &c.BillingName, &c.BillingEmail, &c.Credit, &c.CreditHold,
			&c.CreatedAt, &ext); err != nil {
			return err
		}
		if err := fn(&c, ext); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachSubscription calls fn for every subscription, oldest first, with its
// customer's email.
func (db *DB) EachSubscription(ctx context.Context, fn func(s *fulfill.Subscription, customerEmail string) error) error {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+subCols+`, c.email`+subFrom+` JOIN customers c ON c.id = s.customer_id ORDER BY s.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s fulfill.Subscription
		var email string
		if err := rows.Scan(&s.ID, &s.CustomerID, &s.PlanID, &s.Plan, &s.PlanVersion, &s.Kind, &s.State, &s.Trial, &s.Seats,
			&s.StartsOn, &s.EndsOn, &s.AutoRenew, &s.Currency, &s.UnitAmount, &s.PaymentMethod, &s.SeatReconciliation,
			&s.Namespace, &s.CancelReason, &s.Version, &s.LicenseID, &s.CreatedAt, &s.UpdatedAt, &email); err != nil {
			return err
		}
		if err := fn(&s, email); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachInvoice calls fn for every invoice, oldest first, without its lines.
func (db *DB) EachInvoice(ctx context.Context, fn func(*fulfill.Invoice) error) error {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+invoiceCols+` FROM invoices ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return err
		}
		if err := fn(inv); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachPayment calls fn for every payment, oldest first, with the customer
// of its invoice.
func (db *DB) EachPayment(ctx context.Context, fn func(p *fulfill.Payment, customerID string) error) error {
	rows, err := db.Read.QueryContext(ctx, `SELECT p.id, p.invoice_id, p.provider, p.provider_ref, p.amount, p.currency,
		p.status, p.failure_code, p.created_at, i.customer_id
		FROM payments p JOIN invoices i ON i.id = p.invoice_id ORDER BY p.created_at, p.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p fulfill.Payment
		var cid string
		var failure sql.NullString
		if err := rows.Scan(&p.ID, &p.InvoiceID, &p.Provider, &p.ProviderRef, &p.Amount, &p.Currency, &p.Status, &failure,
			&p.CreatedAt, &cid); err != nil {
			return err
		}
		p.FailureCode = failure.String
		if err := fn(&p, cid); err != nil {
			return err
		}
	}
	return rows.Err()
}
