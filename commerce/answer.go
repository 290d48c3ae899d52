package commerce

import (
	"context"
	"fmt"

	"github.com/fulfillhq/fulfill/store"
)

// An Answer is the request's idempotency record (its Idempotency-Key) as
// the use case sees it: the use case writes the final answer inside its own
// transaction, so the answer commits with the change it describes, a
// committed change always has its answer, and a crash between the two is
// impossible. The HTTP layer makes one per request with NewAnswer and says,
// before calling the use case, how its result renders (Render).
type Answer struct {
	tokenID, key string
	// Render is the answer the handler gives for result: status, body and
	// whether result is of the kind it answers. Nil: the handler answers
	// after the use case returns, and the record is written then.
	Render     func(result any) (status int, body []byte, ok bool)
	finished   bool
	recovering bool
}

// NewAnswer is the record of the request made with the raw Idempotency-Key
// key under the API token tokenID.
func NewAnswer(tokenID, key string) *Answer { return &Answer{tokenID: tokenID, key: key} }

// Finished reports whether the final answer was written with the change.
func (a *Answer) Finished() bool { return a.finished }

// Recovering reports whether the request passed a recovery point: a failure
// after it keeps the request's ids, and a retry resumes the same work.
func (a *Answer) Recovering() bool { return a.recovering }

// Recovery notes in tx how far the request got.
func (a *Answer) Recovery(tx *store.Tx, point string) error {
	if err := tx.SetIdempotencyRecoveryPoint(a.tokenID, a.key, point); err != nil {
		return err
	}
	a.recovering = true
	return nil
}

// Finish stores the final answer for result (what the use case returns) in
// tx, as the handler will send it.
func (a *Answer) Finish(tx *store.Tx, result any) error {
	if a.Render == nil {
		return nil // the handler answers later
	}
	status, body, ok := a.Render(result)
	if !ok {
		return fmt.Errorf("idempotent answer: unexpected result %T", result)
	}
	if err := tx.FinishIdempotencyKey(a.tokenID, a.key, status, body); err != nil {
		return err
	}
	a.finished = true
	return nil
}

type answerKey struct{}

// WithAnswer gives the use cases run with ctx the request's Answer.
func WithAnswer(ctx context.Context, a *Answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

// AnswerFrom is the Answer WithAnswer gave ctx, or nil.
func AnswerFrom(ctx context.Context) *Answer { return answerOf(ctx) }

func answerOf(ctx context.Context) *Answer {
	a, _ := ctx.Value(answerKey{}).(*Answer)
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
