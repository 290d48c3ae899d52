package commerce

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// DefaultRunBatch is how many subscriptions a billing run renews in one
// transaction: large enough that the commit is not the cost of a renewal,
// small enough that SQLite's single write lock is never held for long.
const DefaultRunBatch = 100

// RunSummary says what a billing run did.
type RunSummary struct {
	Day             fulfill.Date `json:"day"`
	Subscriptions   int          `json:"subscriptions"`   // renewed, expired or lapsed
	Reconciliations int          `json:"reconciliations"` // notices and charges
	Retries         int          `json:"payment_retries"`
	Recognized      int          `json:"invoices_recognized"`
	Notices         int          `json:"notices"`         // renewal, trial-ending and card-expiring notices
	StaleInstances  int          `json:"stale_instances"` // newly marked stale
	// Failed are the subscriptions whose renewal failed; the rest of the
	// run went on without them, and the next run tries them again.
	Failed []RunFailure `json:"failed,omitempty"`
}

// RunFailure is one subscription a billing run could not process.
type RunFailure struct {
	SubscriptionID string `json:"subscription_id"`
	Err            error  `json:"-"`
}

// RunOptions tune a billing run; the zero value is the default.
type RunOptions struct {
	// Batch is how many renewals share one transaction (zero:
	// DefaultRunBatch).
	Batch int
	// Progress, if set, is told how far the run got.
	Progress func(done, total int)
}

// RunDue does, right now and in order, what falls due on day: renewals and
// expiries, quarterly reconciliations, payment retries and revenue
// recognition; the same work the scheduled jobs do. progress, if set, is
// told how far it got.
func (s *Service) RunDue(ctx context.Context, day fulfill.Date, progress func(done, total int)) (*RunSummary, error) {
	return s.runDue(ctx, day, true, RunOptions{Progress: progress})
}

// RunDueWith is RunDue with options (the batch size).
func (s *Service) RunDueWith(ctx context.Context, day fulfill.Date, o RunOptions) (*RunSummary, error) {
	return s.runDue(ctx, day, true, o)
}

// RunScheduled does what falls due on day as the scheduled jobs would, in
// order and right now: RunDue, except that revenue is recognised only at a
// month end. The simulated clock's advance calls it for each day.
func (s *Service) RunScheduled(ctx context.Context, day fulfill.Date, progress func(done, total int)) (*RunSummary, error) {
	return s.runDue(ctx, day, false, RunOptions{Progress: progress})
}

// runDue renews in batches of o.Batch subscriptions, one transaction each.
// A renewal that fails takes only its batch down: the batch is done again
// one subscription at a time, so only the failing one is left out, and the
// run goes on. A run killed half way is resumed by running it again: what
// it renewed runs to a later term and is not renewed twice.
func (s *Service) runDue(ctx context.Context, day fulfill.Date, byHand bool, o RunOptions) (*RunSummary, error) {
	work, err := s.dueWork(ctx, day)
	if err != nil {
		return nil, err
	}
	progress := func(done, total int) {
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	var subs []string
	var rest []river.JobArgs
	for _, a := range work {
		if p, ok := a.(ProcessDueArgs); ok {
			subs = append(subs, p.SubscriptionID)
		} else {
			rest = append(rest, a)
		}
	}
	total := len(work) + 1
	sum := &RunSummary{Day: day}
	if err := s.finishWaitingCharges(ctx, subs); err != nil {
		return sum, err
	}
	batch := o.Batch
	if batch <= 0 {
		batch = DefaultRunBatch
	}
	for i, n := 0, 1; i < len(subs); i, n = i+batch, n+1 {
		ids := subs[i:min(i+batch, len(subs))]
		failed, err := s.processDueBatch(ctx, ids, n)
		sum.Subscriptions += len(ids) - len(failed)
		sum.Failed = append(sum.Failed, failed...)
		if err != nil {
			return sum, err
		}
		progress(i+len(ids), total)
	}
	recognized := false
	for i, a := range rest {
		switch a := a.(type) {
		case ReconcileArgs:
			err = s.Reconcile(ctx, a)
			sum.Reconciliations++
		case DunningArgs:
			err = s.ProcessDunning(ctx, a.InvoiceID)
			sum.Retries++
		case NoticeArgs:
			err = s.SendNotice(ctx, a)
			sum.Notices++
		case CardExpiryArgs:
			err = s.SendCardExpiryNotice(ctx, a)
			sum.Notices++
		case RecognizeArgs:
			sum.Recognized, err = s.RecognizeRevenue(ctx)
			recognized = true
		case StaleInstancesArgs:
			sum.StaleInstances, err = s.MarkStaleInstances(ctx)
		}
		if err != nil {
			return sum, err
		}
		progress(len(subs)+i+1, total)
	}
	// By hand, recognise revenue whatever the day.
	if byHand && !recognized {
		if sum.Recognized, err = s.RecognizeRevenue(ctx); err != nil {
			return sum, err
		}
	}
	progress(total, total)
	if len(sum.Failed) > 0 {
		f := sum.Failed[0]
		return sum, fmt.Errorf("%d of %d renewals failed (the next run tries them again); first, subscription %s: %w",
			len(sum.Failed), len(subs), f.SubscriptionID, f.Err)
	}
	return sum, nil
}

// finishWaitingCharges finishes, as their completer would, the charges of
// the due subscriptions that a process left between its phases, so the
// day's work sees each subscription as its charge left it (ProcessDue does
// the same for one subscription).
func (s *Service) finishWaitingCharges(ctx context.Context, subs []string) error {
	if len(subs) == 0 {
		return nil
	}
	waiting, err := s.DB.PendingSubscriptionAttempts(ctx)
	if err != nil || len(waiting) == 0 {
		return err
	}
	for _, id := range subs {
		for _, a := range waiting[id] {
			if err := s.CompletePayment(ctx, a); err != nil {
				return fmt.Errorf("finish the waiting charge %s of subscription %s: %w", a, id, err)
			}
		}
	}
	return nil
}

// processDueBatch renews, expires or lapses ids in one transaction, then
// charges the renewals paid by card, each in its phases. If the
// transaction fails, each subscription is done again alone, and those that
// fail alone are returned. Only the run being stopped is an error.
func (s *Service) processDueBatch(ctx context.Context, ids []string, n int) ([]RunFailure, error) {
	var pending []*store.PaymentAttempt
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		pending = pending[:0] // a rerun of the transaction starts anew
		// One statement per kind of row for the batch, not per renewal.
		if err := tx.PrefetchRenewals(ids); err != nil {
			return err
		}
		for _, id := range ids {
			a, err := s.processDueIn(tx, id)
			if err != nil {
				return fmt.Errorf("subscription %s: %w", id, err)
			}
			if a != nil {
				pending = append(pending, a)
			}
		}
		// Tests: die with the batch done but not committed.
		s.failpoint(fmt.Sprintf("billing-batch-%d", n))
		return nil
	})
	var failed []RunFailure
	if err == nil {
		for _, a := range pending {
			if _, err := s.settle(ctx, a); err != nil {
				if ctx.Err() != nil {
					return failed, ctx.Err()
				}
				failed = append(failed, RunFailure{SubscriptionID: a.SubscriptionID, Err: err})
			}
		}
		return failed, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// One renewal failed and took its batch with it: isolate it.
	for _, id := range ids {
		if err := s.ProcessDue(ctx, id); err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return failed, err
			}
			failed = append(failed, RunFailure{SubscriptionID: id, Err: err})
		}
	}
	return failed, nil
}

// ProcessDueBatchArgs is the job that renews, expires or lapses a batch of
// subscriptions whose term ended on or before Day, in one transaction; the
// scheduler enqueues one per DefaultRunBatch subscriptions.
type ProcessDueBatchArgs struct {
	SubscriptionIDs []string `json:"subscription_ids" river:"unique"`
	Day             string   `json:"day" river:"unique"`
}

// Kind names the job.
func (ProcessDueBatchArgs) Kind() string { return "subscription.process_due_batch" }

// InsertOpts makes the job unique per batch and day, so a second billing
// run on the same day adds nothing.
func (ProcessDueBatchArgs) InsertOpts() river.InsertOpts {
	return ProcessDueArgs{}.InsertOpts()
}

// ProcessDueBatch is ProcessDue for a batch, in one transaction (a failure
// isolates its subscription). It fails if any subscription failed, so the
// job is tried again: what was done is then skipped, as already renewed.
func (s *Service) ProcessDueBatch(ctx context.Context, ids []string) error {
	if err := s.finishWaitingCharges(ctx, ids); err != nil {
		return err
	}
	failed, err := s.processDueBatch(ctx, ids, 0)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d renewals failed; first, subscription %s: %w", len(failed), len(ids), failed[0].SubscriptionID, failed[0].Err)
	}
	return nil
}

// batchDue turns the day's work into jobs: the subscriptions in batches of
// DefaultRunBatch, the rest as it is.
func batchDue(work []river.JobArgs) []river.JobArgs {
	var batches []ProcessDueBatchArgs
	var rest []river.JobArgs
	for _, a := range work {
		p, ok := a.(ProcessDueArgs)
		if !ok {
			rest = append(rest, a)
			continue
		}
		if len(batches) == 0 || len(batches[len(batches)-1].SubscriptionIDs) == DefaultRunBatch {
			batches = append(batches, ProcessDueBatchArgs{Day: p.Day})
		}
		b := &batches[len(batches)-1]
		b.SubscriptionIDs = append(b.SubscriptionIDs, p.SubscriptionID)
	}
	out := make([]river.JobArgs, 0, len(batches)+len(rest))
	for _, b := range batches {
		out = append(out, b)
	}
	return append(out, rest...)
}
