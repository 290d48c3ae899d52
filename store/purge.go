package store

import (
	"context"
	"fmt"
	"time"
)

// PurgeBatch is how many rows one purge statement deletes at most, so a
// purge never holds the (SQLite: only) writer for long.
const PurgeBatch = 500

// maxPurgeBatches bounds one purge call; what is left goes next time.
const maxPurgeBatches = 1000

// purge deletes the rows of table matching cond ($1 is before) in batches
// of PurgeBatch, by key (its primary key columns, comma-separated), and
// returns how many went.
func (db *DB) purge(ctx context.Context, table, key, cond string, before time.Time) (int64, error) {
	q := fmt.Sprintf(`DELETE FROM %[1]s WHERE (%[2]s) IN (SELECT %[2]s FROM %[1]s WHERE %[3]s LIMIT %[4]d)`,
		table, key, cond, PurgeBatch)
	var total int64
	for range maxPurgeBatches {
		res, err := db.Write.ExecContext(ctx, q, before.UTC())
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", table, err)
		}
		total += n
		if n < PurgeBatch {
			break
		}
	}
	return total, nil
}

// PurgeSessions deletes the sessions that expired before the cutoff.
func (db *DB) PurgeSessions(ctx context.Context, before time.Time) (int64, error) {
	return db.purge(ctx, "web_sessions", "id_hash", "expires_at < $1", before)
}

// PurgeTokens deletes the one-time tokens (sign-in links, password resets,
// confirmations), used or not, that expired before the cutoff.
func (db *DB) PurgeTokens(ctx context.Context, before time.Time) (int64, error) {
	return db.purge(ctx, "web_tokens", "hash", "expires_at < $1", before)
}

// PurgeInvitations deletes the invitations that expired unaccepted before
// the cutoff; accepted ones stay, as the record of who joined.
func (db *DB) PurgeInvitations(ctx context.Context, before time.Time) (int64, error) {
	return db.purge(ctx, "account_invitations", "id", "expires_at < $1 AND accepted_at IS NULL", before)
}

// PurgeIdempotencyKeys deletes the idempotency records created before the
// cutoff: a retry after that runs as a new request.
func (db *DB) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	return db.purge(ctx, "idempotency_keys", "token_id, key", "created_at < $1", before)
}
