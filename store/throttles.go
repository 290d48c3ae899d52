package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// This file holds the throttles that every copy of the server shares:
// counts of events per key (failed sign-ins per account and address,
// sign-ups per address, mails per recipient) in fixed windows, kept in the
// database so that N copies allow what one copy allows.

// Hits is what a throttle key has seen in its current window.
type Hits struct {
	Count     int64     // events in the window that holds now
	WindowEnd time.Time // when the count starts again from zero
	Last      time.Time // the latest event; zero when Count is 0
}

// windowStart is the start of the fixed window of length w that holds now.
func windowStart(now time.Time, w time.Duration) time.Time {
	return now.UTC().Truncate(w)
}

// Hit counts one event for key in the window of length w that holds now and
// returns the counts including it. It is one statement, so concurrent hits
// from several copies are all counted.
func (db *DB) Hit(ctx context.Context, key string, w time.Duration, now time.Time) (Hits, error) {
	start := windowStart(now, w)
	var n int64
	err := db.Write.QueryRowContext(ctx, `INSERT INTO throttles (key, window_start, hits, last_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (key) DO UPDATE SET
			hits = CASE WHEN throttles.window_start = excluded.window_start THEN throttles.hits + 1 ELSE 1 END,
			window_start = excluded.window_start, last_at = excluded.last_at
		RETURNING hits`, key, start, now.UTC()).Scan(&n)
	if err != nil {
		return Hits{}, err
	}
	return Hits{Count: n, WindowEnd: start.Add(w), Last: now.UTC()}, nil
}

// HitsOf reads key's counts in the window of length w that holds now,
// without counting an event.
func (db *DB) HitsOf(ctx context.Context, key string, w time.Duration, now time.Time) (Hits, error) {
	start := windowStart(now, w)
	var h Hits
	var ws time.Time
	err := db.Read.QueryRowContext(ctx, `SELECT window_start, hits, last_at FROM throttles WHERE key = $1`, key).
		Scan(&ws, &h.Count, &h.Last)
	if errors.Is(err, sql.ErrNoRows) {
		return Hits{WindowEnd: start.Add(w)}, nil
	}
	if err != nil {
		return Hits{}, err
	}
	if !ws.Equal(start) {
		return Hits{WindowEnd: start.Add(w)}, nil
	}
	h.WindowEnd = start.Add(w)
	return h, nil
}

// ClearHits forgets the counts of keys (after a successful sign-in, say).
func (db *DB) ClearHits(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if _, err := db.Write.ExecContext(ctx, `DELETE FROM throttles WHERE key = $1`, k); err != nil {
			return err
		}
	}
	return nil
}

// PurgeThrottles removes counts whose window started before before; it
// returns how many it removed.
func (db *DB) PurgeThrottles(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.Write.ExecContext(ctx, `DELETE FROM throttles WHERE window_start < $1`, before.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
