package store

import (
	"context"
	"database/sql"
	"sync"
)

// EmailMarks writes the outcomes of sent mail in groups (group commit).
// Each Mark returns once its outcome is committed; outcomes that arrive while a group is being committed go together
// in the next transaction. On SQLite, where every commit waits for an fsync
// and there is one writer, a mail marked sent in a transaction of its own
// cost a commit each: two of the three to four a card purchase causes.
type EmailMarks struct {
	db *DB

	mu       sync.Mutex
	pending  []*markRequest
	flushing bool

	beforeFlush func(n int) // tests: runs before each group is written
}

type markRequest struct {
	EmailMark
	done chan error
}

// MarkGroup bounds how many outcomes one transaction writes.
const MarkGroup = 200

// NewEmailMarks groups the mail outcomes written to db.
func NewEmailMarks(db *DB) *EmailMarks { return &EmailMarks{db: db} }

// Mark records one mail's outcome and waits until it is committed. When
// ctx ends first, Mark returns ctx's error; the outcome may still be
// written (a retried job finds the mail sent and stops).
func (m *EmailMarks) Mark(ctx context.Context, mark EmailMark) error {
	r := &markRequest{EmailMark: mark, done: make(chan error, 1)}
	m.mu.Lock()
	m.pending = append(m.pending, r)
	if !m.flushing {
		m.flushing = true
		go m.flush()
	}
	m.mu.Unlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush writes groups until none is waiting.
func (m *EmailMarks) flush() {
	for {
		m.mu.Lock()
		n := min(len(m.pending), MarkGroup)
		if n == 0 {
			m.flushing = false
			m.mu.Unlock()
			return
		}
		group := m.pending[:n:n]
		m.pending = m.pending[n:]
		m.mu.Unlock()
		if m.beforeFlush != nil {
			m.beforeFlush(len(group))
		}
		m.write(group)
	}
}

// write commits a group in one transaction. If it fails, each outcome is
// written alone, so that one bad row (a mail deleted meanwhile) fails only
// its own job.
func (m *EmailMarks) write(group []*markRequest) {
	ctx := context.Background() // the group outlives any one caller's context
	err := m.db.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range group {
			if err := markEmail(ctx, tx, r.EmailMark); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		for _, r := range group {
			r.done <- err
		}
		return
	}
	for _, r := range group {
		r.done <- m.db.tx(ctx, func(tx *sql.Tx) error { return markEmail(ctx, tx, r.EmailMark) })
	}
}
