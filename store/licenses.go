package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/fulfillhq/fulfill"
)

const licenseCols = `id, subscription_id, seq, kid, reason, plan, seats, previous_user_count, trueup_quantity,
	starts_at, expires_at, trial, file, issued_at`

func scanLicense(s interface{ Scan(...any) error }) (*fulfill.License, error) {
	var l fulfill.License
	err := s.Scan(&l.ID, &l.SubscriptionID, &l.Seq, &l.KeyID, &l.Reason, &l.Plan, &l.Seats, &l.PreviousUserCount,
		&l.TrueUpQuantity, &l.StartsAt, &l.ExpiresAt, &l.Trial, &l.File, &l.IssuedAt)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// InsertLicense stores an issued license as the next in its subscription's
// history.
func (t *Tx) InsertLicense(l *fulfill.License) error {
	last, fresh := t.licenseSeqs[l.SubscriptionID]
	if fresh {
		// A subscription this transaction inserted: no other transaction
		// sees it, and its licenses are the ones inserted here.
		l.Seq = last + 1
		t.licenseSeqs[l.SubscriptionID] = l.Seq
	} else if n, ok := take(t.ahead().nextSeq, l.SubscriptionID); ok {
		l.Seq = n
	} else if err := t.tx.QueryRowContext(t.ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM licenses WHERE subscription_id = $1`,
		l.SubscriptionID).Scan(&l.Seq); err != nil {
		return err
	}
	return t.execLater(`INSERT INTO licenses (`+licenseCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		licenseArgs(l)...)
}

func licenseArgs(l *fulfill.License) []any {
	return []any{l.ID, l.SubscriptionID, l.Seq, l.KeyID, l.Reason, l.Plan, l.Seats, l.PreviousUserCount, l.TrueUpQuantity,
		l.StartsAt, l.ExpiresAt, l.Trial, l.File, l.IssuedAt.UTC()}
}

// SetSubscriptionLicense makes a license the subscription's current one.
func (t *Tx) SetSubscriptionLicense(subscriptionID, licenseID string) error {
	return t.execLater(`UPDATE subscriptions SET license_id = $1 WHERE id = $2`, licenseID, subscriptionID)
}

// License returns one license.
func (db *DB) License(ctx context.Context, id string) (*fulfill.License, error) {
	l, err := scanLicense(db.Read.QueryRowContext(ctx, `SELECT `+licenseCols+` FROM licenses WHERE id = $1`, id))
	return l, mapErr(err, "License")
}

// License returns a license, read in the transaction.
func (t *Tx) License(id string) (*fulfill.License, error) {
	l, err := scanLicense(t.tx.QueryRowContext(t.ctx, `SELECT `+licenseCols+` FROM licenses WHERE id = $1`, id))
	return l, mapErr(err, "License")
}

// Licenses lists a subscription's licenses, newest first.
func (db *DB) Licenses(ctx context.Context, subscriptionID string) ([]*fulfill.License, error) {
	return queryAll(ctx, db.Read, scanLicense, `SELECT `+licenseCols+` FROM licenses WHERE subscription_id = $1 ORDER BY seq DESC`, subscriptionID)
}

// CountLicenses counts a subscription's licenses issued for a reason since a
// date (inclusive).
func (t *Tx) CountLicenses(subscriptionID, reason string, startsAt fulfill.Date) (int, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM licenses WHERE subscription_id = $1 AND reason = $2 AND starts_at >= $3`,
		subscriptionID, reason, startsAt).Scan(&n)
	return n, err
}

// CustomerHadTrial reports whether a customer ever had a trial.
func (t *Tx) CustomerHadTrial(customerID string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM subscriptions WHERE customer_id = $1 AND trial = $2`, customerID, true).Scan(&n)
	return n > 0, err
}

// SubscriptionByActivationCode finds the subscription of an active code.
func (t *Tx) SubscriptionByActivationCode(codeHash string) (string, error) {
	var id string
	err := t.tx.QueryRowContext(t.ctx, `SELECT subscription_id FROM activation_codes WHERE code_hash = $1 AND active = $2`, codeHash, true).Scan(&id)
	return id, mapErr(err, "Activation code")
}

// UpsertInstance records an instance of a subscription's product.
func (t *Tx) UpsertInstance(subscriptionID, instanceID, hostname, version string, now time.Time) error {
	return t.exec(`INSERT INTO instances (subscription_id, instance_id, hostname, version, activated_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (subscription_id, instance_id) DO UPDATE SET hostname = excluded.hostname, version = excluded.version,
			last_seen_at = excluded.last_seen_at`, subscriptionID, instanceID, hostname, version, now.UTC())
}

// InstanceSync is what a Seat Link tells about an instance beyond its
// hostname and version (GitLab's unique_instance_id and add_on_metrics).
type InstanceSync struct {
	UniqueInstanceID string
	AddOnMetrics     string // a JSON array
}

// InstanceSyncOf reads what SyncInstance stored.
func (db *DB) InstanceSyncOf(ctx context.Context, subscriptionID, instanceID string) (InstanceSync, error) {
	var in InstanceSync
	err := db.Read.QueryRowContext(ctx, `SELECT unique_instance_id, add_on_metrics FROM instances
		WHERE subscription_id = $1 AND instance_id = $2`, subscriptionID, instanceID).Scan(&in.UniqueInstanceID, &in.AddOnMetrics)
	return in, mapErr(err, "Instance")
}

// InsertUsagePing stores a service ping.
func (t *Tx) InsertUsagePing(id, instanceID string, subscriptionID *string, payload string, now time.Time) error {
	return t.exec(`INSERT INTO usage_pings (id, instance_id, subscription_id, payload, received_at) VALUES ($1, $2, $3, $4, $5)`,
		id, instanceID, subscriptionID, payload, now.UTC())
}

// InstanceKnown reports whether an instance of a subscription was activated
// or has synced.
func (t *Tx) InstanceKnown(subscriptionID, instanceID string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM instances WHERE subscription_id = $1 AND instance_id = $2`,
		subscriptionID, instanceID).Scan(&n)
	return n > 0, err
}

// InstanceOfOtherCustomer reports whether an instance id is registered only
// under subscriptions of customers other than customerID: such an instance
// must activate with this customer's code before it reports for them.
func (t *Tx) InstanceOfOtherCustomer(instanceID, customerID string) (bool, error) {
	var mine, others int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(CASE WHEN s.customer_id = $2 THEN 1 END), COUNT(CASE WHEN s.customer_id <> $2 THEN 1 END)
		FROM instances i JOIN subscriptions s ON s.id = i.subscription_id WHERE i.instance_id = $1`, instanceID, customerID).Scan(&mine, &others)
	return mine == 0 && others > 0, err
}

// PruneUsagePings keeps the newest perInstance pings of an instance of a
// subscription and the newest perSubscription pings of the subscription
// (ping ids sort by the time they were received), deleting older ones; it
// returns how many it deleted.
func (t *Tx) PruneUsagePings(subscriptionID, instanceID string, perInstance, perSubscription int) (int64, error) {
	res, err := t.tx.ExecContext(t.ctx, `DELETE FROM usage_pings WHERE subscription_id = $1 AND instance_id = $2 AND id <= (
		SELECT id FROM usage_pings WHERE subscription_id = $1 AND instance_id = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)`,
		subscriptionID, instanceID, perInstance)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	res, err = t.tx.ExecContext(t.ctx, `DELETE FROM usage_pings WHERE subscription_id = $1 AND id <= (
		SELECT id FROM usage_pings WHERE subscription_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`, subscriptionID, perSubscription)
	if err != nil {
		return 0, err
	}
	m, err := res.RowsAffected()
	return n + m, err
}

// ---- email outbox ----

// InsertEmail puts a message in the outbox; a job sends it. A message of a
// secret kind (fulfill.IsSecretEmailKind) is marked secret whatever its
// caller says.
func (t *Tx) InsertEmail(e *fulfill.Email) error {
	e.Secret = e.Secret || fulfill.IsSecretEmailKind(e.Kind)
	return t.execLater(`INSERT INTO emails (id, kind, to_addr, subject, body, attachment_name, attachment, customer_id, status, error, created_at, has_secret,
		attachment_source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		e.ID, e.Kind, e.To, e.Subject, e.Body, e.AttachmentName, e.Attachment, e.CustomerID, e.Status, e.Error, e.CreatedAt.UTC(), e.Secret,
		e.AttachmentSource)
}

const emailCols = `id, kind, to_addr, subject, body, attachment_name, attachment, customer_id, status, error, created_at, sent_at, has_secret,
	attachment_source`

func scanEmail(s interface{ Scan(...any) error }) (*fulfill.Email, error) {
	var e fulfill.Email
	var sent sql.NullTime
	if err := s.Scan(&e.ID, &e.Kind, &e.To, &e.Subject, &e.Body, &e.AttachmentName, &e.Attachment, &e.CustomerID, &e.Status,
		&e.Error, &e.CreatedAt, &sent, &e.Secret, &e.AttachmentSource); err != nil {
		return nil, err
	}
	if sent.Valid {
		e.SentAt = &sent.Time
	}
	return &e, nil
}

// Email returns one email.
func (db *DB) Email(ctx context.Context, id string) (*fulfill.Email, error) {
	e, err := scanEmail(db.Read.QueryRowContext(ctx, `SELECT `+emailCols+` FROM emails WHERE id = $1`, id))
	return e, mapErr(err, "Email")
}

// Emails lists emails, newest first, of one customer if given.
func (db *DB) Emails(ctx context.Context, customerID string, p fulfill.Page) ([]*fulfill.Email, error) {
	where, args := "", []any{}
	if customerID != "" {
		where, args = "customer_id = $1", append(args, customerID)
	}
	q, args := pageQuery(`SELECT `+emailCols+` FROM emails`, where, args, p)
	return queryAll(ctx, db.Read, scanEmail, q, args...)
}

// EmailMark is the outcome of sending one mail (written by EmailMarks). A
// secret email (one-time links) that was sent, or failed for good, keeps no
// link in its stored copy. Attachment is the PDF the sender rendered from
// the mail's AttachmentSource: it is stored with the outcome, in the same
// write, and once (a retried job's second mark leaves the stored attachment
// as it is, the source being gone); "" stores none.
type EmailMark struct {
	ID, Status, Error string
	SentAt            *time.Time
	Attachment        string
}

// markEmail writes one outcome in tx.
func markEmail(ctx context.Context, tx *sql.Tx, m EmailMark) error {
	var sent any
	if m.SentAt != nil {
		sent = m.SentAt.UTC()
	}
	if _, err := tx.ExecContext(ctx, `UPDATE emails SET status = $1, error = $2, sent_at = $3,
		attachment = CASE WHEN $5 <> '' AND attachment_source <> '' THEN $5 ELSE attachment END,
		attachment_source = CASE WHEN $5 <> '' THEN '' ELSE attachment_source END WHERE id = $4`,
		m.Status, m.Error, sent, m.ID, m.Attachment); err != nil {
		return err
	}
	if m.Status != "sent" && m.Status != "failed" {
		return nil
	}
	var body string
	var secret bool
	if err := tx.QueryRowContext(ctx, `SELECT body, has_secret FROM emails WHERE id = $1`, m.ID).Scan(&body, &secret); err != nil {
		return mapErr(err, "Email")
	}
	if !secret {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE emails SET body = $1 WHERE id = $2`, fulfill.RedactLinks(body, fulfill.LinkRemoved), m.ID)
	return err
}

// ---- audit ----

// Audit appends to the audit log.
func (t *Tx) Audit(e *fulfill.AuditEntry) error {
	return t.execLater(`INSERT INTO audit_log (id, at, actor, action, subject_type, subject_id, detail, remote_addr)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.At.UTC(), e.Actor, e.Action, e.SubjectType, e.SubjectID, e.Detail, e.RemoteAddr)
}

// AuditLog lists audit entries, newest first, for one subject if given.
func (db *DB) AuditLog(ctx context.Context, subjectType, subjectID string, p fulfill.Page) ([]*fulfill.AuditEntry, error) {
	where, args := "", []any{}
	if subjectID != "" {
		where, args = "subject_type = $1 AND subject_id = $2", append(args, subjectType, subjectID)
	}
	q, args := pageQuery(`SELECT id, at, actor, action, subject_type, subject_id, detail, remote_addr FROM audit_log`, where, args, p)
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*fulfill.AuditEntry{}
	for rows.Next() {
		var e fulfill.AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.SubjectType, &e.SubjectID, &e.Detail, &e.RemoteAddr); err != nil {
			return nil, err
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}

// ---- reconciliation ----

// ReconciliationCandidates lists subscriptions with quarterly
// reconciliation whose term contains day.
func (db *DB) ReconciliationCandidates(ctx context.Context, day fulfill.Date) ([]*fulfill.Subscription, error) {
	return queryAll(ctx, db.Read, scanSub, `SELECT `+subCols+subFrom+` WHERE s.seat_reconciliation = $1
		AND s.state IN ('active', 'canceled', 'past_due') AND s.starts_on < $2 AND s.ends_on > $2 ORDER BY s.id`, true, day)
}

// RecordReconciliation marks a quarter's notice or charge as done; it
// reports false if it was done already.
func (t *Tx) RecordReconciliation(subscriptionID string, quarterEnd fulfill.Date, kind string, invoiceID *string, now time.Time) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO reconciliations (subscription_id, quarter_end, kind, invoice_id, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, subscriptionID, quarterEnd, kind, invoiceID, now.UTC())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// MaxUsers is the highest max_users reported in [from, to).
func (t *Tx) MaxUsers(subscriptionID string, from, to fulfill.Date) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(t.ctx, `SELECT COALESCE(MAX(max_users), 0) FROM seat_reports
		WHERE subscription_id = $1 AND date >= $2 AND date < $3`, subscriptionID, from, to).Scan(&n)
	return n, err
}

// LicenseFilesOfInstance returns the license files of every subscription an
// instance has activated with or synced for, newest first: a raw Service
// Ping names its license only by digest, and these are the candidates.
func (db *DB) LicenseFilesOfInstance(ctx context.Context, instanceID string) ([]string, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT l.file FROM licenses l
		JOIN instances i ON i.subscription_id = l.subscription_id
		WHERE i.instance_id = $1 ORDER BY l.issued_at DESC, l.id DESC LIMIT 200`, instanceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var files []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, rows.Err()
}
