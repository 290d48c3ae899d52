package commerce

import (
	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// UsageCap bounds the service pings stored for a subscription: with each new
// ping, the oldest beyond the cap are deleted in the same transaction, so
// one instance (or one license used for many made-up instances) cannot grow
// the database without bound. Zero fields take DefaultUsageCap's values.
type UsageCap struct {
	PerInstance     int // newest pings kept per instance of a subscription
	PerSubscription int // newest pings kept per subscription, over all its instances
}

// DefaultUsageCap keeps 100 pings per instance (two years of weekly pings;
// at most 25 MiB at MaxUsagePing each) and 1000 per subscription.
var DefaultUsageCap = UsageCap{PerInstance: 100, PerSubscription: 1000}

func (s *Service) usageCap() UsageCap {
	c := s.UsageCap
	if c.PerInstance <= 0 {
		c.PerInstance = DefaultUsageCap.PerInstance
	}
	if c.PerSubscription <= 0 {
		c.PerSubscription = DefaultUsageCap.PerSubscription
	}
	return c
}

// LicenseSubscription verifies a license file presented by an instance and
// returns the id of its subscription, without reading the database: the API
// uses it to rate-limit each instance under the subscription that signed
// for it, so that one customer's license cannot spend another's allowance.
func (s *Service) LicenseSubscription(raw string) (string, error) {
	p, err := s.verifyLicense(raw)
	if err != nil {
		return "", err
	}
	return p.SubscriptionID, nil
}

// checkInstanceOwner refuses a report for an instance id that another
// customer's subscription registered, unless it also activated (or
// reported) under this customer: one customer's license cannot report for
// another's instance. An instance id new to the server may report.
func (s *Service) checkInstanceOwner(tx *store.Tx, sub *fulfill.Subscription, instanceID string) error {
	other, err := tx.InstanceOfOtherCustomer(instanceID, sub.CustomerID)
	if err != nil {
		return err
	}
	if other {
		return fulfill.FieldError(fulfill.EInstanceUnknown, "instance_id",
			"Instance %q has not activated with this license; activate it with this subscription's code first.", instanceID)
	}
	return nil
}
