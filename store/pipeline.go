package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// On PostgreSQL every statement is a round trip, and a renewal's writes
// were most of a billing run's time waiting on them (issue 18: 46
// renewals/s). Writes whose outcome the use case does not look at (the
// event, audit, ledger and version rows, the subscription's new state, its
// license mail) are therefore sent later, together: execLater keeps them,
// in order, and the transaction sends them as one pgx batch (one round
// trip) just before its next read or write of any kind, before River
// inserts its jobs and before it commits. Every statement still runs in
// the order the use case made it, in the same transaction, so what each
// read sees is unchanged. If a kept statement fails, PostgreSQL aborts the
// transaction: the statement that triggered the send fails too (or every
// later one does, "current transaction is aborted"), and InTx reports the
// kept statement's error, so a failure is still the transaction's failure,
// retried or rolled back as before. On SQLite, where a statement is a
// function call, execLater runs the statement at once.
//
// A transaction that keeps many statements (a billing run's batch of
// renewals keeps a few thousand, reading nothing between them) sends them
// ahead, sendAhead at a time, in the background: while PostgreSQL runs one
// lot, the use case computes the next, instead of waiting for the whole
// batch at its end. Only one lot is in flight, the connection is used by
// nothing else meanwhile (every other statement, River's inserts, the
// commit and the rollback first wait for it), and the order of the
// statements is unchanged; a failure in a lot sent ahead is the
// transaction's failure, reported by its next statement or its commit.

// sendAhead is how many kept statements are sent ahead in the background.
const sendAhead = 256

// txConn is a transaction's statements: database/sql's transaction, and on
// PostgreSQL the connection it runs on, for sending kept statements.
type txConn struct {
	*sql.Tx
	conn  *sql.Conn // PostgreSQL writing transactions only; nil: nothing is kept
	later []laterStmt
	err   error // the first failure of kept statements
	// inflight is closed when the lot sent ahead is done (nil: none), its
	// failure in aheadErr.
	inflight chan struct{}
	aheadErr error
	trips    *atomic.Int64 // counts the calls to the database (DB.WriteRoundTrips); nil: not counted
}

func (c *txConn) trip() {
	if c.trips != nil {
		c.trips.Add(1)
	}
}

type laterStmt struct {
	query string
	args  []any
}

// execLater runs a write whose outcome the caller only passes on: at once
// on SQLite, with the next statement on PostgreSQL (see above).
func (t *Tx) execLater(query string, args ...any) error {
	if t.tx.conn == nil {
		return t.exec(query, args...)
	}
	if t.tx.err != nil {
		return t.tx.err
	}
	t.tx.later = append(t.tx.later, laterStmt{query, args})
	if len(t.tx.later) >= sendAhead {
		t.tx.sendInBackground(t.ctx)
	}
	return nil
}

// sendInBackground sends the kept statements ahead, once the lot before
// them is done.
func (c *txConn) sendInBackground(ctx context.Context) {
	if c.wait() != nil {
		return
	}
	later := c.later
	c.later = nil
	c.trip()
	done := make(chan struct{})
	c.inflight = done
	go func() {
		defer close(done)
		c.aheadErr = c.sendNow(ctx, later)
	}()
}

// wait waits for the lot sent ahead, if any, and returns the first failure
// of kept statements.
func (c *txConn) wait() error {
	if c.inflight != nil {
		<-c.inflight
		c.inflight = nil
		if c.aheadErr != nil && c.err == nil {
			c.err = fmt.Errorf("statements sent ahead: %w", c.aheadErr)
		}
	}
	return c.err
}

// send sends the kept statements, as one batch.
func (c *txConn) send(ctx context.Context) error {
	if c.wait() != nil || len(c.later) == 0 {
		return c.err
	}
	later := c.later
	c.later = nil
	c.trip()
	if err := c.sendNow(ctx, later); err != nil {
		c.err = fmt.Errorf("%d statements sent together: %w", len(later), err)
	}
	return c.err
}

// sendNow sends later as one pgx batch on the transaction's connection.
func (c *txConn) sendNow(ctx context.Context, later []laterStmt) error {
	return c.conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		var b pgx.Batch
		for _, s := range later {
			b.Queue(s.query, s.args...)
		}
		return pc.Conn().SendBatch(ctx, &b).Close()
	})
}

// ExecContext sends what is kept, then runs query.
func (c *txConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := c.send(ctx); err != nil {
		return nil, err
	}
	c.trip()
	return c.Tx.ExecContext(ctx, query, args...)
}

// QueryContext sends what is kept, then runs query.
func (c *txConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := c.send(ctx); err != nil {
		return nil, err
	}
	c.trip()
	return c.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext sends what is kept, then runs query. If the kept
// statements failed, PostgreSQL has aborted the transaction and query fails
// as well; InTx reports the first failure.
func (c *txConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c.send(ctx)
	c.trip()
	return c.Tx.QueryRowContext(ctx, query, args...)
}

// writeTx is db.tx for InTx: on PostgreSQL the transaction runs on a
// connection of its own, so that kept statements can be sent on it; on
// SQLite it commits in a group (group.go). fn runs with the context its
// statements must use.
func (db *DB) writeTx(ctx context.Context, fn func(context.Context, *txConn) error) error {
	db.writeTxs.Add(1)
	if db.Dialect != Postgres {
		return db.retry(ctx, func() error { return db.groupTx(ctx, fn) })
	}
	return db.retry(ctx, func() error {
		conn, err := db.Write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		defer conn.Close()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		// A panic in fn rolls back before the connection is closed (the
		// open transaction would make Close wait for ever), then goes on.
		defer rollbackOnPanic(tx)
		c := &txConn{Tx: tx, conn: conn, trips: &db.trips}
		defer c.wait() // nothing sent ahead outlives the transaction
		err = fn(ctx, c)
		c.wait()
		if err != nil {
			tx.Rollback()
			if c.err != nil && !errors.Is(err, c.err) {
				return c.err // the cause; err is what it left aborted
			}
			return err
		}
		if err := c.send(ctx); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}
