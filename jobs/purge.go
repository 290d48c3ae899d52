package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// How long expired or spent records are kept before the purge deletes them.
const (
	// IdempotencyRetention is how long a request can be retried with the
	// same Idempotency-Key and get the first answer (Stripe keeps keys 24
	// hours; 72 leaves a weekend).
	IdempotencyRetention = 72 * time.Hour
	// InvitationRetention keeps an expired invitation listed as expired on
	// the account page for a while before it goes.
	InvitationRetention = 30 * 24 * time.Hour
	// ThrottleRetention keeps throttle counts past the longest throttle
	// window (a day, for sign-in delays) before they go.
	ThrottleRetention = 48 * time.Hour
	// PurgeInterval is how often the purge runs.
	PurgeInterval = time.Hour
)

// PurgeArgs is the periodic job that deletes expired sessions, one-time
// tokens, invitations, old idempotency records and throttle counts. River runs periodic
// jobs on the elected leader only, so several server copies purge once.
type PurgeArgs struct{}

// Kind names the job.
func (PurgeArgs) Kind() string { return "maintenance.purge" }

// PurgeResult counts what one purge deleted.
type PurgeResult struct {
	Sessions, Tokens, Invitations, IdempotencyKeys, Throttles int64
}

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	db    *store.DB
	clock fulfill.Clock
	log   *slog.Logger
}

func (w *purgeWorker) Work(ctx context.Context, job *river.Job[PurgeArgs]) error {
	res, err := Purge(ctx, w.db, w.clock.Now())
	if res.Sessions+res.Tokens+res.Invitations+res.IdempotencyKeys+res.Throttles > 0 && w.log != nil {
		w.log.Info("purged expired records", "sessions", res.Sessions, "tokens", res.Tokens,
			"invitations", res.Invitations, "idempotency_keys", res.IdempotencyKeys, "throttles", res.Throttles)
	}
	return err
}

// Purge deletes, in bounded batches, what expired before now: sessions,
// one-time tokens, invitations (after InvitationRetention) and
// idempotency records older than IdempotencyRetention. The periodic job
// runs it only under the real clock, where business and wall time agree
// (idempotency records are stamped with wall time).
func Purge(ctx context.Context, db *store.DB, now time.Time) (PurgeResult, error) {
	var res PurgeResult
	var err error
	if res.Sessions, err = db.PurgeSessions(ctx, now); err != nil {
		return res, err
	}
	if res.Tokens, err = db.PurgeTokens(ctx, now); err != nil {
		return res, err
	}
	if res.Invitations, err = db.PurgeInvitations(ctx, now.Add(-InvitationRetention)); err != nil {
		return res, err
	}
	if res.IdempotencyKeys, err = db.PurgeIdempotencyKeys(ctx, now.Add(-IdempotencyRetention)); err != nil {
		return res, err
	}
	if res.Throttles, err = db.PurgeThrottles(ctx, now.Add(-ThrottleRetention)); err != nil {
		return res, err
	}
	return res, nil
}
