package commerce

import (
	"context"

	"github.com/fulfillhq/fulfill"
)

// RunSummary says what a billing run did.
type RunSummary struct {
	Day             fulfill.Date `json:"day"`
	Subscriptions   int          `json:"subscriptions"`   // renewed, expired or lapsed
	Reconciliations int          `json:"reconciliations"` // notices and charges
	Retries         int          `json:"payment_retries"`
	Recognized      int          `json:"invoices_recognized"`
	Notices         int          `json:"notices"` // renewal and trial-ending notices
}

// RunDue does, right now and in order, what falls due on day: renewals and
// expiries, quarterly reconciliations, payment retries and revenue
// recognition; the same work the scheduled jobs do. progress, if set, is
// told how far it got.
func (s *Service) RunDue(ctx context.Context, day fulfill.Date, progress func(done, total int)) (*RunSummary, error) {
	return s.runDue(ctx, day, true, progress)
}

// RunScheduled does what falls due on day as the scheduled jobs would, in
// order and right now: RunDue, except that revenue is recognised only at a
// month end. The simulated clock's advance calls it for each day.
func (s *Service) RunScheduled(ctx context.Context, day fulfill.Date, progress func(done, total int)) (*RunSummary, error) {
	return s.runDue(ctx, day, false, progress)
}

func (s *Service) runDue(ctx context.Context, day fulfill.Date, byHand bool, progress func(done, total int)) (*RunSummary, error) {
	work, err := s.dueWork(ctx, day)
	if err != nil {
		return nil, err
	}
	sum := &RunSummary{Day: day}
	recognized := false
	for i, a := range work {
		switch a := a.(type) {
		case ProcessDueArgs:
			err = s.ProcessDue(ctx, a.SubscriptionID)
			sum.Subscriptions++
		case ReconcileArgs:
			err = s.Reconcile(ctx, a)
			sum.Reconciliations++
		case DunningArgs:
			err = s.ProcessDunning(ctx, a.InvoiceID)
			sum.Retries++
		case NoticeArgs:
			err = s.SendNotice(ctx, a)
			sum.Notices++
		case RecognizeArgs:
			sum.Recognized, err = s.RecognizeRevenue(ctx)
			recognized = true
		}
		if err != nil {
			return sum, err
		}
		if progress != nil {
			progress(i+1, len(work)+1)
		}
	}
	// By hand, recognise revenue whatever the day.
	if byHand && !recognized {
		if sum.Recognized, err = s.RecognizeRevenue(ctx); err != nil {
			return sum, err
		}
	}
	if progress != nil {
		progress(len(work)+1, len(work)+1)
	}
	return sum, nil
}
