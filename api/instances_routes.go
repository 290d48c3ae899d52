package api

import (
	"net/http"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
)

// instanceRoutes are the vendor's view of a subscription's instances and
// the staff-issued custom licenses (issue 13).
func (s *Server) instanceRoutes() []route {
	return []route{
		{"GET", "/api/v1/subscriptions/{id}/instances", true, false, s.listInstances},
		{"POST", "/api/v1/instances/{id}/deactivate", true, false, s.deactivateInstance},
		{"POST", "/api/v1/licenses/custom", true, true, s.issueCustomLicense},
	}
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Svc.Instances(r.Context(), "", r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

type deactivateRequest struct {
	// SubscriptionID names the subscription when several know the
	// instance id.
	SubscriptionID string `json:"subscription_id"`
}

func (s *Server) deactivateInstance(w http.ResponseWriter, r *http.Request) error {
	var req deactivateRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	in, err := s.Svc.DeactivateInstance(r.Context(), actor(r), remote(r), commerce.DeactivateInput{InstanceID: r.PathValue("id"),
		SubscriptionID: req.SubscriptionID})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, in)
}

type customLicenseRequest struct {
	CustomerID   string               `json:"customer_id"`
	Plan         string               `json:"plan"`
	Kind         string               `json:"kind"`
	Seats        *int64               `json:"seats"`
	EndsOn       *fulfill.Date        `json:"ends_on"`
	Entitlements fulfill.Entitlements `json:"entitlements"`
	Reason       string               `json:"reason"`
}

func (s *Server) issueCustomLicense(w http.ResponseWriter, r *http.Request) error {
	var req customLicenseRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Seats == nil {
		return fulfill.FieldError(fulfill.ERequired, "seats", "seats is required.")
	}
	in := commerce.CustomLicenseInput{CustomerID: req.CustomerID, Plan: req.Plan, Kind: req.Kind, Seats: *req.Seats,
		Reason: req.Reason, Entitlements: req.Entitlements}
	if req.EndsOn != nil {
		in.EndsOn = *req.EndsOn
	}
	res, err := s.Svc.IssueCustomLicense(r.Context(), actor(r), remote(r), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res)
}
