package integrations

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/saas"
	"github.com/fulfillhq/fulfill/store"
)

// errNotConfigured is the reason recorded when provisioning is off.
const errNotConfigured = "SaaS provisioning is not configured (start the server with --saas-provisioning-url)."

// ProvisionRequest builds what the product is told about a subscription:
// its whole current entitlement.
func ProvisionRequest(sub *fulfill.Subscription, eventID string) saas.Request {
	addOns := make(map[string]int, len(sub.AddOns))
	for _, a := range sub.AddOns {
		addOns[a.Code] = int(a.Quantity)
	}
	return saas.Request{Namespace: sub.Namespace, Plan: sub.Plan, Seats: sub.Seats, StartsOn: sub.StartsOn.String(),
		EndsOn: sub.EndsOn.String(), State: sub.State, AddOns: addOns, SubscriptionID: sub.ID, EventID: eventID}
}

// RetryProvisioning sends a SaaS subscription's entitlement to the product
// again, for the admin's retry button; actor names who asks, in the audit
// log.
func (s *Service) RetryProvisioning(ctx context.Context, actor, subscriptionID string) (*store.Provision, error) {
	sub, err := s.DB.Subscription(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	if sub.Kind != fulfill.KindSaaS {
		return nil, fulfill.Errorf(fulfill.EConflict, "Subscription %s is self-managed: it gets a license, not provisioning.", sub.ID)
	}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.RequestProvision(sub.ID, sub.Namespace, "", s.now()); err != nil {
			return err
		}
		if err := auditTx(tx, s.now(), actor, "subscription.provisioning_retry", "subscription", sub.ID,
			map[string]string{"namespace": sub.Namespace}); err != nil {
			return err
		}
		return tx.Enqueue(ProvisionArgs{SubscriptionID: sub.ID}, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.DB.Provision(ctx, sub.ID)
}

// Provision sends one provisioning request with the subscription as it is
// now, authenticated by a five-minute token signed with the license key. A
// 2xx answer provisions it; otherwise the state is failed with the reason
// and the error makes the job retry.
func (s *Service) Provision(ctx context.Context, subscriptionID, eventID string) error {
	p, err := s.DB.Provision(ctx, subscriptionID)
	if err != nil {
		return err
	}
	if eventID == "" {
		eventID = p.LastEventID
	}
	start := s.wall()
	fail := func(status int, reason string) error {
		a := &store.ProvisionAttempt{EventID: eventID, StartedAt: start, DurationMS: time.Since(start).Milliseconds(), Error: reason}
		if status != 0 {
			a.StatusCode = &status
		}
		return s.DB.RecordProvisionAttempt(context.WithoutCancel(ctx), subscriptionID, a, store.ProvisionFailed, reason, s.now())
	}
	if s.ProvisioningURL == "" {
		return fail(0, errNotConfigured) // nothing to retry until configured
	}
	sub, err := s.DB.Subscription(ctx, subscriptionID)
	if err != nil {
		return err
	}
	if sub.Namespace == "" {
		return fail(0, "The subscription has no namespace to provision.")
	}
	body, err := json.Marshal(ProvisionRequest(sub, eventID))
	if err != nil {
		return err
	}
	if s.Keys == nil {
		return fail(0, "No signing key is configured for provisioning tokens.")
	}
	signer, err := s.Keys.Signer()
	if err != nil {
		return err
	}
	tok, err := saas.SignToken(signer.PrivateKey(), signer.KeyID(), saas.NewClaims(start, fulfill.NewID("jti")))
	if err != nil {
		return err
	}
	u := strings.TrimSuffix(s.ProvisioningURL, "/") + saas.ProvisionPath
	status, resp, sendErr := s.post(ctx, u, map[string]string{"Content-Type": "application/json", "User-Agent": "Fulfill-Provisioning/1",
		"Authorization": "Bearer " + tok}, body)
	var reason string
	switch {
	case sendErr != nil:
		reason = boundError(sendErr.Error())
	case status < 200 || status > 299:
		reason = fmt.Sprintf("HTTP %d: %s", status, strings.TrimSpace(excerpt(resp)))
	}
	if reason != "" {
		if err := fail(status, reason); err != nil {
			return err
		}
		return fmt.Errorf("provision %s: %s", subscriptionID, reason)
	}
	a := &store.ProvisionAttempt{EventID: eventID, StartedAt: start, DurationMS: time.Since(start).Milliseconds(), StatusCode: &status}
	return s.DB.RecordProvisionAttempt(context.WithoutCancel(ctx), subscriptionID, a, store.ProvisionProvisioned, "", s.now())
}
