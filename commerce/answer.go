package commerce

import (
	"context"
	"fmt"
	"time"

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
	// claim, when set, is the record still to be made: the first
	// transaction that notes the request's progress makes it (inTx), and
	// it exists once that transaction commits.
	claim *Claim
	inTx  *store.Tx
}

// A Claim is the idempotency record of a request whose key had none: it is
// made in the use case's first transaction, with its change, rather than in
// one of its own before the use case runs.
type Claim struct {
	Hash, Seed string
	At         time.Time
}

// NewAnswer is the record of the request made with the raw Idempotency-Key
// key under the API token tokenID.
func NewAnswer(tokenID, key string) *Answer { return &Answer{tokenID: tokenID, key: key} }

// NewClaimingAnswer is the answer of a request whose key has no record
// yet: see Claim. A use case that finds the key recorded by another request
// meanwhile fails with store.ErrIdempotencyKeyTaken, changing nothing.
func NewClaimingAnswer(tokenID, key string, c Claim) *Answer {
	return &Answer{tokenID: tokenID, key: key, claim: &c}
}

// Claimed reports whether the request's record exists: it was made before
// the request ran, or by a transaction of its use case that committed.
func (a *Answer) Claimed() bool { return a.claim == nil }

// claimIn makes the record in tx, once per transaction, if it is still to
// be made.
func (a *Answer) claimIn(tx *store.Tx) error {
	if a.claim == nil || a.inTx == tx {
		return nil
	}
	if err := tx.ClaimIdempotencyKeyTx(a.tokenID, a.key, a.claim.Hash, a.claim.Seed, a.claim.At); err != nil {
		return err
	}
	a.inTx = tx
	tx.AfterCommit(func() { a.claim = nil })
	return nil
}

// Finished reports whether the final answer was written with the change.
func (a *Answer) Finished() bool { return a.finished }

// Recovering reports whether the request passed a recovery point: a failure
// after it keeps the request's ids, and a retry resumes the same work.
func (a *Answer) Recovering() bool { return a.recovering }

// Recovery notes in tx how far the request got.
func (a *Answer) Recovery(tx *store.Tx, point string) error {
	if err := a.claimIn(tx); err != nil {
		return err
	}
	if err := tx.SetIdempotencyRecoveryPoint(a.tokenID, a.key, point); err != nil {
		return err
	}
	a.recovering = true
	return nil
}

// Finish stores the final answer for result (what the use case returns) in
// tx, as the handler will send it.
func (a *Answer) Finish(tx *store.Tx, result any) error {
	if err := a.claimIn(tx); err != nil {
		return err
	}
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
