package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fulfillhq/fulfill"
)

// LicenseKeyIDs returns the key id of the newest license issued (empty when
// there is none) and every key id that has signed a license.
func (db *DB) LicenseKeyIDs(ctx context.Context) (newest string, all []string, err error) {
	rows, err := db.Read.QueryContext(ctx, licenseKeysQuery)
	if err != nil {
		return "", nil, fmt.Errorf("read the licenses' keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kid string
		if err := rows.Scan(&kid); err != nil {
			return "", nil, fmt.Errorf("read the licenses' keys: %w", err)
		}
		if newest == "" {
			newest = kid
		}
		all = append(all, kid)
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("read the licenses' keys: %w", err)
	}
	slices.Sort(all)
	return newest, all, nil
}

// licenseKeysQuery lists each key that signed a license, the key of the
// newest license first (newest by issued_at, then id). It walks the index
// licenses_kid_issued from one key to the next (k) and orders the keys by
// their newest license, a few index entries per key: the cost of a start
// does not grow with the number of licenses.
const licenseKeysQuery = `WITH RECURSIVE k (kid) AS (
		SELECT MIN(kid) FROM licenses
		UNION ALL
		SELECT (SELECT l.kid FROM licenses l WHERE l.kid > k.kid ORDER BY l.kid LIMIT 1) FROM k WHERE k.kid IS NOT NULL
	)
	SELECT k.kid FROM k WHERE k.kid IS NOT NULL ORDER BY
		(SELECT l.issued_at FROM licenses l WHERE l.kid = k.kid ORDER BY l.issued_at DESC, l.id DESC LIMIT 1) DESC,
		(SELECT l.id FROM licenses l WHERE l.kid = k.kid ORDER BY l.issued_at DESC, l.id DESC LIMIT 1) DESC`

// RetryAfterSeconds is what a client is told to wait (Retry-After) when the
// database cannot be reached.
const RetryAfterSeconds = 5

// Unavailable reports whether err says the database cannot be reached now
// (rather than that a statement failed): a failed connect, a network error,
// a connection the server dropped or is shutting down, or a deadline that
// ran out while waiting for a connection. It is the one place that decides
// this; Classify uses it.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr *net.OpError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01–57P03: the server is
		// shutting down, crashed or is not yet accepting connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// Classify turns a failure to reach the database into a
// fulfill.EUnavailable error (503 with Retry-After) that still wraps, and
// so logs, the cause. Any other error is returned as it is.
func Classify(err error) error {
	if err == nil || fulfill.ErrorCode(err) != fulfill.EInternal || !Unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", fulfill.Errorf(fulfill.EUnavailable,
		"The database cannot be reached just now; retry in %d seconds.", RetryAfterSeconds), err)
}

// Ready says whether the database answers and its schema is current, in
// words an operator can act on.
func (db *DB) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := db.Write.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if err := db.CheckSchema(ctx); err != nil {
		if Unavailable(err) {
			return fmt.Errorf("database unreachable: %w", err)
		}
		return err
	}
	return nil
}

// Durability says how the database could lose acknowledged commits in a
// crash, one reason a line, or nil when it would not: PostgreSQL with
// synchronous_commit or fsync off, SQLite not in WAL mode with
// synchronous=FULL (or EXTRA).
func (db *DB) Durability(ctx context.Context) error {
	var problems []string
	if db.Dialect == Postgres {
		for _, name := range []string{"synchronous_commit", "fsync"} {
			var v string
			if err := db.Write.QueryRowContext(ctx, "SHOW "+name).Scan(&v); err != nil {
				return fmt.Errorf("read the PostgreSQL setting %s: %w", name, err)
			}
			if v == "off" {
				where := "postgresql.conf"
				if name == "synchronous_commit" {
					where = "postgresql.conf, or ALTER DATABASE/ROLE … SET, or the URL's options"
				}
				problems = append(problems, fmt.Sprintf("PostgreSQL runs with %s = off (set it on in %s)", name, where))
			}
		}
	} else {
		var mode string
		var sync int
		if err := db.Write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			return fmt.Errorf("read SQLite's journal_mode: %w", err)
		}
		if err := db.Write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			return fmt.Errorf("read SQLite's synchronous: %w", err)
		}
		if !strings.EqualFold(mode, "wal") {
			problems = append(problems, fmt.Sprintf("SQLite runs with journal_mode = %s, not WAL (does the file system support it?)", mode))
		}
		if sync < 2 {
			problems = append(problems, fmt.Sprintf("SQLite runs with synchronous = %d, not FULL", sync))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; ") + ": a commit acknowledged to a client can be lost in a crash")
}
