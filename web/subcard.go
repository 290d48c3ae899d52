package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/httpstatus"
)

// renewalCard names the card a subscription's renewals are charged to, as
// the billing account saved it ("Visa •••• 4242"); "" when it is paid by
// invoice.
func (s *Server) renewalCard(r *http.Request, sub *fulfill.Subscription) (string, error) {
	if sub.PaymentMethod == "" || sub.PaymentMethod == commerce.PayByInvoice {
		return "", nil
	}
	pms, err := s.db.PaymentMethods(r.Context(), sub.CustomerID)
	if err != nil {
		return "", err
	}
	for _, pm := range pms {
		if pm.ProviderID == sub.PaymentMethod {
			return pm.Label, nil
		}
	}
	return commerce.CardLabel(sub.PaymentMethod), nil
}

// declinedCard words a card the provider declined for the review page,
// where the buyer chooses another card in place: the error names the card
// field, and everything else entered (the EULA tick included) is kept.
func declinedCard(err error) error {
	var fe *fulfill.Error
	if !errors.As(err, &fe) || httpstatus.Of(fe.Code) != http.StatusPaymentRequired {
		return err
	}
	return fulfill.FieldError(fe.Code, "card", "%s Choose another card below and pay again, or change the order to pay by invoice.", strings.TrimSpace(fe.Message))
}

// reviewCards are the cards the review page offers: the chosen account's
// saved cards first, then the test cards.
func (s *Server) reviewCards(r *http.Request, d *buyData) error {
	if d.Account == nil || d.StripeKey != "" {
		return nil
	}
	cards, err := s.cardChoices(r, d.Account.ID)
	if err != nil {
		return err
	}
	d.Cards = cards
	return nil
}
