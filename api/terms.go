package api

import (
	"net/http"

	"github.com/fulfillhq/fulfill/commerce"
)

func (s *Server) termsRoutes() []route {
	return []route{
		{"POST", "/api/v1/customers/{id}/payment_terms", true, false, s.paymentTerms},
	}
}

type paymentTermsRequest struct {
	TermsDays  *int     `json:"payment_terms_days"`
	PONumber   *string  `json:"po_number"`
	PORequired *bool    `json:"po_required"`
	BillingCC  []string `json:"billing_cc"`
}

// paymentTerms sets a billing account's payment terms, PO number and extra
// billing recipients; a field left out stays as it is.
func (s *Server) paymentTerms(w http.ResponseWriter, r *http.Request) error {
	var req paymentTermsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	c, err := s.Svc.UpdatePaymentTerms(r.Context(), actor(r), remote(r), r.PathValue("id"), commerce.PaymentTermsInput{
		TermsDays: req.TermsDays, PONumber: req.PONumber, PORequired: req.PORequired, BillingCC: req.BillingCC})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}
