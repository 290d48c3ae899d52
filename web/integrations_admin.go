package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/store"
)

// This file holds the console's integration pages: webhook endpoints with
// their delivery logs and replays, and the SaaS provisioning state of a
// subscription with its retry button. They call the same integrations and
// store functions as the JSON API (api/webhooks.go).

// Webhook endpoints receive every event they subscribe to, customer data
// included, so only admins register, change, rotate, delete or replay
// them; other staff see the list and the delivery log.
func (s *Server) integrationRoutes(handle func(string, access, handlerFunc)) {
	handle("GET /admin/webhooks", staff, s.webhookEndpoints)
	handle("POST /admin/webhooks", adminRole, s.createWebhookEndpoint)
	handle("GET /admin/webhooks/{id}", staff, s.webhookEndpoint)
	handle("POST /admin/webhooks/{id}/rotate", adminRole, s.rotateWebhookSecret)
	handle("POST /admin/webhooks/{id}/delete", adminRole, s.deleteWebhookEndpoint)
	handle("POST /admin/webhooks/{id}/replay", adminRole, s.replayWebhooksSince)
	handle("POST /admin/webhooks/{id}/deliveries/{delivery}/replay", adminRole, s.replayWebhookDelivery)
	handle("GET /admin/subscriptions/{id}/provisioning", staff, s.provisioningState)
	handle("POST /admin/subscriptions/{id}/provisioning/retry", staffRW, s.retryProvisioning)
}

// integrations serves the use cases the console needs. Sending is the job
// runner's, so no provisioning URL, key or HTTP client is needed here.
func (s *Server) integrations() *integrations.Service {
	return &integrations.Service{DB: s.db, Clock: s.clock, Logger: s.log}
}

// deliveriesPerPage is how many deliveries an endpoint page lists.
const deliveriesPerPage = 50

// ---- webhook endpoints ----

type webhookEndpointRow struct {
	*store.WebhookEndpoint
	// Rotating: the previous secret still signs, until PreviousExpiresAt.
	Rotating bool
	// Last is the newest delivery, nil before the first.
	Last *store.WebhookDelivery
}

type webhooksPage struct {
	navData
	Endpoints  []webhookEndpointRow
	EventTypes []string
	Checked    map[string]bool // the events ticked in the form
	CanChange  bool            // an admin: endpoints are admin-only
	Error      string
	Field      string
}

func (s *Server) loadEndpointRow(r *http.Request, e *store.WebhookEndpoint) (webhookEndpointRow, error) {
	row := webhookEndpointRow{WebhookEndpoint: e, Rotating: e.PreviousSecret != "" && e.PreviousExpiresAt != nil && s.now().Before(*e.PreviousExpiresAt)}
	ds, err := s.db.WebhookDeliveries(r.Context(), e.ID, fulfill.Page{Limit: 1})
	if err != nil {
		return row, err
	}
	if len(ds) > 0 {
		row.Last = ds[0]
	}
	return row, nil
}

func (s *Server) webhookEndpoints(w http.ResponseWriter, r *http.Request) error {
	return s.renderEndpoints(w, r, http.StatusOK, map[string]bool{"*": true}, nil)
}

func (s *Server) renderEndpoints(w http.ResponseWriter, r *http.Request, status int, checked map[string]bool, formErr error) error {
	es, err := s.db.WebhookEndpoints(r.Context(), fulfill.Page{Limit: 200})
	if err != nil {
		return err
	}
	d := &webhooksPage{navData: navData{"webhooks"}, EventTypes: integrations.EventTypes, Checked: checked, CanChange: isAdmin(state(r).user)}
	for _, e := range es {
		row, err := s.loadEndpointRow(r, e)
		if err != nil {
			return err
		}
		d.Endpoints = append(d.Endpoints, row)
	}
	if formErr != nil {
		d.Error = fulfill.ErrorMessage(formErr)
		var fe *fulfill.Error
		if errors.As(formErr, &fe) {
			d.Field = fe.Field
		}
	}
	return s.render(w, r, status, "webhooks", "Webhooks", d)
}

func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return fulfill.Errorf(fulfill.EInvalid, "The form could not be read.")
	}
	events := r.PostForm["events"]
	checked := map[string]bool{}
	for _, e := range events {
		checked[e] = true
	}
	if checked["*"] {
		events = []string{"*"} // every event: the single types add nothing
	}
	if len(events) == 0 {
		return s.renderEndpoints(w, r, http.StatusUnprocessableEntity, checked,
			fulfill.FieldError(fulfill.ERequired, "events", "Choose the events to send: all of them, or at least one type."))
	}
	e, secret, err := s.integrations().CreateEndpoint(r.Context(), actorOf(state(r).user), integrations.EndpointInput{URL: r.PostForm.Get("url"),
		Description: strings.TrimSpace(r.PostForm.Get("description")), Events: events})
	switch fulfill.ErrorCode(err) {
	case "":
	case fulfill.EInvalid, fulfill.ERequired, fulfill.EOutOfRange:
		return s.renderEndpoints(w, r, http.StatusUnprocessableEntity, checked, err)
	default:
		return err
	}
	// The secret is shown once, on the next page, as activation codes are.
	return s.flashRedirect(w, r, "/admin/webhooks/"+e.ID, "secret:"+secret)
}

func isAdmin(u *store.User) bool { return u != nil && u.Role == RoleAdmin }

type webhookDeliveryRow struct {
	*store.WebhookDelivery
	// DurationMS is the last attempt's, -1 before the first.
	DurationMS int64
}

type webhookEndpointPage struct {
	navData
	E          webhookEndpointRow
	Deliveries []webhookDeliveryRow
	Next       string
	CanChange  bool
	IsAdmin    bool
	Rotated    bool // the secret shown is a rotation's
	Since      string
}

func (s *Server) webhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	e, err := s.db.WebhookEndpoint(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	row, err := s.loadEndpointRow(r, e)
	if err != nil {
		return err
	}
	ds, err := s.db.WebhookDeliveries(ctx, e.ID, fulfill.Page{Limit: deliveriesPerPage, Cursor: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	u := state(r).user
	d := &webhookEndpointPage{navData: navData{"webhooks"}, E: row, CanChange: isAdmin(u), IsAdmin: isAdmin(u),
		Rotated: r.URL.Query().Get("rotated") == "1", Since: fulfill.Today(s.clock).AddDays(-1).String()}
	for _, dl := range ds {
		dr := webhookDeliveryRow{WebhookDelivery: dl, DurationMS: -1}
		if n := len(dl.Log); n > 0 {
			dr.DurationMS = dl.Log[n-1].DurationMS
		}
		d.Deliveries = append(d.Deliveries, dr)
	}
	if len(ds) == deliveriesPerPage {
		d.Next = ds[len(ds)-1].ID
	}
	return s.render(w, r, http.StatusOK, "webhooks_endpoint", webhookEndpointTitle(e), d)
}

func webhookEndpointTitle(e *store.WebhookEndpoint) string {
	if e.Description != "" {
		return e.Description
	}
	return "Webhook endpoint " + e.ID
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	e, secret, err := s.integrations().RotateSecret(r.Context(), actorOf(state(r).user), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/webhooks/"+e.ID+"?rotated=1", "secret:"+secret)
}

func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.integrations().DeleteEndpoint(r.Context(), actorOf(state(r).user), id); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/webhooks", "Webhook endpoint "+id+" deleted: it gets no more deliveries. Its delivery log is kept.")
}

func (s *Server) replayWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	id, did := r.PathValue("id"), r.PathValue("delivery")
	d, err := s.db.WebhookDelivery(r.Context(), did)
	if err != nil {
		return err
	}
	if d.EndpointID != id {
		return errNotFound
	}
	if _, err := s.integrations().ReplayDelivery(r.Context(), actorOf(state(r).user), did); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/webhooks/"+id, fmt.Sprintf("Delivery %s of %s will be sent again.", did, d.EventType))
}

// parseReplaySince reads a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
func parseReplaySince(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, fulfill.FieldError(fulfill.ERequired, "since", "Enter the date to replay from.")
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := fulfill.ParseDate(v)
	if err != nil {
		return time.Time{}, fulfill.FieldError(fulfill.EInvalid, "since", "Enter the date to replay from as YYYY-MM-DD.")
	}
	return d.Time(), nil
}

func (s *Server) replayWebhooksSince(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	since, err := parseReplaySince(r.PostForm.Get("since"))
	if err != nil {
		return err
	}
	n, err := s.integrations().ReplaySince(r.Context(), actorOf(state(r).user), id, since)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("%d events since %s will be sent again.", n, since.UTC().Format("2 Jan 2006 15:04 UTC"))
	switch n {
	case 0:
		msg = "No event this endpoint subscribes to happened since " + since.UTC().Format("2 Jan 2006 15:04 UTC") + ": nothing to replay."
	case 1:
		msg = "1 event since " + since.UTC().Format("2 Jan 2006 15:04 UTC") + " will be sent again."
	}
	return s.flashRedirect(w, r, "/admin/webhooks/"+id, msg)
}

// ---- SaaS provisioning ----

type provisioningPage struct {
	navData
	Sub       *fulfill.Subscription
	Customer  *fulfill.Customer
	P         *store.Provision // nil: never requested
	Log       []store.ProvisionAttempt
	Last      *store.ProvisionAttempt
	CanChange bool
}

func (s *Server) provisioningState(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sub, err := s.db.Subscription(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sub.Kind != fulfill.KindSaaS {
		return errNotFound // self-managed subscriptions get a license, not provisioning
	}
	c, err := s.db.Customer(ctx, sub.CustomerID)
	if err != nil {
		return err
	}
	d := &provisioningPage{navData: navData{"customers"}, Sub: sub, Customer: c, CanChange: canChange(state(r).user)}
	p, err := s.db.Provision(ctx, sub.ID)
	switch {
	case fulfill.ErrorCode(err) == fulfill.ENotFound:
	case err != nil:
		return err
	default:
		d.P = p
		d.Log = slices.Clone(p.Log)
		slices.Reverse(d.Log) // newest first
		if len(d.Log) > 0 {
			d.Last = &d.Log[0]
		}
		if len(d.Log) > 100 {
			d.Log = d.Log[:100]
		}
	}
	return s.render(w, r, http.StatusOK, "provisioning", "Provisioning of "+sub.ID, d)
}

func (s *Server) retryProvisioning(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	p, err := s.integrations().RetryProvisioning(r.Context(), actorOf(state(r).user), id)
	if err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/admin/subscriptions/"+id+"/provisioning",
		fmt.Sprintf("Provisioning of the namespace %s will be sent again.", p.Namespace))
}
