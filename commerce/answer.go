package commerce

import (
	"context"

	"github.com/fulfillhq/fulfill/store"
)

// An Answer is the caller's record of a request (its Idempotency-Key),
// written by the use case inside its own transactions: the answer commits
// with the change it describes, so a committed change always has its
// answer, and a crash between the two is impossible.
type Answer interface {
	// Recovery notes in tx how far the request got: past the first
	// recovery point a failure keeps the request's ids, and a retry
	// resumes the same work.
	Recovery(tx *store.Tx, point string) error
	// Finish stores the final answer for result (what the use case
	// returns) in tx.
	Finish(tx *store.Tx, result any) error
}

type answerKey struct{}

// WithAnswer gives the use cases run with ctx the request's Answer.
func WithAnswer(ctx context.Context, a Answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

// AnswerFrom is the Answer WithAnswer gave ctx, or nil.
func AnswerFrom(ctx context.Context) Answer { return answerOf(ctx) }

func answerOf(ctx context.Context) Answer {
	a, _ := ctx.Value(answerKey{}).(Answer)
	return a
}

// finish writes the request's answer, if it has a record, in tx.
func (s *Service) finish(tx *store.Tx, result any) error {
	if a := answerOf(tx.Context()); a != nil {
		return a.Finish(tx, result)
	}
	return nil
}

// recovery notes the request's recovery point, if it has a record, in tx.
func (s *Service) recovery(tx *store.Tx, point string) error {
	if a := answerOf(tx.Context()); a != nil {
		return a.Recovery(tx, point)
	}
	return nil
}

// failpointAt is a failpoint of a payment attempt's phases: it is passed
// both as name and as name:kind ("after-charge:refund").
func (s *Service) failpointAt(name string, a *store.PaymentAttempt) {
	s.failpoint(name)
	s.failpoint(name + ":" + a.Kind)
}

// failpoint lets tests kill the process at a named point.
func (s *Service) failpoint(name string) {
	if s.Failpoint != nil {
		s.Failpoint(name)
	}
}
