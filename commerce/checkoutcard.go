package commerce

import (
	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// cardLabels name the payment provider's test cards as a buyer sees them.
var cardLabels = map[string]string{
	"pm_card_visa":       "Visa •••• 4242",
	"pm_card_visa_debit": "Visa debit •••• 5556",
	"pm_card_mastercard": "Mastercard •••• 4444",
	"pm_card_amex":       "American Express •••• 8431",
	"pm_card_discover":   "Discover •••• 9424",
}

// CardLabel names a card for the buyer ("Visa •••• 4242"); a card the
// provider does not describe is "Card".
func CardLabel(providerID string) string {
	if l, ok := cardLabels[providerID]; ok {
		return l
	}
	return "Card"
}

// saveCheckoutCard keeps the card a purchase was paid with on the billing
// account, in the purchase's transaction: the default card when the account
// has none, so that the account page shows the card renewals are charged
// to. A card already saved is left as it is.
func (s *Service) saveCheckoutCard(tx *store.Tx, actor Actor, cust *fulfill.Customer, card string) error {
	if card == "" || card == PayByInvoice {
		return nil
	}
	pms, err := tx.PaymentMethods(cust.ID)
	if err != nil {
		return err
	}
	hasDefault := false
	for _, pm := range pms {
		if pm.ProviderID == card {
			return nil
		}
		hasDefault = hasDefault || pm.Default
	}
	pm := &store.PaymentMethod{ID: fulfill.NewID("pm"), CustomerID: cust.ID, ProviderID: card, Label: CardLabel(card),
		Default: !hasDefault, CreatedAt: s.now()}
	if err := tx.InsertPaymentMethod(pm); err != nil {
		return err
	}
	if err := s.queueDescribeCard(tx, pm.ID); err != nil {
		return err
	}
	return s.audit(tx, actor, "payment_method.add", "customer", cust.ID,
		map[string]string{"payment_method": pm.ID, "source": "checkout"}, "")
}
