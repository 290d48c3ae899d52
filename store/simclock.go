package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill"
)

// ClockState is the stored simulated clock (table sim_clock).
type ClockState struct {
	// Today is the simulated date.
	Today fulfill.Date
	// AdvanceTo is the target of an advance under way, or of one a crash
	// interrupted; nil when none.
	AdvanceTo *fulfill.Date
	// LeaseOwner is the advance request holding the clock until LeaseUntil.
	LeaseOwner string
	LeaseUntil time.Time
}

// Leased reports whether an advance holds the clock at now.
func (s *ClockState) Leased(now time.Time) bool {
	return s.LeaseOwner != "" && now.Before(s.LeaseUntil)
}

const clockCols = `SELECT today, advance_to, COALESCE(lease_owner, ''), lease_until FROM sim_clock WHERE id = 1`

func scanClock(row *sql.Row) (*ClockState, error) {
	var s ClockState
	var until int64
	if err := row.Scan(&s.Today, &s.AdvanceTo, &s.LeaseOwner, &until); err != nil {
		return nil, err
	}
	s.LeaseUntil = time.UnixMilli(until).UTC()
	return &s, nil
}

// ClockState returns the stored simulated clock, or nil when the database
// has none (it was only ever served on the real clock).
func (db *DB) ClockState(ctx context.Context) (*ClockState, error) {
	s, err := scanClock(db.Write.QueryRowContext(ctx, clockCols))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the simulated clock: %w", err)
	}
	return s, nil
}

// InitClock stores a simulated clock at start unless the database already
// has one, and returns the clock stored: a later stored date stands.
func (db *DB) InitClock(ctx context.Context, start fulfill.Date) (*ClockState, error) {
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO sim_clock (id, today) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, start); err != nil {
		return nil, fmt.Errorf("store the simulated clock: %w", err)
	}
	s, err := db.ClockState(ctx)
	if err == nil && s == nil {
		err = errors.New("the simulated clock row is missing after insert")
	}
	return s, err
}

// BeginAdvance records that owner moves the clock to target, holding the
// clock until leaseUntil. It fails with a conflict while another advance
// holds an unexpired lease, and when target is before the stored date.
// It returns the clock as it was.
func (db *DB) BeginAdvance(ctx context.Context, owner string, target fulfill.Date, now, leaseUntil time.Time) (*ClockState, error) {
	var prev *ClockState
	err := db.InTx(ctx, func(t *Tx) error {
		s, err := scanClock(t.tx.QueryRowContext(t.ctx, clockCols+t.lock(" FOR UPDATE")))
		if err != nil {
			return mapErr(err, "Simulated clock")
		}
		if s.Leased(now) {
			to := "a later date"
			if s.AdvanceTo != nil {
				to = s.AdvanceTo.String()
			}
			return fulfill.Errorf(fulfill.EConflict, "An advance of the clock to %s is under way; try again when it has finished.", to)
		}
		if target.Before(s.Today) {
			return fulfill.FieldError(fulfill.EOutOfRange, "to", "The clock is at %s and never moves back.", s.Today)
		}
		prev = s
		_, err = t.tx.ExecContext(t.ctx, `UPDATE sim_clock SET advance_to = $1, lease_owner = $2, lease_until = $3 WHERE id = 1`,
			target, owner, leaseUntil.UnixMilli())
		return err
	})
	return prev, err
}

// StepClock moves the clock of owner's advance forward to day and extends
// its lease. It fails with a conflict when owner no longer holds the lease.
func (db *DB) StepClock(ctx context.Context, owner string, day fulfill.Date, leaseUntil time.Time) error {
	return db.leaseUpdate(ctx, `UPDATE sim_clock SET today = $1, lease_until = $2 WHERE id = 1 AND lease_owner = $3 AND today <= $1`,
		day, leaseUntil.UnixMilli(), owner)
}

// RenewClockLease extends the lease of owner's advance.
func (db *DB) RenewClockLease(ctx context.Context, owner string, leaseUntil time.Time) error {
	return db.leaseUpdate(ctx, `UPDATE sim_clock SET lease_until = $1 WHERE id = 1 AND lease_owner = $2`, leaseUntil.UnixMilli(), owner)
}

// EndAdvance releases owner's lease; done clears the target too, while an
// advance that failed keeps it on record as interrupted.
func (db *DB) EndAdvance(ctx context.Context, owner string, done bool) error {
	q := `UPDATE sim_clock SET lease_owner = NULL, lease_until = 0 WHERE id = 1 AND lease_owner = $1`
	if done {
		q = `UPDATE sim_clock SET advance_to = NULL, lease_owner = NULL, lease_until = 0 WHERE id = 1 AND lease_owner = $1`
	}
	_, err := db.Write.ExecContext(ctx, q, owner)
	if err != nil {
		return fmt.Errorf("end the clock advance: %w", err)
	}
	return nil
}

func (db *DB) leaseUpdate(ctx context.Context, q string, args ...any) error {
	res, err := db.Write.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("move the simulated clock: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("move the simulated clock: %w", err)
	} else if n == 0 {
		return fulfill.Errorf(fulfill.EConflict, "Another request took over this advance of the clock.")
	}
	return nil
}

// SimClock is the simulated clock stored in the database, shared by every
// copy of the server: Now reads the stored date each time, so an advance by
// one copy is seen by the others at their next reading. It reads through a
// small pool of its own, never one a transaction may be holding, so a
// reading inside a transaction cannot wait for ever on an exhausted pool.
type SimClock struct {
	db   *DB
	mu   sync.Mutex
	last time.Time
}

// SimClock returns the database's simulated clock. The row must exist
// (InitClock).
func (db *DB) SimClock() *SimClock { return &SimClock{db: db} }

// Now returns the stored date at midnight UTC. If the database cannot be
// read it returns the last date read (the clock never moves back).
func (c *SimClock) Now() time.Time {
	var d fulfill.Date
	pool, err := c.db.clockReader()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = pool.QueryRowContext(ctx, `SELECT today FROM sim_clock WHERE id = 1`).Scan(&d)
		cancel()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && d.Time().After(c.last) {
		c.last = d.Time()
	}
	return c.last
}

// Set moves the last date read forward to t; the stored date is moved by
// StepClock.
func (c *SimClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.last) {
		c.last = t.UTC()
	}
}

func (db *DB) clockReader() (*sql.DB, error) {
	db.clockMu.Lock()
	defer db.clockMu.Unlock()
	if db.clockPool != nil {
		return db.clockPool, nil
	}
	if db.clockDriver == "" {
		return db.Read, nil
	}
	p, err := sql.Open(db.clockDriver, db.clockDSN)
	if err != nil {
		return nil, err
	}
	p.SetMaxOpenConns(4)
	p.SetMaxIdleConns(4)
	db.clockPool = p
	return p, nil
}
