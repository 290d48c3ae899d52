package commerce

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// This file is what a subscription's instances are seen and managed by: the
// list, the plan's limit of active instances, deactivation, and the daily
// marking of instances that stopped syncing (instance.stale).

// MaxInstances bounds a plan's limit of active instances.
const MaxInstances = 10_000

// admitInstance lets an instance activate or sync under a subscription. A
// known active instance always may. A deactivated one may only activate
// again (activate true), and a new or reactivated one only while the
// plan's maximum of active instances is not reached (422 instance_limit).
// A reactivated instance is active again when it returns.
func (s *Service) admitInstance(tx *store.Tx, sub *fulfill.Subscription, instanceID string, activate bool) error {
	cur, err := tx.Instance(sub.ID, instanceID)
	known := err == nil
	if err != nil && fulfill.ErrorCode(err) != fulfill.ENotFound {
		return err
	}
	if known && cur.Active() {
		return nil
	}
	if known && !activate {
		return fulfill.FieldError(fulfill.EInstanceUnknown, "instance_id",
			"Instance %q was deactivated on %s; activate it again with the subscription's activation code.",
			instanceID, cur.DeactivatedAt.Format("2006-01-02"))
	}
	plan, err := tx.PlanByID(sub.PlanID)
	if err != nil {
		return err
	}
	if plan.MaxInstances > 0 {
		n, err := tx.CountActiveInstances(sub.ID)
		if err != nil {
			return err
		}
		if n >= plan.MaxInstances {
			return fulfill.FieldError(fulfill.EInstanceLimit, "instance_id",
				"Subscription %s already has %d active instances, the most its plan %s allows; deactivate one in the customers portal first.",
				sub.ID, n, plan.Code)
		}
	}
	if known {
		return tx.SetInstanceDeactivated(sub.ID, instanceID, time.Time{})
	}
	return nil
}

// claimInstanceSlot admits an activating instance (admitInstance).
func (s *Service) claimInstanceSlot(tx *store.Tx, sub *fulfill.Subscription, instanceID string) error {
	return s.admitInstance(tx, sub, instanceID, true)
}

// admitSync admits a syncing instance, cur as read with sub (nil if sub
// has no instance by that id): it must not report for another customer's
// instance (checkInstanceOwner) and must not have been deactivated
// (admitInstance). An instance active under sub is sub's customer's, so the
// daily sync of a known instance reads nothing more: the owner check is a
// query of its own, a round trip on PostgreSQL, needed only by an instance
// new to the subscription.
func (s *Service) admitSync(tx *store.Tx, sub *fulfill.Subscription, cur *fulfill.Instance, instanceID string) error {
	if cur != nil && cur.Active() {
		return nil
	}
	if cur == nil {
		if err := s.checkInstanceOwner(tx, sub, instanceID); err != nil {
			return err
		}
	}
	return s.admitInstance(tx, sub, instanceID, false)
}

// Instances lists a subscription's instances with their staleness as of
// now. customerID, when set, must own the subscription (another
// customer's is not found).
func (s *Service) Instances(ctx context.Context, customerID, subscriptionID string) ([]*fulfill.Instance, error) {
	sub, err := s.DB.Subscription(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	if customerID != "" && sub.CustomerID != customerID {
		return nil, fulfill.Errorf(fulfill.ENotFound, "Subscription not found.")
	}
	list, err := s.DB.Instances(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	cutoff := s.now().Add(-fulfill.StaleAfter)
	for _, in := range list {
		in.Stale = in.Active() && !in.LastSeenAt.After(cutoff)
	}
	return list, nil
}

// DeactivateInput names the instance to deactivate. SubscriptionID may be
// empty when only one subscription knows the instance id; CustomerID, when
// set, must own the subscription (the portal).
type DeactivateInput struct {
	InstanceID, SubscriptionID, CustomerID string
}

// DeactivateInstance deactivates an instance: it no longer counts against
// the plan's limit, and its syncs are refused until it activates again.
// Audited, with an instance.deactivated event.
func (s *Service) DeactivateInstance(ctx context.Context, actor Actor, remote string, in DeactivateInput) (*fulfill.Instance, error) {
	if err := checkInstance(in.InstanceID, "", ""); err != nil {
		return nil, err
	}
	var out *fulfill.Instance
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		cur, err := s.instanceToDeactivate(tx, in)
		if err != nil {
			return err
		}
		if !cur.Active() {
			return fulfill.Errorf(fulfill.EConflict, "Instance %s was already deactivated on %s.", cur.InstanceID, cur.DeactivatedAt.Format("2006-01-02"))
		}
		sub, err := tx.Subscription(cur.SubscriptionID)
		if err != nil {
			return err
		}
		now := s.now()
		if err := tx.SetInstanceDeactivated(cur.SubscriptionID, cur.InstanceID, now); err != nil {
			return err
		}
		cur.DeactivatedAt = &now
		out = cur
		if err := s.emit(tx, "instance.deactivated", sub.ID, sub.CustomerID, map[string]any{"subscription_id": sub.ID,
			"instance_id": cur.InstanceID, "hostname": cur.Hostname}); err != nil {
			return err
		}
		return s.audit(tx, actor, "instance.deactivate", "subscription", sub.ID,
			map[string]string{"instance_id": cur.InstanceID, "hostname": cur.Hostname}, remote)
	})
	return out, err
}

func (s *Service) instanceToDeactivate(tx *store.Tx, in DeactivateInput) (*fulfill.Instance, error) {
	rows, err := tx.InstancesByID(in.InstanceID)
	if err != nil {
		return nil, err
	}
	var match []*fulfill.Instance
	for _, r := range rows {
		if in.SubscriptionID != "" && r.SubscriptionID != in.SubscriptionID {
			continue
		}
		if in.CustomerID != "" {
			sub, err := tx.Subscription(r.SubscriptionID)
			if err != nil {
				return nil, err
			}
			if sub.CustomerID != in.CustomerID {
				continue
			}
		}
		match = append(match, r)
	}
	switch len(match) {
	case 0:
		return nil, fulfill.Errorf(fulfill.ENotFound, "No instance %q.", in.InstanceID)
	case 1:
		return match[0], nil
	}
	subs := make([]string, len(match))
	for i, m := range match {
		subs[i] = m.SubscriptionID
	}
	return nil, fulfill.FieldError(fulfill.ERequired, "subscription_id",
		"Instance %q is known under subscriptions %s; name one as subscription_id.", in.InstanceID, strings.Join(subs, ", "))
}

// StaleInstancesArgs is the daily job that marks instances that stopped
// syncing.
type StaleInstancesArgs struct {
	Day string `json:"day" river:"unique"`
}

// Kind names the job.
func (StaleInstancesArgs) Kind() string { return "instances.mark_stale" }

// InsertOpts makes it unique per day.
func (StaleInstancesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// MarkStaleInstances sends instance.stale, once per lapse, for every active
// instance of a live subscription that has not synced for
// fulfill.StaleAfter; a sync ends the lapse, and the next one is announced
// again. Each instance is marked in its own transaction with its event; a
// rerun (or another copy of the server) marks nothing twice. It returns how
// many it marked.
func (s *Service) MarkStaleInstances(ctx context.Context) (int, error) {
	now := s.now()
	cutoff := now.Add(-fulfill.StaleAfter)
	cands, err := s.DB.StaleInstances(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	marked := 0
	for _, c := range cands {
		var fresh bool
		err := s.DB.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if fresh, err = tx.MarkInstanceStale(c.SubscriptionID, c.InstanceID, cutoff, now); err != nil || !fresh {
				return err
			}
			return s.emit(tx, "instance.stale", c.SubscriptionID, c.CustomerID, map[string]any{"subscription_id": c.SubscriptionID,
				"instance_id": c.InstanceID, "hostname": c.Hostname, "last_seen_at": c.LastSeenAt.UTC(),
				"stale_after_days": int(fulfill.StaleAfter.Hours() / 24)})
		})
		if err != nil {
			return marked, fmt.Errorf("mark instance %s of %s stale: %w", c.InstanceID, c.SubscriptionID, err)
		}
		if fresh {
			marked++
		}
	}
	return marked, nil
}
