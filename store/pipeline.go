package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/fulfillhq/fulfill"
)

// On PostgreSQL every statement is a round trip, and a renewal's writes
// were most of a billing run's time waiting on them (issue 18: 46
// renewals/s). Writes whose outcome the use case does not look at (the
// event, audit, ledger and version rows, the subscription's new state, its
// license mail, a purchase's invoice and answer) are therefore sent later,
// together: execLater keeps them, in order, and the transaction sends them
// as one pgx batch (one round trip) with its next statement of any kind (a
// write run at once goes in the batch itself), and with its COMMIT. River's
// job insert, which reads none of them, is kept too (keepconn.go). Every
// statement still runs in the order the use case made it, in the same
// transaction, so what each read sees is unchanged. If a kept statement
// fails, PostgreSQL aborts the transaction: the statement that triggered
// the send fails too (or every later one does, "current transaction is
// aborted"), and InTx reports the kept statement's error, so a failure is
// still the transaction's failure, retried or rolled back as before. On
// SQLite, where a statement is a function call, execLater runs the
// statement at once.

// txConn is a transaction's statements: database/sql's transaction, and on
// PostgreSQL the connection it runs on, for sending kept statements.
type txConn struct {
	// unnumbered are invoices to number with the next batch (latenumber.go).
	unnumbered []unnumbered
	*sql.Tx
	conn  *sql.Conn // PostgreSQL writing transactions only; nil: nothing is kept
	later []laterStmt
	err   error                      // the first failure of kept statements
	trips *atomic.Int64              // counts the calls to the database (DB.WriteRoundTrips); nil: not counted
	refs  *atomic.Pointer[tableRefs] // the schema's foreign keys (latenumber.go); nil: not known
}

func (c *txConn) trip() {
	if c.trips != nil {
		c.trips.Add(1)
	}
}

type laterStmt struct {
	query string
	args  []any
	what  string // for mapErr: what a duplicate of the row is called ("" not mapped)
	// lazy, if set, makes the args once the invoice numbers are known
	// (latenumber.go).
	lazy func(numbered func(string) string) ([]any, error)
}

// execLater runs a write whose outcome the caller only passes on: at once
// on SQLite, with the next statement on PostgreSQL (see above).
func (t *Tx) execLater(query string, args ...any) error {
	return t.execLaterAs("", query, args...)
}

// execLaterAs is execLater for an insert whose duplicate is a conflict
// (mapErr, with what naming the row), whenever it runs.
func (t *Tx) execLaterAs(what, query string, args ...any) error {
	if t.tx.conn == nil {
		err := t.exec(query, args...)
		if err != nil && what != "" {
			err = mapErr(err, what)
		}
		return err
	}
	if t.tx.err != nil {
		return t.tx.err
	}
	t.tx.later = append(t.tx.later, laterStmt{query: query, args: args, what: what})
	return nil
}

// send sends the kept statements, as one batch.
func (c *txConn) send(ctx context.Context) error {
	if c.err != nil || len(c.later) == 0 {
		return c.err
	}
	return c.sendWith(ctx, nil)
}

// sendWith sends the kept statements and then, in the same batch, what
// last queues (nil: nothing) and reads its results.
func (c *txConn) sendWith(ctx context.Context, last func(*pgx.Batch) func(pgx.BatchResults) error) error {
	if c.err != nil {
		return c.err
	}
	if err := c.numberInvoices(ctx); err != nil {
		return err
	}
	later := c.later
	c.later = nil
	return c.run(ctx, later, last)
}

// run sends later and what last queues as one batch.
func (c *txConn) run(ctx context.Context, later []laterStmt, last func(*pgx.Batch) func(pgx.BatchResults) error) error {
	c.trip()
	var lastErr error
	err := c.conn.Raw(func(dc any) error {
		pc, err := pgxConn(dc)
		if err != nil {
			return err
		}
		var b pgx.Batch
		for _, s := range later {
			b.Queue(s.query, s.args...)
		}
		var read func(pgx.BatchResults) error
		if last != nil {
			read = last(&b)
		}
		br := pc.SendBatch(ctx, &b)
		for _, s := range later {
			if _, err := br.Exec(); err != nil {
				br.Close()
				if s.what != "" {
					if m := mapErr(err, s.what); fulfill.ErrorCode(m) == fulfill.EConflict {
						return m
					}
				}
				return err
			}
		}
		if read != nil {
			lastErr = read(br)
		}
		return br.Close()
	})
	if err != nil && lastErr == nil {
		c.err = fmt.Errorf("%d statements sent together: %w", len(later), err)
		return c.err
	}
	return lastErr
}

// queryRowKept runs a one-row query after the kept statements, in the
// same round trip on PostgreSQL, and scans its row into dest.
func (t *Tx) queryRowKept(dest []any, query string, args ...any) error {
	if t.tx.conn == nil || len(t.tx.later) == 0 {
		return t.tx.QueryRowContext(t.ctx, query, args...).Scan(dest...)
	}
	return t.tx.sendWith(t.ctx, func(b *pgx.Batch) func(pgx.BatchResults) error {
		b.Queue(query, args...)
		return func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(dest...)
			if errors.Is(err, pgx.ErrNoRows) {
				return sql.ErrNoRows
			}
			return err
		}
	})
}

// commit commits the transaction. On PostgreSQL the kept statements and
// the COMMIT go together, in one round trip: a row the transaction locks
// last (the invoice counter) is held one round trip less. database/sql's
// own Commit then only lets the connection go (keepTx).
func (c *txConn) commit(ctx context.Context) error {
	if c.conn == nil || len(c.later) == 0 || c.err != nil {
		if err := c.send(ctx); err != nil {
			return err
		}
		if err := c.Tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	var committed bool
	err := c.sendWith(ctx, func(b *pgx.Batch) func(pgx.BatchResults) error {
		b.Queue("COMMIT")
		return func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			if tag.String() != "COMMIT" { // "ROLLBACK": the transaction had failed
				return fmt.Errorf("commit: the transaction was rolled back (%s)", tag)
			}
			committed = true
			return nil
		}
	})
	if err != nil && !committed {
		return err
	}
	// The work is committed, and the transaction over: database/sql's
	// Commit must send nothing more.
	if err := c.conn.Raw(func(dc any) error {
		kc, ok := dc.(*keepConn)
		if !ok {
			return fmt.Errorf("not a keeping connection: %T", dc)
		}
		kc.ended = true
		return nil
	}); err != nil {
		return err
	}
	c.Tx.Commit()
	return nil
}

// ExecContext runs query after what is kept: on PostgreSQL in the same
// round trip, as the last statement of the batch.
func (c *txConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c.conn != nil && len(c.later) > 0 {
		var res sql.Result
		err := c.sendWith(ctx, func(b *pgx.Batch) func(pgx.BatchResults) error {
			b.Queue(query, args...)
			return func(br pgx.BatchResults) error {
				tag, err := br.Exec()
				res = driver.RowsAffected(tag.RowsAffected())
				return err
			}
		})
		return res, err
	}
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
		c := &txConn{Tx: tx, conn: conn, trips: &db.trips, refs: &db.refs}
		if err := fn(ctx, c); err != nil {
			tx.Rollback()
			if c.err != nil && !errors.Is(err, c.err) {
				return c.err // the cause; err is what it left aborted
			}
			return err
		}
		if err := c.commit(ctx); err != nil {
			tx.Rollback()
			return err
		}
		return nil
	})
}
