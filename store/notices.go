package store

import (
	"context"
	"time"

	"github.com/fulfillhq/fulfill"
)

// NoticeCandidates lists the subscriptions that may be owed a notice
// before their term ends: active ones that renew automatically, and
// trials, whose term ends after day and at most horizon.
func (db *DB) NoticeCandidates(ctx context.Context, day, horizon fulfill.Date) ([]*fulfill.Subscription, error) {
	return queryAll(ctx, db.Read, scanSub, `SELECT `+subCols+subFrom+` WHERE s.state = 'active'
		AND (s.auto_renew = $1 OR s.trial = $1) AND s.ends_on > $2 AND s.ends_on <= $3 ORDER BY s.id`, true, day, horizon)
}

// NoticeSent reports whether the notice kind for subject and cause is on
// record.
func (db *DB) NoticeSent(ctx context.Context, subjectID, cause, kind string) (bool, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM billing_notices WHERE subject_id = $1 AND cause = $2 AND kind = $3`,
		subjectID, cause, kind).Scan(&n)
	return n > 0, err
}

// RecordNotice marks the notice kind for subject and cause as sent; it
// reports false if it was on record already, so a notice is sent once
// whatever restarts or retries.
func (t *Tx) RecordNotice(subjectID, cause, kind string, now time.Time) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO billing_notices (subject_id, cause, kind, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, subjectID, cause, kind, now.UTC())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
