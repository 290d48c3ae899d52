package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/store"
)

// eventWorker hands an event from the outbox to its consumers: webhook
// endpoints and SaaS provisioning.
type eventWorker struct {
	river.WorkerDefaults[store.EventArgs]
	in *integrations.Service
}

// Work dispatches the job's events in order. A retry dispatches them all
// again: Dispatch records each delivery and provisioning request once.
func (w *eventWorker) Work(ctx context.Context, job *river.Job[store.EventArgs]) error {
	return w.in.DispatchEvents(ctx, job.Args.IDs())
}

// webhookWorker makes one delivery attempt. River's retries run on real
// time, on the schedule of the retry policy; the delivery fails for good
// on the first failed attempt after the policy's window.
type webhookWorker struct {
	river.WorkerDefaults[integrations.DeliverArgs]
	in    *integrations.Service
	retry integrations.RetryPolicy
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[integrations.DeliverArgs]) error {
	var elapsed time.Duration
	if job.AttemptedAt != nil {
		elapsed = job.AttemptedAt.Sub(job.CreatedAt)
	}
	at := integrations.Attempt{
		Final: elapsed >= w.retry.Window || job.Attempt >= job.MaxAttempts,
		Delay: w.retry.Delay(job.Attempt, job.ID),
	}
	err := w.in.Deliver(ctx, job.Args.DeliveryID, at)
	if errors.Is(err, integrations.ErrGaveUp) {
		return river.JobCancel(err)
	}
	return err
}

func (w *webhookWorker) NextRetry(job *river.Job[integrations.DeliverArgs]) time.Time {
	return time.Now().Add(w.retry.Delay(job.Attempt, job.ID))
}

func (w *webhookWorker) Timeout(*river.Job[integrations.DeliverArgs]) time.Duration {
	return 2 * integrations.RequestTimeout
}

// provisionWorker sends one provisioning request; it retries on the same
// schedule until the product confirms.
type provisionWorker struct {
	river.WorkerDefaults[integrations.ProvisionArgs]
	in    *integrations.Service
	retry integrations.RetryPolicy
}

func (w *provisionWorker) Work(ctx context.Context, job *river.Job[integrations.ProvisionArgs]) error {
	return w.in.Provision(ctx, job.Args.SubscriptionID, job.Args.EventID)
}

func (w *provisionWorker) NextRetry(job *river.Job[integrations.ProvisionArgs]) time.Time {
	return time.Now().Add(w.retry.Delay(job.Attempt, job.ID))
}

func (w *provisionWorker) Timeout(*river.Job[integrations.ProvisionArgs]) time.Duration {
	return 2 * integrations.RequestTimeout
}
