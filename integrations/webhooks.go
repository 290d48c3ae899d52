package integrations

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/webhook"
)

// EndpointInput registers a webhook endpoint.
type EndpointInput struct {
	URL         string
	Description string
	Events      []string // empty means every event
}

// MaxReplay bounds how many events one replay-since request resends.
const MaxReplay = 10000

func (s *Service) validEndpoint(ctx context.Context, in *EndpointInput) error {
	in.URL = strings.TrimSpace(in.URL)
	if in.URL == "" {
		return fulfill.FieldError(fulfill.ERequired, "url", "url is required.")
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fulfill.FieldError(fulfill.EInvalid, "url", "url must be an absolute http:// or https:// URL.")
	}
	if fulfill.TextLen(in.URL) > 2048 {
		return fulfill.FieldError(fulfill.EOutOfRange, "url", "url is at most 2048 characters.")
	}
	if u.Fragment != "" {
		return fulfill.FieldError(fulfill.EInvalid, "url", "url must not have a #fragment.")
	}
	if err := s.checkTarget(ctx, in.URL); err != nil {
		return err
	}
	if fulfill.TextLen(in.Description) > 500 {
		return fulfill.FieldError(fulfill.EOutOfRange, "description", "description is at most 500 characters.")
	}
	if len(in.Events) == 0 {
		in.Events = []string{"*"}
	}
	if len(in.Events) > len(EventTypes) {
		return fulfill.FieldError(fulfill.EOutOfRange, "events", "events lists at most %d types.", len(EventTypes))
	}
	for _, e := range in.Events {
		if !knownPattern(e) {
			return fulfill.FieldError(fulfill.EInvalid, "events", "Unknown event type %q; use \"*\", a group such as \"invoice.*\", or one of: %s.",
				e, strings.Join(EventTypes, ", "))
		}
	}
	return nil
}

func knownPattern(p string) bool {
	if p == "*" || slices.Contains(EventTypes, p) {
		return true
	}
	if group, ok := strings.CutSuffix(p, ".*"); ok {
		for _, t := range EventTypes {
			if strings.HasPrefix(t, group+".") {
				return true
			}
		}
	}
	return false
}

// CreateEndpoint registers an endpoint and returns it with its signing
// secret, which is shown this once. actor names who asks, in the audit log.
func (s *Service) CreateEndpoint(ctx context.Context, actor string, in EndpointInput) (*store.WebhookEndpoint, string, error) {
	if err := s.validEndpoint(ctx, &in); err != nil {
		return nil, "", err
	}
	e := &store.WebhookEndpoint{ID: fulfill.NewID("whe"), URL: in.URL, Description: in.Description, Events: in.Events,
		Secret: newSecret(), CreatedAt: s.now()}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertWebhookEndpoint(e); err != nil {
			return err
		}
		return s.audit(tx, actor, "webhook_endpoint.create", e.ID, map[string]any{"url": redactedURL(e.URL), "events": e.Events})
	})
	if err != nil {
		return nil, "", err
	}
	return e, e.Secret, nil
}

// RotateSecret gives an endpoint a new secret; the old one keeps signing
// (beside the new one) for SecretOverlap, so receivers can switch over.
func (s *Service) RotateSecret(ctx context.Context, actor, id string) (*store.WebhookEndpoint, string, error) {
	var e *store.WebhookEndpoint
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if e, err = tx.WebhookEndpoint(id); err != nil {
			return err
		}
		exp := s.now().Add(SecretOverlap)
		e.PreviousSecret, e.PreviousExpiresAt, e.Secret = e.Secret, &exp, newSecret()
		if err := tx.RotateWebhookSecret(id, e.Secret, e.PreviousSecret, exp); err != nil {
			return err
		}
		return s.audit(tx, actor, "webhook_endpoint.rotate_secret", id, nil)
	})
	if err != nil {
		return nil, "", err
	}
	return e, e.Secret, nil
}

// DeleteEndpoint stops deliveries to an endpoint.
func (s *Service) DeleteEndpoint(ctx context.Context, actor, id string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.WebhookEndpoint(id); err != nil {
			return err
		}
		if err := tx.DeleteWebhookEndpoint(id, s.now()); err != nil {
			return err
		}
		return s.audit(tx, actor, "webhook_endpoint.delete", id, nil)
	})
}

// ReplayDelivery sends a delivery again, whatever its status, with a fresh
// retry schedule.
func (s *Service) ReplayDelivery(ctx context.Context, actor, id string) (*store.WebhookDelivery, error) {
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		d, err := tx.WebhookDelivery(id)
		if err != nil {
			return err
		}
		if _, err := tx.WebhookEndpoint(d.EndpointID); err != nil {
			if fulfill.ErrorCode(err) == fulfill.ENotFound {
				return fulfill.Errorf(fulfill.EConflict, "The endpoint of delivery %s was deleted.", id)
			}
			return err
		}
		if err := tx.ResetWebhookDelivery(id); err != nil {
			return err
		}
		if err := s.audit(tx, actor, "webhook_delivery.replay", d.EndpointID, map[string]string{"delivery": id}); err != nil {
			return err
		}
		return tx.Enqueue(DeliverArgs{DeliveryID: id}, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.DB.WebhookDelivery(ctx, id)
}

// ReplaySince sends an endpoint every event it subscribes to that happened
// at or after since, oldest first: events it already had are sent again,
// events from before it existed are sent for the first time.
func (s *Service) ReplaySince(ctx context.Context, actor, endpointID string, since time.Time) (int, error) {
	n := 0
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		n = 0 // a rerun of the transaction counts anew
		ep, err := tx.WebhookEndpoint(endpointID)
		if err != nil {
			return err
		}
		evs, err := tx.EventsSince(since, MaxReplay+1)
		if err != nil {
			return err
		}
		if len(evs) > MaxReplay {
			return fulfill.FieldError(fulfill.EOutOfRange, "since", "More than %d events happened since %s; replay a shorter period.",
				MaxReplay, since.Format(time.RFC3339))
		}
		for _, ev := range evs {
			if !matches(ep.Events, ev.Type) {
				continue
			}
			d := &store.WebhookDelivery{ID: fulfill.NewID("whd"), EndpointID: ep.ID, EventID: ev.ID, EventType: ev.Type, CreatedAt: s.now()}
			added, err := tx.InsertWebhookDelivery(d)
			if err != nil {
				return err
			}
			if !added {
				if d, err = tx.WebhookDeliveryFor(ev.ID, ep.ID); err != nil {
					return err
				}
				if err := tx.ResetWebhookDelivery(d.ID); err != nil {
					return err
				}
			}
			if err := tx.Enqueue(DeliverArgs{DeliveryID: d.ID}, nil); err != nil {
				return err
			}
			n++
		}
		return s.audit(tx, actor, "webhook_endpoint.replay", ep.ID, map[string]any{"since": since.UTC().Format(time.RFC3339), "replayed": n})
	})
	return n, err
}

// audit appends an entry about a webhook endpoint to the audit log, in tx.
func (s *Service) audit(tx *store.Tx, actor, action, endpointID string, detail any) error {
	return auditTx(tx, s.now(), actor, action, "webhook_endpoint", endpointID, detail)
}

// auditTx appends an audit entry in tx, from the request's address.
func auditTx(tx *store.Tx, at time.Time, actor, action, subjectType, subjectID string, detail any) error {
	e, err := fulfill.NewAuditEntry(at, actor, action, subjectType, subjectID, detail, fulfill.RemoteAddr(tx.Context()))
	if err != nil {
		return err
	}
	return tx.Audit(e)
}

// redactedURL is a URL as the audit log keeps it: without a password.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Redacted()
}

// Attempt tells Deliver what happens if this attempt fails.
type Attempt struct {
	// Final: a failure marks the delivery failed, for good.
	Final bool
	// Delay is how long after this attempt's start the next one runs if
	// this one fails and is not final (River schedules it that long after
	// the attempt ends, so never earlier than the log says).
	Delay time.Duration
}

// SigningSecrets are the secrets that sign an endpoint's deliveries now:
// the current one, and the previous one during a rotation.
func (s *Service) SigningSecrets(e *store.WebhookEndpoint) []string {
	secrets := []string{e.Secret}
	if e.PreviousSecret != "" && e.PreviousExpiresAt != nil && s.now().Before(*e.PreviousExpiresAt) {
		secrets = append(secrets, e.PreviousSecret)
	}
	return secrets
}

// signature is the Fulfill-Signature header of a delivery to ep.
func (s *Service) signature(ep *store.WebhookEndpoint, t time.Time, body []byte) string {
	return webhook.SignAll(s.SigningSecrets(ep), t, body)
}

// Deliver makes one attempt at a delivery: it POSTs the stored event
// document, byte for byte, signed, and logs what happened. A 2xx answer
// delivers it. It returns an error when the attempt failed (the job
// retries), and ErrGaveUp when the delivery is now failed.
func (s *Service) Deliver(ctx context.Context, deliveryID string, at Attempt) error {
	d, err := s.DB.WebhookDelivery(ctx, deliveryID)
	if err != nil {
		return err
	}
	if d.Status != store.DeliveryPending {
		return nil // delivered, or failed and not replayed: a duplicate job
	}
	ep, deleted, err := s.DB.WebhookEndpointAny(ctx, d.EndpointID)
	if err != nil {
		return err
	}
	if deleted {
		if err := s.DB.FailWebhookDelivery(ctx, d.ID, "The endpoint was deleted.", s.wall()); err != nil {
			return err
		}
		return ErrGaveUp
	}
	_, doc, err := s.DB.EventDocument(ctx, d.EventID)
	if err != nil {
		return err
	}
	start := s.wall()
	hdr := map[string]string{
		"Content-Type":          "application/json",
		"User-Agent":            "Fulfill-Webhooks/1",
		webhook.SignatureHeader: s.signature(ep, start, doc),
		webhook.EventIDHeader:   d.EventID,
		webhook.EventTypeHeader: d.EventType,
		"Fulfill-Delivery-Id":   d.ID,
	}
	// The answer's body is read (to reuse the connection) but never kept:
	// the log holds status and timing only.
	status, _, sendErr := s.post(ctx, ep.URL, hdr, doc)
	a := &store.WebhookAttempt{StartedAt: start, DurationMS: time.Since(start).Milliseconds(), RequestURL: redact(ep.URL)}
	if status != 0 {
		a.StatusCode = &status
	}
	outcome := store.DeliveryDelivered
	switch {
	case sendErr != nil:
		a.Error = boundError(sendErr.Error())
	case status < 200 || status > 299:
		a.Error = fmt.Sprintf("HTTP %d", status)
	}
	if a.Error != "" {
		outcome = store.DeliveryPending
		if at.Final {
			outcome = store.DeliveryFailed
		} else {
			next := start.Add(at.Delay)
			a.NextAttemptAt = &next
		}
	}
	if err := s.DB.RecordWebhookAttempt(context.WithoutCancel(ctx), d.ID, a, outcome, s.wall()); err != nil {
		return err
	}
	switch outcome {
	case store.DeliveryFailed:
		s.log().Warn("webhook delivery failed for good", "delivery", d.ID, "endpoint", ep.ID, "attempts", a.Attempt, "err", a.Error)
		return ErrGaveUp
	case store.DeliveryPending:
		return fmt.Errorf("webhook %s attempt %d: %s", d.ID, a.Attempt, a.Error)
	}
	return nil
}

// post sends a JSON body and returns the status and the start of the answer.
func (s *Service) post(ctx context.Context, u string, hdr map[string]string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the log already
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, ExcerptBytes+1))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, nil
}

// redact hides a password in a URL.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Redacted()
}
