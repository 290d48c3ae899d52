package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// River inserts a transaction's jobs through database/sql, one statement
// (and now and then a NOTIFY) that reads nothing the transaction wrote. On
// PostgreSQL that statement is kept with the transaction's other kept
// writes (pipeline.go) and goes with them and the COMMIT, in one round
// trip: a purchase enqueues its jobs after it takes the invoice number,
// and the counter's row was held one round trip longer for River's. The
// pool's connections are pgx's, wrapped so that a transaction can tell its
// connection to keep what River runs (keepConn).

// keepConnector makes the pool's connections keepConns.
type keepConnector struct {
	driver.Connector
	ends *atomic.Int64 // COMMITs and ROLLBACKs sent on their own (keepTx)
}

// Connect opens a connection.
func (k keepConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := k.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := c.(*stdlib.Conn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("not a pgx connection: %T", c)
	}
	return &keepConn{Conn: sc, ends: k.ends}, nil
}

// keepConn is a pgx connection whose ExecContext, while keep is set, adds
// the statement to *keep instead of running it.
type keepConn struct {
	*stdlib.Conn
	keep *[]laterStmt
	// ended: the transaction's COMMIT went with its kept writes
	// (txConn.commit), so its own Commit has nothing left to send.
	ended bool
	ends  *atomic.Int64
}

// BeginTx begins a transaction whose end keepTx may skip.
func (c *keepConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.ended = false
	return &keepTx{Tx: tx, c: c}, nil
}

// A write transaction that keeps writes sends them with its COMMIT, in one
// batch (pipeline.go). database/sql then calls Commit; a keepTx answers it
// without a round trip when that batch has already ended the transaction,
// where it used to open an empty transaction in the batch only for this
// Commit to end: a fourth round trip of a seat link's four. pgx keeps no
// state about the transaction besides the server's status, which the
// batch's COMMIT left idle, so the connection goes back to the pool as
// after any commit.
type keepTx struct {
	driver.Tx
	c *keepConn
}

// Commit commits, unless the transaction has been committed already.
func (t *keepTx) Commit() error { return t.end(t.Tx.Commit) }

// Rollback rolls back, unless the transaction has been committed already
// (database/sql rolls back a transaction whose context ends before its
// Commit; the work was durable by then).
func (t *keepTx) Rollback() error { return t.end(t.Tx.Rollback) }

func (t *keepTx) end(send func() error) error {
	if t.c.ended {
		t.c.ended = false
		return nil
	}
	if t.c.ends != nil {
		t.c.ends.Add(1)
	}
	return send()
}

// ExecContext runs query, or keeps it (see keepConn).
func (c *keepConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.keep == nil {
		return c.Conn.ExecContext(ctx, query, args)
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	*c.keep = append(*c.keep, laterStmt{query: query, args: vals})
	return driver.RowsAffected(0), nil
}

// pgxConn is the pgx connection under a pool connection (database/sql's
// Conn.Raw).
func pgxConn(dc any) (*pgx.Conn, error) {
	switch c := dc.(type) {
	case *keepConn:
		return c.Conn.Conn(), nil
	case *stdlib.Conn:
		return c.Conn(), nil
	}
	return nil, fmt.Errorf("not a pgx connection: %T", dc)
}

// keeping runs fn with the transaction's connection keeping the
// statements fn executes through database/sql (River's insert), to be sent
// with the kept writes. On SQLite, or outside a writing transaction, fn
// runs as it is.
func (c *txConn) keeping(fn func() error) error {
	if c.conn == nil {
		c.trip()
		return fn()
	}
	set := func(keep *[]laterStmt) error {
		return c.conn.Raw(func(dc any) error {
			kc, ok := dc.(*keepConn)
			if !ok {
				return fmt.Errorf("not a keeping connection: %T", dc)
			}
			kc.keep = keep
			return nil
		})
	}
	if err := set(&c.later); err != nil {
		return err
	}
	defer set(nil)
	return fn()
}
