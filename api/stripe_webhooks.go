package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

// ProviderWebhook verifies a payment provider's webhook request and reads
// the event in it. cmd wires the Stripe one.
type ProviderWebhook interface {
	// Verify checks the signature over the raw body and returns the event.
	Verify(body []byte, header http.Header) (*commerce.ProviderEvent, error)
}

// MaxWebhookBody bounds an inbound webhook.
const MaxWebhookBody = 256 << 10

// stripeWebhook receives Stripe's events: the signature is checked over the
// raw body, and each event is applied once, in any order.
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	if s.StripeWebhook == nil {
		s.Error(w, r, fulfill.Errorf(fulfill.ENotFound, "Stripe webhooks are not configured on this server."))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		s.Error(w, r, fulfill.Errorf(fulfill.ETooLarge, "The webhook body is larger than %d bytes.", MaxWebhookBody))
		return
	}
	ev, err := s.StripeWebhook.Verify(body, r.Header)
	if err != nil {
		var fe *fulfill.Error
		if !errors.As(err, &fe) {
			fe = fulfill.Errorf(fulfill.ESignatureInvalid, "%v", err)
		}
		s.Error(w, r, fe)
		return
	}
	outcome, err := s.Svc.ApplyProviderEvent(r.Context(), *ev)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"id": ev.ID, "outcome": outcome})
}
