package invoicepdf

import (
	"strings"
	"testing"
)

// TestTransferInvoiceCarriesBankDetailsAndReference: an invoice paid by
// transfer prints the seller's bank details and its own number as the
// payment reference; a card-paid one says it is paid and shows no bank.
func TestTransferInvoiceCarriesBankDetailsAndReference(t *testing.T) {
	t.Parallel()
	seller := euSeller
	seller.Bank = "IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP, Crédit Agricole"
	doc := reverseChargeEU()
	doc.Seller = seller
	doc.PaymentTerms = HowToPay(seller, doc.Invoice)
	text := strings.Join(strings.Fields(pageText(t, renderPlain(t, doc))), " ")
	for _, want := range []string{"IBAN FR76 3000 6000 0112 3456 7890 189", "BIC AGRIFRPP", "Payment reference: F-2025-0107",
		"by 10 Jul 2025"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF lacks %q:\n%s", want, text)
		}
	}
	card := paidUS()
	card.Seller = seller
	if got := HowToPay(seller, card.Invoice); got != "Paid by card." {
		t.Errorf("card invoice: %q", got)
	}
	doc.Invoice.DueOn = doc.Invoice.IssuedOn
	if got := HowToPay(Party{}, doc.Invoice); got != "Payable by bank transfer on receipt. Payment reference: F-2025-0107." {
		t.Errorf("due on issue, no bank configured: %q", got)
	}
}
