package api

import (
	"net/http"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/license"
	"github.com/fulfillhq/fulfill/saas"
	"github.com/fulfillhq/fulfill/store"
)

func (s *Server) webhookRoutes() []route {
	return []route{
		{"GET", "/api/v1/webhook_endpoints", true, false, s.listWebhookEndpoints},
		{"POST", "/api/v1/webhook_endpoints", true, true, s.createWebhookEndpoint},
		{"GET", "/api/v1/webhook_endpoints/{id}", true, false, s.getWebhookEndpoint},
		{"DELETE", "/api/v1/webhook_endpoints/{id}", true, false, s.deleteWebhookEndpoint},
		{"POST", "/api/v1/webhook_endpoints/{id}/rotate_secret", true, false, s.rotateWebhookSecret},
		{"GET", "/api/v1/webhook_endpoints/{id}/deliveries", true, false, s.listWebhookDeliveries},
		{"POST", "/api/v1/webhook_endpoints/{id}/replay", true, false, s.replayWebhooksSince},
		{"POST", "/api/v1/webhook_deliveries/{id}/replay", true, false, s.replayWebhookDelivery},
		{"GET", "/api/v1/subscriptions/{id}/provisioning", true, false, s.getProvisioning},
		{"POST", "/api/v1/subscriptions/{id}/provisioning/retry", true, false, s.retryProvisioning},
	}
}

// integrations serves the use cases the API needs; sending is the job
// runner's, so no provisioning URL or HTTP client is needed here.
func (s *Server) integrations() *integrations.Service {
	return &integrations.Service{DB: s.DB, Clock: s.Svc.Clock, Logger: s.Logger}
}

// endpointView is an endpoint as the API shows it; the secret only in the
// answer that created it.
type endpointView struct {
	*store.WebhookEndpoint
	Secret string `json:"secret,omitempty"`
}

type endpointRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
}

func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req endpointRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	e, secret, err := s.integrations().CreateEndpoint(r.Context(), string(actor(r)), integrations.EndpointInput{URL: req.URL, Description: req.Description, Events: req.Events})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, endpointView{e, secret})
}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	es, err := s.DB.WebhookEndpoints(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(es, p, func(e *store.WebhookEndpoint) string { return e.ID }))
}

func (s *Server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := s.DB.WebhookEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, endpointView{WebhookEndpoint: e})
}

func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.integrations().DeleteEndpoint(r.Context(), string(actor(r)), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	e, secret, err := s.integrations().RotateSecret(r.Context(), string(actor(r)), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, endpointView{e, secret})
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	p, err := page(r)
	if err != nil {
		return err
	}
	if _, _, err := s.DB.WebhookEndpointAny(r.Context(), id); err != nil {
		return err
	}
	ds, err := s.DB.WebhookDeliveries(r.Context(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(ds, p, func(d *store.WebhookDelivery) string { return d.ID }))
}

func (s *Server) replayWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := s.integrations().ReplayDelivery(r.Context(), string(actor(r)), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}

type replayRequest struct {
	Since string `json:"since"`
}

func (s *Server) replayWebhooksSince(w http.ResponseWriter, r *http.Request) error {
	var req replayRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Since == "" {
		return fulfill.FieldError(fulfill.ERequired, "since", "since is required: a date (YYYY-MM-DD) or an RFC 3339 time.")
	}
	since, err := time.Parse(time.RFC3339, req.Since)
	if err != nil {
		d, derr := fulfill.ParseDate(req.Since)
		if derr != nil {
			return fulfill.FieldError(fulfill.EInvalid, "since", "since must be a date (YYYY-MM-DD) or an RFC 3339 time.")
		}
		since = d.Time()
	}
	n, err := s.integrations().ReplaySince(r.Context(), string(actor(r)), r.PathValue("id"), since)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]any{"endpoint_id": r.PathValue("id"), "since": since.UTC(), "replayed": n})
}

func (s *Server) getProvisioning(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.DB.Subscription(r.Context(), id); err != nil {
		return err
	}
	p, err := s.DB.Provision(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) retryProvisioning(w http.ResponseWriter, r *http.Request) error {
	p, err := s.integrations().RetryProvisioning(r.Context(), string(actor(r)), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, p)
}

// jwks publishes the license signing keys as a JSON Web Key Set, to verify
// provisioning tokens.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	set := saas.JWKS{Keys: []saas.JWK{}}
	if s.Keys != nil {
		ks, err := s.Keys.List()
		if err != nil {
			s.Error(w, r, err)
			return
		}
		for _, k := range ks {
			pub, err := license.ParsePublicKey(k.PublicKey)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			set.Keys = append(set.Keys, saas.NewJWK(k.KID, pub))
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set)
}
