package jobs

import (
	"context"
	"errors"
	"time"
)

// JobTimeout is how long a job may run (River cancels its context then),
// for every kind that does not say otherwise; webhook deliveries and
// provisioning requests say 2 × integrations.RequestTimeout (20 s).
const JobTimeout = time.Minute

// RescueAfter is how long a job may stay "running" before River takes it for
// dead (its process crashed or was killed) and works it again. It must be
// longer than the longest job timeout, JobTimeout: a live job never runs
// that long. River's default is an hour.
const RescueAfter = 5 * time.Minute

// StopBound is how long a stopping server lets running jobs finish before
// it cancels them; cancelled jobs go back to the queue for a retry.
const StopBound = 30 * time.Second

// Shutdown stops softly: no new jobs are fetched, running jobs may finish
// within bound; then the rest are cancelled and handed back (River marks
// them for a retry), within a few more seconds. Start the runner with a
// context that is not cancelled on SIGTERM: cancelling River's start context
// is a hard stop.
func (r *Runner) Shutdown(bound time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	err := r.client.Stop(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	r.log.Warn("jobs still running at the end of the stop bound: cancelling them, they will be retried", "bound", bound)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	return r.client.StopAndCancel(cctx)
}
