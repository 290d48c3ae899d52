package web_test

import (
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// TestInvoicePageShowsBankDetailsAndReference: the page of an invoice paid
// by transfer tells where to pay (the seller's configured bank) and what
// reference to quote (the invoice number).
func TestInvoicePageShowsBankDetailsAndReference(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl, func(c *web.Config) { c.Seller.Bank = "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX, Commerzbank" })
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		inv := e.invoices(sub.CustomerID)[0]
		r := a.get("/invoices/"+inv.ID).must(t, 200)
		contains(t, r.body, "Bank details: IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX, Commerzbank.",
			"Payment reference: "+inv.Number+".", "Payable by bank transfer by "+inv.DueOn.Time().Format("2 Jan 2006"))
	})
}
