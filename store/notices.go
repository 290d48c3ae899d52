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

// NoticesSent lists, as "subject/cause/kind", the notices on record whose
// cause (a term end, YYYY-MM-DD) is after day and at most horizon: one
// query for a day's candidates.
func (db *DB) NoticesSent(ctx context.Context, day, horizon fulfill.Date) (map[string]bool, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT subject_id, cause, kind FROM billing_notices WHERE cause > $1 AND cause <= $2`,
		day.String(), horizon.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sent := map[string]bool{}
	for rows.Next() {
		var subject, cause, kind string
		if err := rows.Scan(&subject, &cause, &kind); err != nil {
			return nil, err
		}
		sent[subject+"/"+cause+"/"+kind] = true
	}
	return sent, rows.Err()
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
