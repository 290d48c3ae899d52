package store

import (
	"fmt"

	"github.com/fulfillhq/fulfill"
)

// InvoicesForRecognition reads the invoices of ids for revenue recognition
// in one query: without their lines, which recognition does not need, and
// locked for the transaction on PostgreSQL (in id order, so two batches
// never wait on each other in a cycle). Reading them one by one cost two
// round trips an invoice.
func (t *Tx) InvoicesForRecognition(ids []string) ([]*fulfill.Invoice, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q, args := t.byKeys(`SELECT `+invoiceCols+` FROM invoices`, "id", ids)
	invs, err := queryAll(t.ctx, t.tx, scanInvoice, q+` ORDER BY id`+t.lock(" FOR UPDATE"), args...)
	if err != nil {
		return nil, fmt.Errorf("invoices for recognition: %w", err)
	}
	return invs, nil
}

// SetRecognized records how much of an invoice's net revenue is
// recognised; on PostgreSQL it goes with the transaction's other queued
// writes (execLater).
func (t *Tx) SetRecognized(id string, recognized int64) error {
	return t.execLater(`UPDATE invoices SET recognized = $1 WHERE id = $2`, recognized, id)
}
