package api

import (
	"net/http"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

// addOnRoutes are the catalog's add-ons and a subscription's add-on
// quantities (issue 13).
func (s *Server) addOnRoutes() []route {
	return []route{
		{"POST", "/api/v1/add_ons", true, true, s.createAddOn},
		{"POST", "/api/v1/subscriptions/{id}/add_ons/preview", true, false, s.previewAddOn},
		{"POST", "/api/v1/subscriptions/{id}/add_ons", true, true, s.setAddOn},
	}
}

type addOnRequest struct {
	Code         string                `json:"code"`
	Name         string                `json:"name"`
	Pricing      string                `json:"pricing"`
	Kinds        []string              `json:"kinds"`
	Prices       map[string]int64      `json:"prices"`
	Entitlements *fulfill.Entitlements `json:"entitlements"`
}

func (s *Server) createAddOn(w http.ResponseWriter, r *http.Request) error {
	var req addOnRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in := commerce.AddOnInput{Code: req.Code, Name: req.Name, Pricing: req.Pricing, Kinds: req.Kinds, Prices: req.Prices}
	if req.Entitlements != nil {
		in.Entitlements = *req.Entitlements
	}
	a, err := s.Svc.CreateAddOn(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, a)
}

type subscriptionAddOnRequest struct {
	AddOn    string `json:"add_on"`
	Quantity *int64 `json:"quantity"`
}

func (s *Server) subscriptionAddOn(w http.ResponseWriter, r *http.Request, preview bool) error {
	var req subscriptionAddOnRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Quantity == nil {
		return fulfill.FieldError(fulfill.ERequired, "quantity", "quantity (the add-on's new total) is required.")
	}
	if !preview {
		answerAs(r, http.StatusOK, func(res *commerce.ChangeResult) any { return res })
	}
	pv, res, err := s.Svc.SetAddOn(r.Context(), actor(r), r.PathValue("id"), req.AddOn, *req.Quantity, preview)
	if err != nil {
		return err
	}
	if preview {
		return writeJSON(w, http.StatusOK, pv)
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) previewAddOn(w http.ResponseWriter, r *http.Request) error {
	return s.subscriptionAddOn(w, r, true)
}

func (s *Server) setAddOn(w http.ResponseWriter, r *http.Request) error {
	return s.subscriptionAddOn(w, r, false)
}
