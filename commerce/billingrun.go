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
}

// RunDue does, right now and in order, what falls due on day: renewals and
// expiries, quarterly reconciliations, payment retries and revenue
// recognition; the same work the scheduled jobs do. progress, if set, is
// told how far it got.
func (s *Service) RunDue(ctx context.Context, day fulfill.Date, progress func(done, total int)) (*RunSummary, error) {
	subs, err := s.DB.DueSubscriptions(ctx, day)
	if err != nil {
		return nil, err
	}
	recs, err := s.dueReconciliations(ctx, day)
	if err != nil {
		return nil, err
	}
	retries, err := s.DB.DueDunning(ctx, day)
	if err != nil {
		return nil, err
	}
	total, done := len(subs)+len(recs)+len(retries)+1, 0
	step := func() {
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	sum := &RunSummary{Day: day}
	for _, id := range subs {
		if err := s.ProcessDue(ctx, id); err != nil {
			return sum, err
		}
		sum.Subscriptions++
		step()
	}
	for _, a := range recs {
		if err := s.Reconcile(ctx, a); err != nil {
			return sum, err
		}
		sum.Reconciliations++
		step()
	}
	for _, id := range retries {
		if err := s.ProcessDunning(ctx, id); err != nil {
			return sum, err
		}
		sum.Retries++
		step()
	}
	if sum.Recognized, err = s.RecognizeRevenue(ctx); err != nil {
		return sum, err
	}
	step()
	return sum, nil
}
