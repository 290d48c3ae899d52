package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite has one writer, and each commit writes every page the transaction
// changed to the WAL and waits for fsync (synchronous=FULL). Under load a
// purchase waited more on the commits of the purchases before it than on
// its own work, and wrote the same index and table pages again that they
// had just written. InTx's transactions on SQLite are therefore committed
// in groups, as PostgreSQL groups the WAL flushes of concurrent commits:
// one goroutine, the committer, begins a transaction and runs the use cases
// waiting for the write lock in it, one after another, each inside a
// savepoint, then commits once for all of them.
//
//   - A use case that fails (or panics) rolls back to its savepoint and
//     fails alone: nothing of it remains, and the others commit.
//   - A use case's caller returns only once the commit holding its change
//     is durable, so what it answers is as durable as before.
//   - A use case sees the changes of those before it in its group, exactly
//     as if they had committed one after another: the outcome is the one of
//     some serial order, as with one transaction each.
//   - If the group's transaction cannot commit or breaks (SQLite rolls a
//     transaction back on some I/O errors), each of its use cases runs
//     again alone, in a transaction of its own. InTx's functions may be run
//     again (PostgreSQL retries them on serialization failures).
//   - A use case runs with its context's values but not its cancellation:
//     SQLite answers an interrupted statement by rolling back the whole
//     transaction, which is the group's. A caller that gives up before its
//     use case has begun takes it out of the queue; once it has begun, the
//     caller waits for its commit.
//
// Other writes (River's, the email marks') take the write connection
// between groups, as they took it between transactions.

const (
	// groupMaxMembers bounds a group, so that the writes waiting outside
	// InTx (River fetching and completing jobs) get the lock in turn.
	groupMaxMembers = 64
	// groupMaxOpen: no use case joins a group open longer than this, which
	// bounds the latency a group adds to its first member.
	groupMaxOpen = 20 * time.Millisecond
)

// errDBClosed answers a write asked of a closed DB.
var errDBClosed = errors.New("store: database is closed")

// A committer runs SQLite's InTx transactions in groups (see above).
type committer struct {
	db      *DB
	maxOpen time.Duration // groupMaxOpen, unless a test set groupState.maxOpen
	queue   chan *groupMember
	stop    chan struct{} // closed by DB.Close
	stopped chan struct{} // closed when the committer has exited
	commits atomic.Int64  // groups committed
}

// A groupMember is one use case waiting for, or in, a group.
type groupMember struct {
	ctx   context.Context
	fn    func(context.Context, *txConn) error
	state atomic.Int32
	err   error
	panic any           // what fn panicked with, given back to its caller
	done  chan struct{} // closed when err and panic are final
}

const (
	memberQueued int32 = iota
	memberTaken
	memberAbandoned
)

func (m *groupMember) finish(err error, p any) {
	m.err, m.panic = err, p
	close(m.done)
}

// groupState is the DB's committer, started on the first write.
type groupState struct {
	once sync.Once
	c    *committer
	// maxOpen, if set before the first write, replaces groupMaxOpen (tests
	// that must not depend on how fast the machine runs a use case).
	maxOpen time.Duration
}

func (db *DB) committer() *committer {
	db.group.once.Do(func() {
		c := &committer{db: db, maxOpen: groupMaxOpen, queue: make(chan *groupMember, 256), stop: make(chan struct{}), stopped: make(chan struct{})}
		if db.group.maxOpen > 0 {
			c.maxOpen = db.group.maxOpen
		}
		db.group.c = c
		go c.loop()
	})
	return db.group.c
}

// closeCommitter stops the committer, once its group is done; the
// transactions still waiting fail.
func (db *DB) closeCommitter() {
	db.group.once.Do(func() {}) // none starts after this
	if c := db.group.c; c != nil {
		select {
		case <-c.stop:
		default:
			close(c.stop)
		}
		<-c.stopped
	}
}

// groupTx runs fn in the next group and returns once that group has
// committed (nil) or fn's own failure.
func (db *DB) groupTx(ctx context.Context, fn func(context.Context, *txConn) error) error {
	c := db.committer()
	if c == nil {
		return errDBClosed
	}
	m := &groupMember{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case c.queue <- m:
	case <-c.stop:
		return errDBClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-m.done:
	case <-ctx.Done():
		if m.state.CompareAndSwap(memberQueued, memberAbandoned) {
			return ctx.Err()
		}
		<-m.done
	case <-c.stopped:
		if m.state.CompareAndSwap(memberQueued, memberAbandoned) {
			return errDBClosed
		}
		<-m.done
	}
	if m.panic != nil {
		panic(m.panic)
	}
	return m.err
}

// A committer that always has work takes SQLite's write lock again
// microseconds after each commit, and another process waiting for it
// (`fulfill billing run` beside a busy server) finds it taken at every try
// of SQLite's busy handler, which sleeps up to 100 ms between tries, until
// its busy timeout fails it with SQLITE_BUSY. So once the committer has run
// groups back to back for yieldAfter, it leaves the lock free for yieldFor,
// longer than the handler's longest sleep: a waiting process gets it within
// yieldAfter and a try, at a cost of yieldFor in yieldAfter (5%) only while
// the committer is never idle.
const (
	yieldAfter = 2 * time.Second
	yieldFor   = 110 * time.Millisecond
)

func (c *committer) loop() {
	defer close(c.stopped)
	// busySince: since when the lock has not been left free for yieldFor.
	var busySince, lastCommit time.Time
	for {
		select {
		case m := <-c.queue:
			if now := time.Now(); now.Sub(lastCommit) >= yieldFor {
				busySince = now
			}
			c.group(m)
			lastCommit = time.Now()
			if lastCommit.Sub(busySince) >= yieldAfter {
				select {
				case <-time.After(yieldFor):
				case <-c.stop:
				}
				lastCommit = time.Now()
				busySince = lastCommit
			}
		case <-c.stop:
			for {
				select {
				case m := <-c.queue:
					if m.state.CompareAndSwap(memberQueued, memberTaken) {
						m.finish(errDBClosed, nil)
					}
				default:
					return
				}
			}
		}
	}
}

// group begins a transaction, runs first and the members queued behind it
// in it, and commits.
func (c *committer) group(first *groupMember) {
	if !first.state.CompareAndSwap(memberQueued, memberTaken) {
		return // its caller gave up
	}
	tx, err := c.db.Write.BeginTx(context.Background(), nil)
	if err != nil {
		first.finish(fmt.Errorf("begin transaction: %w", err), nil)
		return
	}
	conn := &txConn{Tx: tx, trips: &c.db.trips}
	var (
		members []*groupMember // done, to commit
		broken  error
		opened  = time.Now()
	)
	// The first member runs without a savepoint: if it fails, the
	// transaction holds nothing else, and rolls back. A savepoint keeps
	// every page its member changes in SQLite's sub-journal, which each
	// statement after it walks from the start when it ends (memjrnlTruncate:
	// a billing run's batch of renewals, the only member of its group, spent
	// 6% of its CPU there).
	if p, err := call(first, conn); err != nil || p != nil {
		tx.Rollback()
		first.finish(err, p)
		return
	}
	members = append(members, first)
	// Without a savepoint to release, nothing else tells whether the first
	// member ended the transaction (SQLite rolls back on some errors, which
	// a use case may have ignored): BEGIN fails inside a transaction, and
	// succeeds only if there is none any more; the group is then lost.
	if _, err := tx.Exec(`BEGIN`); err == nil {
		broken = errors.New("the transaction ended inside its first use case")
	}
	for broken == nil {
		m := c.next(len(members), opened)
		if m == nil {
			break
		}
		pending, err := c.run(tx, conn, m)
		if pending {
			members = append(members, m)
		}
		broken = err
	}
	if broken != nil {
		tx.Rollback()
	} else if broken = tx.Commit(); broken == nil {
		c.commits.Add(1)
		for _, m := range members {
			m.finish(nil, nil)
		}
		return
	}
	// The group is lost: each member runs again in a transaction of its own.
	slog.Warn("store: a group of write transactions was lost; each runs again alone", "transactions", len(members), "err", broken)
	for _, m := range members {
		c.alone(m)
	}
}

// next takes the next waiting member, if the group may grow.
func (c *committer) next(n int, opened time.Time) *groupMember {
	for n < groupMaxMembers && time.Since(opened) < c.maxOpen {
		select {
		case m := <-c.queue:
			if m.state.CompareAndSwap(memberQueued, memberTaken) {
				return m
			}
		default:
			return nil
		}
	}
	return nil
}

// run runs m inside a savepoint of the group's transaction. pending: m
// waits for the group's outcome (its change is in the transaction, or it
// never ran); otherwise it failed alone and has been told why. A non-nil
// error: the transaction itself failed.
func (c *committer) run(tx *sql.Tx, conn *txConn, m *groupMember) (pending bool, broken error) {
	if _, err := tx.Exec(`SAVEPOINT member`); err != nil {
		return true, err
	}
	p, err := call(m, conn)
	if err == nil && p == nil {
		if _, err := tx.Exec(`RELEASE member`); err != nil {
			return true, err
		}
		return true, nil
	}
	// m failed: undo it alone.
	_, rerr := tx.Exec(`ROLLBACK TO member`)
	if rerr == nil {
		_, rerr = tx.Exec(`RELEASE member`)
	}
	m.finish(err, p)
	return false, rerr
}

// call runs m's function, catching its panic.
func call(m *groupMember, conn *txConn) (p any, err error) {
	defer func() {
		if r := recover(); r != nil {
			p = r
		}
	}()
	return nil, m.fn(context.WithoutCancel(m.ctx), conn)
}

// alone runs m in a transaction of its own, when its group was lost (a
// failure InTx retries, it retries as for any member).
func (c *committer) alone(m *groupMember) {
	var p any
	err := c.db.txOnce(m.ctx, c.db.Write, nil, func(tx *sql.Tx) error {
		var err error
		if p, err = call(m, &txConn{Tx: tx, trips: &c.db.trips}); p != nil {
			return errors.New("panicked") // rolls back; the panic goes to the caller
		}
		return err
	})
	if p != nil {
		err = nil
	}
	m.finish(err, p)
}
