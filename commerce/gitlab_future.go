package commerce

import "github.com/fulfillhq/fulfill"

// FutureSubscription is a term already bought that has not started: what
// GitLab's client stores from future_subscriptions
// (sync_seat_link_request_worker.rb keeps it as it is, [] when absent).
type FutureSubscription struct {
	SubscriptionID string       `json:"subscription_id"`
	Plan           string       `json:"plan"`
	Seats          int64        `json:"seats"`
	StartsAt       fulfill.Date `json:"starts_at"`
	ExpiresAt      fulfill.Date `json:"expires_at"`
}

// futureSubscriptions lists the renewals of sub bought ahead of time: a
// renewal moves the subscription to its next term at once, so a
// subscription whose term starts after today is a renewal already paid
// for, while the instance still runs on the term before. Never nil: GitLab
// reads an empty list, not null.
func futureSubscriptions(sub *fulfill.Subscription, today fulfill.Date) []FutureSubscription {
	if sub.Trial || sub.State == fulfill.StateExpired || !today.Before(sub.StartsOn) {
		return []FutureSubscription{}
	}
	return []FutureSubscription{{SubscriptionID: sub.ID, Plan: sub.Plan, Seats: sub.Seats, StartsAt: sub.StartsOn, ExpiresAt: sub.EndsOn}}
}
