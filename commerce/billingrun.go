package commerce

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// DefaultRunBatch is how many subscriptions a billing run renews in one
// transaction: large enough that the commit is not the cost of a renewal,
// small enough that SQLite's single write lock is never held for long.
const DefaultRunBatch = 100

// DefaultRunParallel is how many batches a billing run renews at once on
// PostgreSQL, where each is a connection of its own and a batch numbers
// its invoices at its commit (store.Tx.NumberInvoicesAtCommit), so that
// the batches wait on one another only for their commits. On SQLite one
// writer runs every transaction in turn, and a run renews one batch at a
// time.
const DefaultRunParallel = 4

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
	// Parallel is how many batches are renewed at once (zero:
	// DefaultRunParallel on PostgreSQL, one on SQLite).
	Parallel int
	// Progress, if set, is told how far the run got; never by two
	// goroutines at once, and never with less done than before.
	Progress func(done, total int)
}

// parallel is how many batches o renews at once on db.
func (o RunOptions) parallel(db *store.DB) int {
	switch {
	case o.Parallel > 0:
		return o.Parallel
	case db.Dialect == store.Postgres:
		return DefaultRunParallel
	}
	return 1
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

// runDue renews in batches of o.Batch subscriptions, one transaction each,
// o.Parallel batches at once (renewBatches). A renewal that fails takes only its batch down: the batch is done again
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
	if err := s.renewBatches(ctx, day, subs, o, sum, func(done int) { progress(done, total) }); err != nil {
		return sum, err
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

// renewBatches renews subs in batches of o.Batch, o.parallel at once,
// adding to sum what they did (in the batches' order) and telling
// progress how many are done.
func (s *Service) renewBatches(ctx context.Context, day fulfill.Date, subs []string, o RunOptions, sum *RunSummary, progress func(done int)) error {
	size := o.Batch
	if size <= 0 {
		size = DefaultRunBatch
	}
	workers := o.parallel(s.DB)
	var batches [][]string
	if workers > 1 {
		custOf, err := s.DB.DueSubscriptionCustomers(ctx, day)
		if err != nil {
			return err
		}
		batches = batchesByCustomer(subs, custOf, size)
	} else {
		batches = slices.Collect(slices.Chunk(subs, size))
	}
	type outcome struct {
		ran    bool
		failed []RunFailure
		err    error
	}
	out := make([]outcome, len(batches))
	var (
		mu      sync.Mutex
		done    int
		next    atomic.Int64
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	for range min(workers, len(batches)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(batches) {
					return
				}
				failed, err := s.processDueBatch(ctx, batches[i], i+1)
				out[i] = outcome{ran: true, failed: failed, err: err}
				if err != nil { // the run is stopped
					stopped.Store(true)
					return
				}
				mu.Lock()
				done += len(batches[i])
				progress(done)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var first error
	for i, b := range batches {
		if o := out[i]; o.ran {
			sum.Subscriptions += len(b) - len(o.failed)
			sum.Failed = append(sum.Failed, o.failed...)
			if first == nil {
				first = o.err
			}
		}
	}
	return first
}

// batchesByCustomer cuts subs into batches of about size, in order, each
// customer's subscriptions in one batch (up to 4 × size: a customer with
// more spans several), so that batches renewed at once lock no customer
// twice: a batch locks its customers as it reads them ahead, and waiting
// there for another batch while holding its own rows could deadlock.
func batchesByCustomer(subs []string, custOf map[string]string, size int) [][]string {
	var batches [][]string
	batchOf := map[string]int{}
	for _, id := range subs {
		c, ok := custOf[id]
		if !ok {
			c = "sub:" + id // its customer is read when it is renewed
		}
		if k, ok := batchOf[c]; ok && len(batches[k]) < 4*size {
			batches[k] = append(batches[k], id)
			continue
		}
		if len(batches) == 0 || len(batches[len(batches)-1]) >= size {
			batches = append(batches, nil)
		}
		k := len(batches) - 1
		batches[k] = append(batches[k], id)
		batchOf[c] = k
	}
	return batches
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
		// The batch's invoices are numbered with its commit: the gapless
		// counter is one row, and a batch that took it at its first
		// invoice held it until its commit, so that batches renewed at
		// once ran one after another. Nothing in a renewal puts an
		// invoice's number anywhere but in what the transaction writes.
		tx.NumberInvoicesAtCommit()
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
