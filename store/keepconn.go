package store

import (
	"context"
	"database/sql/driver"
	"fmt"

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
type keepConnector struct{ driver.Connector }

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
	return &keepConn{Conn: sc}, nil
}

// keepConn is a pgx connection whose ExecContext, while keep is set, adds
// the statement to *keep instead of running it.
type keepConn struct {
	*stdlib.Conn
	keep *[]laterStmt
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
