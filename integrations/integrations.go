// Package integrations delivers Fulfill's business events to the outside:
// signed webhooks to registered endpoints, and provisioning requests to the
// vendor's SaaS product. Both start from the transactional outbox: the event
// dispatch job fans an event out into one durable job per consumer, and each
// job retries with exponential backoff and full jitter until it succeeds or
// gives up.
package integrations

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/license"
	"github.com/fulfillhq/fulfill/store"
)

// Service runs the integration use cases.
type Service struct {
	DB *store.DB
	// Clock is business time: when deliveries are created, when a rotated
	// secret stops signing.
	Clock fulfill.Clock
	// Wall is real time, for what other machines check against their own
	// clocks (signature timestamps, token expiry) and for the attempt log.
	// Nil means the system clock, also under a simulated business clock.
	Wall fulfill.Clock
	// Keys signs provisioning tokens (the license signing key).
	Keys KeyStore
	// ProvisioningURL is the SaaS product's base URL; empty disables
	// provisioning.
	ProvisioningURL string
	// HTTP sends the requests; nil means a client that follows no
	// redirects and never dials a link-local or cloud-metadata address
	// (guard.go). Only tests set it.
	HTTP *http.Client
	// Resolver looks up hosts, at registration and when dialing; nil is
	// net.DefaultResolver.
	Resolver Resolver
	Logger   *slog.Logger
}

// KeyStore gives the active signing key.
type KeyStore interface {
	Signer() (*license.Signer, error)
}

// RequestTimeout bounds one webhook or provisioning request.
const RequestTimeout = 10 * time.Second

// ExcerptBytes is how much of a provisioning answer's body its failure
// reason keeps (the product's own error; webhook answers are not kept).
const ExcerptBytes = 1024

// MaxErrorRunes bounds the error text an attempt log keeps.
const MaxErrorRunes = 300

// SecretOverlap is how long a rotated-out secret keeps signing.
const SecretOverlap = 24 * time.Hour

func (s *Service) wall() time.Time {
	if s.Wall != nil {
		return s.Wall.Now()
	}
	return time.Now() // real time on purpose: see Wall
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

func (s *Service) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	if s.Resolver != nil {
		return guardedClient(s.Resolver)
	}
	return defaultClient
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// ---- jobs ----

// DeliverArgs is the job that makes one webhook delivery.
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job.
func (DeliverArgs) Kind() string { return "webhook.deliver" }

// InsertOpts: the retry window, not the attempt count, ends a delivery; the
// count is only a backstop.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "webhooks", MaxAttempts: 1000}
}

// ProvisionArgs is the job that sends one provisioning request.
type ProvisionArgs struct {
	SubscriptionID string `json:"subscription_id"`
	EventID        string `json:"event_id,omitempty"`
}

// Kind names the job.
func (ProvisionArgs) Kind() string { return "saas.provision" }

// InsertOpts: provisioning retries until the product confirms.
func (ProvisionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "provisioning", MaxAttempts: 1000}
}

// ---- retry schedule ----

// RetryPolicy is the backoff schedule of webhook and provisioning retries:
// attempt n waits a random time between 0 and min(Cap, Base×2^(n−1)) (full
// jitter), and a webhook delivery is retried until Window has passed since
// it was first tried, then marked failed.
type RetryPolicy struct {
	Base   time.Duration
	Cap    time.Duration
	Window time.Duration
	// NoJitter always waits the full interval, for tests that check that
	// the intervals grow.
	NoJitter bool
}

// DefaultRetry retries for three days: 30s, 1m, 2m, … up to 6h between
// attempts (before jitter), about 30 attempts in all.
var DefaultRetry = RetryPolicy{Base: 30 * time.Second, Cap: 6 * time.Hour, Window: 72 * time.Hour}

// WithDefaults fills the zero fields from DefaultRetry.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.Base <= 0 {
		p.Base = DefaultRetry.Base
	}
	if p.Cap <= 0 {
		p.Cap = DefaultRetry.Cap
	}
	if p.Cap < p.Base {
		p.Cap = p.Base
	}
	if p.Window <= 0 {
		p.Window = DefaultRetry.Window
	}
	return p
}

// Delay is the wait after failed attempt n (from 1). The jitter is a hash
// of seed and n, so the job and River's NextRetry agree on it.
func (p RetryPolicy) Delay(attempt int, seed int64) time.Duration {
	p = p.WithDefaults()
	d := p.Cap
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 40 {
		if e := p.Base << (attempt - 1); e > 0 && e < p.Cap {
			d = e
		}
	}
	if p.NoJitter {
		return d
	}
	h := fnv.New64a()
	var b [16]byte
	for i := range 8 {
		b[i] = byte(uint64(seed) >> (8 * i))
		b[8+i] = byte(uint64(attempt) >> (8 * i))
	}
	h.Write(b[:])
	frac := float64(h.Sum64()>>11) / float64(1<<53)
	return time.Duration(frac * float64(d))
}

// ---- events ----

// EventTypes is the catalogue of business events an endpoint can subscribe
// to; "*" subscribes to all, "subscription.*" to a group.
var EventTypes = []string{
	"customer.created",
	"subscription.created", "subscription.seats_changed", "subscription.plan_changed", "subscription.renewed",
	"subscription.canceled", "subscription.resumed", "subscription.restored", "subscription.expired", "subscription.lapsed",
	"subscription.add_ons_changed",
	"trial.started",
	"invoice.finalized", "invoice.paid", "invoice.voided", "invoice.uncollectible", "credit_note.issued",
	"payment.failed",
	"license.issued", "license.custom_issued",
	"instance.stale", "instance.deactivated",
	"reconciliation.upcoming", "reconciliation.done",
	"support_request.opened", "support_request.solved",
}

// provisioningEvents change what a SaaS customer may use.
var provisioningEvents = map[string]bool{
	"subscription.created": true, "subscription.seats_changed": true, "subscription.plan_changed": true,
	"subscription.renewed": true, "subscription.expired": true, "subscription.lapsed": true,
	"subscription.restored": true, "trial.started": true,
	"subscription.add_ons_changed": true,
}

func matches(patterns []string, typ string) bool {
	for _, p := range patterns {
		if p == "*" || p == typ {
			return true
		}
		if group, ok := strings.CutSuffix(p, ".*"); ok && strings.HasPrefix(typ, group+".") {
			return true
		}
	}
	return false
}

// DispatchEvents dispatches the events of one job, in order, with one
// read of the live webhook endpoints for the job: without a provisioning
// service an event goes to those endpoints only, so when none is live the
// whole job goes nowhere and no event of it is read (a purchase's job
// carries four or five). An endpoint created after that read was created
// after the events, and gets none of them (see Dispatch).
func (s *Service) DispatchEvents(ctx context.Context, ids []string) error {
	eps, err := s.DB.LiveWebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	if s.ProvisioningURL == "" && len(eps) == 0 {
		return nil
	}
	for _, id := range ids {
		if err := s.dispatch(ctx, id, eps); err != nil {
			return err
		}
	}
	return nil
}

// Dispatch hands an event to its consumers: one delivery per endpoint that
// wants it and existed when the event was recorded (an endpoint created at
// the same instant counts; later ones get it only by a replay), and a
// provisioning request when it changes a SaaS subscription. Running it
// twice for an event adds nothing.
func (s *Service) Dispatch(ctx context.Context, eventID string) error {
	eps, err := s.DB.LiveWebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	return s.dispatch(ctx, eventID, eps)
}

// dispatch is Dispatch, given the endpoints live when the event's job
// began.
func (s *Service) dispatch(ctx context.Context, eventID string, live []*store.WebhookEndpoint) error {
	ev, _, err := s.DB.EventDocument(ctx, eventID)
	if err != nil {
		return err
	}
	var sub *fulfill.Subscription
	if s.ProvisioningURL != "" && provisioningEvents[ev.Type] {
		sub, err = s.DB.Subscription(ctx, ev.SubjectID)
		if err != nil && fulfill.ErrorCode(err) != fulfill.ENotFound {
			return err
		}
		if sub != nil && sub.Kind != fulfill.KindSaaS {
			sub = nil
		}
	}
	// Most events go nowhere (no endpoint wants them, nothing to
	// provision): say so from the read of the endpoints, without taking
	// the write lock that a transaction takes on SQLite. An endpoint
	// created after that read was created after the event, and gets none
	// of it.
	if sub == nil && !slices.ContainsFunc(live, func(ep *store.WebhookEndpoint) bool { return wants(ep, ev) }) {
		return nil
	}
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		eps, err := tx.LiveWebhookEndpoints()
		if err != nil {
			return err
		}
		for _, ep := range eps {
			if !wants(ep, ev) {
				continue
			}
			d := &store.WebhookDelivery{ID: fulfill.NewID("whd"), EndpointID: ep.ID, EventID: ev.ID, EventType: ev.Type, CreatedAt: s.now()}
			added, err := tx.InsertWebhookDelivery(d)
			if err != nil {
				return err
			}
			if added {
				if err := tx.Enqueue(DeliverArgs{DeliveryID: d.ID}, nil); err != nil {
					return err
				}
			}
		}
		if sub == nil {
			return nil
		}
		added, err := tx.RequestProvision(sub.ID, sub.Namespace, ev.ID, s.now())
		if err != nil || !added {
			return err
		}
		return tx.Enqueue(ProvisionArgs{SubscriptionID: sub.ID, EventID: ev.ID}, nil)
	})
}

// wants reports whether endpoint ep gets event ev: it subscribes to its
// type and existed when the event was recorded (compared in microseconds,
// what both databases keep of a time).
func wants(ep *store.WebhookEndpoint, ev *store.Event) bool {
	return matches(ep.Events, ev.Type) && !ep.CreatedAt.Truncate(time.Microsecond).After(ev.CreatedAt.Truncate(time.Microsecond))
}

// ErrGaveUp says a delivery was marked failed and is not retried.
var ErrGaveUp = errors.New("webhook delivery failed for good")

func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// boundError shortens an error text for the attempt log.
func boundError(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if r := []rune(s); len(r) > MaxErrorRunes {
		return string(r[:MaxErrorRunes-1]) + "…"
	}
	return s
}

func excerpt(b []byte) string {
	if len(b) > ExcerptBytes {
		b = b[:ExcerptBytes]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
