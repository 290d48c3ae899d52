package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

// Payment terms from the portal and the console (commerce.UpdatePaymentTerms
// owns the change and its audit entry). A customer sets the PO number and
// the extra billing recipients of their account; staff (admins) also set
// the payment terms and whether a PO number is required.

func (s *Server) termsRoutes(handle func(string, access, handlerFunc)) {
	handle("POST /account/{id}/billing_terms", customer, s.accountBillingTerms)
	handle("POST /admin/customers/{id}/payment_terms", adminRole, s.adminPaymentTerms)
}

// recipients reads the extra billing recipients field: addresses separated
// by commas, spaces or lines.
func recipients(v string) []string {
	return append([]string{}, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' || r == ' ' })...)
}

func (s *Server) accountBillingTerms(w http.ResponseWriter, r *http.Request) error {
	c, err := s.ownCustomer(r)
	if err != nil {
		return err
	}
	po := r.PostForm.Get("po_number")
	in := commerce.PaymentTermsInput{PONumber: &po, BillingCC: recipients(r.PostForm.Get("billing_cc"))}
	if _, err := s.svc.UpdatePaymentTerms(r.Context(), actor(r), clientIP(r), c.ID, in); err != nil {
		return s.accountFail(w, r, c, "terms", err, false)
	}
	return s.flashRedirect(w, r, "/account/"+c.ID, "The PO number and billing recipients are saved.")
}

func (s *Server) adminPaymentTerms(w http.ResponseWriter, r *http.Request) error {
	days, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("payment_terms_days")))
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "payment_terms_days", "Payment terms are a whole number of days (0: due on issue).")
	}
	po, required := r.PostForm.Get("po_number"), r.PostForm.Get("po_required") == "on"
	in := commerce.PaymentTermsInput{TermsDays: &days, PONumber: &po, PORequired: &required, BillingCC: recipients(r.PostForm.Get("billing_cc"))}
	c, err := s.svc.UpdatePaymentTerms(r.Context(), actor(r), clientIP(r), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/customers/"+c.ID, fmt.Sprintf("Payment terms saved: net %d.", c.TermsDays))
}
