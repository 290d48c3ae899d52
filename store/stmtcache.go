package store

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"
)

// SQLite (modernc) compiles every statement it is given, and database/sql
// asks it to on every call: a profile of the purchase showed about 40% of
// the CPU in sqlite3Prepare, most of it River's large insert, fetch and
// completion statements. openSQLite's connections therefore keep the
// statements they compiled, per connection, keyed by their text, and run
// them again with new arguments. A statement whose rows are still being
// read when the same text runs again (a nested query) is not shared: that
// call compiles a statement of its own, as before.

// stmtCacheSize bounds the statements one connection keeps; the least
// recently used is closed first.
const stmtCacheSize = 256

// openSQLite opens a pool of SQLite connections to dsn that reuse their
// compiled statements.
func openSQLite(dsn string) *sql.DB {
	return sql.OpenDB(&cachingConnector{dsn: dsn, drv: registeredSQLite()})
}

// registeredSQLite is the driver registered as "sqlite": the one the
// functions registered with modernc (fulfill_sha256_hex) are given to.
func registeredSQLite() driver.Driver {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		panic(err) // the driver is linked in: cannot happen
	}
	defer db.Close()
	return db.Driver()
}

type cachingConnector struct {
	dsn string
	drv driver.Driver
}

// Connect opens one connection.
func (c *cachingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// Driver is modernc's driver.
func (c *cachingConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what database/sql uses of a modernc connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a connection that keeps its compiled statements.
type cachingConn struct {
	sqliteConn
	byText map[string]*list.Element // of *cachedStmt
	lru    *list.List               // most recently used first
}

type cachedStmt struct {
	text string
	stmt interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy    bool // its rows are open
	evicted bool // out of the cache: closed when its rows close
}

func newCachingConn(c driver.Conn) (driver.Conn, error) {
	sc, ok := c.(sqliteConn)
	if !ok {
		c.Close()
		return nil, errors.New("SQLite driver connection lacks the context methods the statement cache needs")
	}
	return &cachingConn{sqliteConn: sc, byText: map[string]*list.Element{}, lru: list.New()}, nil
}

// stmt is the connection's compiled statement for query, prepared now if
// it has none or its one is in use; cached reports whether it is shared.
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, bool, error) {
	if e, ok := c.byText[query]; ok {
		cs := e.Value.(*cachedStmt)
		if !cs.busy {
			c.lru.MoveToFront(e)
			return cs, true, nil
		}
		s, err := c.prepare(ctx, query)
		return s, false, err
	}
	cs, err := c.prepare(ctx, query)
	if err != nil {
		return nil, false, err
	}
	c.byText[query] = c.lru.PushFront(cs)
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.byText, old.text)
		if old.busy {
			old.evicted = true // closed with its rows
		} else {
			old.stmt.Close()
		}
	}
	return cs, true, nil
}

func (c *cachingConn) prepare(ctx context.Context, query string) (*cachedStmt, error) {
	s, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := s.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		s.Close()
		return nil, errors.New("SQLite driver statement lacks the context methods the statement cache needs")
	}
	return &cachedStmt{text: query, stmt: st}, nil
}

// ExecContext runs query with a compiled statement. A script (a text of
// several statements, such as a migration) is run as it is, compiled each
// time: a compiled statement is one statement.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 && strings.Contains(query, ";") {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	cs, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if !cached {
		defer cs.stmt.Close()
	}
	return cs.stmt.ExecContext(ctx, args)
}

// QueryContext runs query with a compiled statement, which stays in use
// until its rows are closed.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 && strings.Contains(query, ";") {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	cs, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	r, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		if !cached {
			cs.stmt.Close()
		}
		return nil, err
	}
	cs.busy = true
	if !cached {
		cs.evicted = true // a statement of its own, closed with its rows
	}
	return &cachedRows{Rows: r, cs: cs}, nil
}

// Close closes the connection and its statements.
func (c *cachingConn) Close() error {
	var errs []error
	for e := c.lru.Front(); e != nil; e = e.Next() {
		if cs := e.Value.(*cachedStmt); !cs.busy {
			errs = append(errs, cs.stmt.Close())
		}
	}
	c.lru.Init()
	clear(c.byText)
	return errors.Join(append(errs, c.sqliteConn.Close())...)
}

// cachedRows are the rows of a cached statement: closing them frees it.
type cachedRows struct {
	driver.Rows
	cs     *cachedStmt
	closed bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	r.cs.busy = false
	if r.cs.evicted {
		err = errors.Join(err, r.cs.stmt.Close())
	}
	return err
}

// The column type methods of modernc's rows, for sql.Rows.ColumnTypes.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
