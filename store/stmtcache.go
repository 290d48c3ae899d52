package store

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
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

// A statement whose LIMIT (or OFFSET) is a parameter is kept once per
// value of it: SQLite plans such a statement for the value bound when it
// was compiled, and compiles it again (sqlite3Reprepare) whenever a later
// run binds another. River's job fetch binds the number of free workers
// there, different on nearly every fetch: it was compiled again each time,
// 4% of a purchase's CPU, at about ten times the cost of a run.

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
	byText map[string]*list.Element // of *cachedStmt, by key (cacheKey)
	lru    *list.List               // most recently used first
	limits map[string]*limitParams  // of each text seen
}

// limitParam finds a LIMIT or OFFSET bound to a parameter (?N or $N).
var limitParam = regexp.MustCompile(`(?i)\b(?:LIMIT|OFFSET)\s+[?$](\d+)`)

// maxLimitVariants bounds the statements kept for one text by their LIMIT
// and OFFSET values: beyond it, a new value runs on the text's one
// statement, compiled again by SQLite as before.
const maxLimitVariants = 64

// limitParams are the LIMIT and OFFSET parameters of a text.
type limitParams struct {
	ordinals []int
	variants int // keys made for it so far
}

// cacheKey is the key of query's statement when run with args: its text,
// and the values of its LIMIT and OFFSET parameters if it has any.
func (c *cachingConn) cacheKey(query string, args []driver.NamedValue) string {
	lp := c.limits[query]
	if lp == nil {
		lp = &limitParams{}
		for _, m := range limitParam.FindAllStringSubmatch(query, -1) {
			n, _ := strconv.Atoi(m[1])
			lp.ordinals = append(lp.ordinals, n)
		}
		if len(c.limits) >= 4*stmtCacheSize {
			clear(c.limits) // texts come from the code: not reached in practice
		}
		c.limits[query] = lp
	}
	if len(lp.ordinals) == 0 {
		return query
	}
	var b strings.Builder
	b.WriteString(query)
	for _, n := range lp.ordinals {
		b.WriteByte(0)
		for _, a := range args {
			if a.Ordinal == n {
				fmt.Fprint(&b, a.Value)
			}
		}
	}
	key := b.String()
	if _, kept := c.byText[key]; !kept {
		if lp.variants >= maxLimitVariants {
			return query
		}
		lp.variants++
	}
	return key
}

type cachedStmt struct {
	key  string // in cachingConn.byText
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
	return &cachingConn{sqliteConn: sc, byText: map[string]*list.Element{}, lru: list.New(), limits: map[string]*limitParams{}}, nil
}

// stmt is the connection's compiled statement for query run with args,
// prepared now if it has none or its one is in use; cached reports whether
// it is shared.
func (c *cachingConn) stmt(ctx context.Context, query string, args []driver.NamedValue) (*cachedStmt, bool, error) {
	key := c.cacheKey(query, args)
	if e, ok := c.byText[key]; ok {
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
	cs.key = key
	c.byText[key] = c.lru.PushFront(cs)
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.byText, old.key)
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
	return &cachedStmt{stmt: st}, nil
}

// ExecContext runs query with a compiled statement. A script (a text of
// several statements, such as a migration) is run as it is, compiled each
// time: a compiled statement is one statement.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 && strings.Contains(query, ";") {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	cs, cached, err := c.stmt(ctx, query, args)
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
	cs, cached, err := c.stmt(ctx, query, args)
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
