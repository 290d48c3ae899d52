package store

import (
	"slices"
	"strings"

	"github.com/fulfillhq/fulfill"
)

// PaymentAttemptAndCustomer returns an attempt and its customer, both
// locked for update (the attempt as PaymentAttempt locks it, the customer
// as Customer does), in one statement: the first reads of a payment's
// phase 3, one round trip on PostgreSQL instead of two.
func (t *Tx) PaymentAttemptAndCustomer(id string) (*PaymentAttempt, *fulfill.Customer, error) {
	row := t.tx.QueryRowContext(t.ctx, `SELECT `+attemptAndCustomerCols+` FROM payment_attempts a
		JOIN customers c ON c.id = a.customer_id WHERE a.id = $1`+t.lock(" FOR UPDATE OF a, c"), id)
	a, c, err := scanPair(row, scanAttempt, scanCustomer)
	if err != nil {
		// The customer is the attempt's foreign key: no row is no attempt.
		return nil, nil, mapErr(err, "Payment attempt")
	}
	return a, c, nil
}

// attemptAndCustomerCols are attemptCols of a, then customerCols of c.
var attemptAndCustomerCols = qualify("a.", attemptCols) + ", " + qualify("c.", customerCols)

// qualify prefixes each column of the list cols with prefix.
func qualify(prefix, cols string) string {
	names := strings.Split(cols, ",")
	for i, n := range names {
		names[i] = prefix + strings.TrimSpace(n)
	}
	return strings.Join(names, ", ")
}

// scanner is one row to scan.
type scanner = interface{ Scan(...any) error }

// deferredScan hands the destinations of a Scan to then.
type deferredScan func(dest []any) error

func (d deferredScan) Scan(dest ...any) error { return d(dest) }

// scanPair scans a row holding first's columns and then second's with the
// two scan functions, each doing what it does after its Scan as it would
// alone.
func scanPair[A, B any](row scanner, first func(scanner) (A, error), second func(scanner) (B, error)) (A, B, error) {
	var b B
	a, err := first(deferredScan(func(destA []any) error {
		var err error
		b, err = second(deferredScan(func(destB []any) error { return row.Scan(slices.Concat(destA, destB)...) }))
		return err
	}))
	return a, b, err
}
