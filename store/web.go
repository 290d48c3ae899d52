package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fulfillhq/fulfill"
)

// This file holds what the customer portal and the admin console keep:
// users, sessions, one-time email links, the billing accounts a user
// manages, EULA acceptances, and the admin console's search and figures.

// User is a person who signs in: a customer user or a staff member.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	Role         string // customer, admin, support, read_only
	ConfirmedAt  *time.Time
	CreatedAt    time.Time
}

const userCols = `id, email, name, password_hash, role, confirmed_at, created_at`

func scanUser(s interface{ Scan(...any) error }) (*User, error) {
	var u User
	var conf sql.NullTime
	if err := s.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &conf, &u.CreatedAt); err != nil {
		return nil, err
	}
	if conf.Valid {
		u.ConfirmedAt = &conf.Time
	}
	return &u, nil
}

// InsertUser adds a user; a taken email is a conflict.
func (t *Tx) InsertUser(u *User) error {
	return mapErr(t.exec(`INSERT INTO web_users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, strings.ToLower(u.Email), u.Name, u.PasswordHash, u.Role, utcPtr(u.ConfirmedAt), u.CreatedAt.UTC()), "User")
}

// UserByEmail finds a user by email, case-insensitively.
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(db.Read.QueryRowContext(ctx, `SELECT `+userCols+` FROM web_users WHERE email = $1`, strings.ToLower(email)))
	return u, mapErr(err, "User")
}

// User returns a user.
func (db *DB) User(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(db.Read.QueryRowContext(ctx, `SELECT `+userCols+` FROM web_users WHERE id = $1`, id))
	return u, mapErr(err, "User")
}

// UserByID returns a user inside a transaction.
func (t *Tx) UserByID(id string) (*User, error) {
	u, err := scanUser(t.tx.QueryRowContext(t.ctx, `SELECT `+userCols+` FROM web_users WHERE id = $1`, id))
	return u, mapErr(err, "User")
}

// ConfirmUser marks a user's email as confirmed (once).
func (t *Tx) ConfirmUser(id string, at time.Time) error {
	return t.exec(`UPDATE web_users SET confirmed_at = COALESCE(confirmed_at, $1) WHERE id = $2`, at.UTC(), id)
}

// SetPassword replaces a user's password hash.
func (t *Tx) SetPassword(id, hash string) error {
	return t.exec(`UPDATE web_users SET password_hash = $1 WHERE id = $2`, hash, id)
}

// LinkCustomer lets a user manage a billing account.
func (t *Tx) LinkCustomer(userID, customerID string, at time.Time) error {
	return mapErr(t.exec(`INSERT INTO web_user_customers (user_id, customer_id, created_at) VALUES ($1, $2, $3)`,
		userID, customerID, at.UTC()), "Link")
}

// UserCustomerIDs lists the billing accounts a user manages, oldest first.
func (db *DB) UserCustomerIDs(ctx context.Context, userID string) ([]string, error) {
	return queryStrings(ctx, db.Read, `SELECT customer_id FROM web_user_customers WHERE user_id = $1 ORDER BY created_at, customer_id`, userID)
}

// CustomerUsers lists the users who manage a billing account.
func (db *DB) CustomerUsers(ctx context.Context, customerID string) ([]*User, error) {
	return queryAll(ctx, db.Read, scanUser, `SELECT u.id, u.email, u.name, u.password_hash, u.role, u.confirmed_at, u.created_at
		FROM web_users u JOIN web_user_customers l ON l.user_id = u.id WHERE l.customer_id = $1 ORDER BY u.email`, customerID)
}

// ---- sessions ----

// Session is a signed-in browser. Only the hash of its cookie is stored.
type Session struct {
	IDHash    string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	Flash     string
}

// InsertSession stores a new session.
func (db *DB) InsertSession(ctx context.Context, s *Session, remote string) error {
	_, err := db.Write.ExecContext(ctx, `INSERT INTO web_sessions (id_hash, user_id, created_at, expires_at, remote_addr, flash)
		VALUES ($1, $2, $3, $4, $5, '')`, s.IDHash, s.UserID, s.CreatedAt.UTC(), s.ExpiresAt.UTC(), remote)
	return err
}

// InsertSession stores a new session, in a transaction.
func (t *Tx) InsertSession(s *Session, remote string) error {
	return t.exec(`INSERT INTO web_sessions (id_hash, user_id, created_at, expires_at, remote_addr, flash)
		VALUES ($1, $2, $3, $4, $5, '')`, s.IDHash, s.UserID, s.CreatedAt.UTC(), s.ExpiresAt.UTC(), remote)
}

// DeleteSession ends a session, in a transaction.
func (t *Tx) DeleteSession(idHash string) error {
	return t.exec(`DELETE FROM web_sessions WHERE id_hash = $1`, idHash)
}

// SessionUser returns a live session and its user.
func (db *DB) SessionUser(ctx context.Context, idHash string, now time.Time) (*Session, *User, error) {
	var s Session
	var conf sql.NullTime
	var u User
	err := db.Read.QueryRowContext(ctx, `SELECT s.id_hash, s.user_id, s.created_at, s.expires_at, s.flash,
		u.id, u.email, u.name, u.password_hash, u.role, u.confirmed_at, u.created_at
		FROM web_sessions s JOIN web_users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2`, idHash, now.UTC()).
		Scan(&s.IDHash, &s.UserID, &s.CreatedAt, &s.ExpiresAt, &s.Flash,
			&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &conf, &u.CreatedAt)
	if err != nil {
		return nil, nil, mapErr(err, "Session")
	}
	if conf.Valid {
		u.ConfirmedAt = &conf.Time
	}
	return &s, &u, nil
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	_, err := db.Write.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, idHash)
	return err
}

// DeleteUserSessions ends every session of a user (after a password reset).
func (t *Tx) DeleteUserSessions(userID string) error {
	return t.exec(`DELETE FROM web_sessions WHERE user_id = $1`, userID)
}

// SetFlash stores a one-time message for the session's next page.
func (db *DB) SetFlash(ctx context.Context, idHash, flash string) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE web_sessions SET flash = $1 WHERE id_hash = $2`, flash, idHash)
	return err
}

// ---- one-time tokens ----

// InsertToken stores the hash of an emailed one-time token.
func (t *Tx) InsertToken(hash, userID, purpose string, now, expires time.Time) error {
	return t.exec(`INSERT INTO web_tokens (hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hash, userID, purpose, now.UTC(), expires.UTC())
}

// UseToken spends a one-time token: it returns its user if the token exists,
// has this purpose, is unexpired and unused, and marks it used. Any other
// case is not found.
func (t *Tx) UseToken(hash, purpose string, now time.Time) (string, error) {
	var userID string
	err := t.tx.QueryRowContext(t.ctx, `UPDATE web_tokens SET used_at = $1
		WHERE hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING user_id`,
		now.UTC(), hash, purpose).Scan(&userID)
	return userID, mapErr(err, "Link")
}

// TokenValid reports whether a one-time token could still be used, without
// spending it.
func (db *DB) TokenValid(ctx context.Context, hash, purpose string, now time.Time) (bool, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM web_tokens WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3`,
		hash, purpose, now.UTC()).Scan(&n)
	return n == 1, err
}

// ---- EULA ----

// EULAAcceptance records who accepted which EULA version for which account.
type EULAAcceptance struct {
	ID, CustomerID, UserID, Version, RemoteAddr string
	AcceptedAt                                  time.Time
}

// InsertEULAAcceptance records an acceptance.
func (db *DB) InsertEULAAcceptance(ctx context.Context, a *EULAAcceptance) error {
	_, err := db.Write.ExecContext(ctx, `INSERT INTO eula_acceptances (id, customer_id, user_id, version, accepted_at, remote_addr)
		VALUES ($1, $2, $3, $4, $5, $6)`, a.ID, a.CustomerID, a.UserID, a.Version, a.AcceptedAt.UTC(), a.RemoteAddr)
	return err
}

// InsertEULAAcceptance records an acceptance, in a transaction.
func (t *Tx) InsertEULAAcceptance(a *EULAAcceptance) error {
	return t.exec(`INSERT INTO eula_acceptances (id, customer_id, user_id, version, accepted_at, remote_addr)
		VALUES ($1, $2, $3, $4, $5, $6)`, a.ID, a.CustomerID, a.UserID, a.Version, a.AcceptedAt.UTC(), a.RemoteAddr)
}

// EULAAcceptances lists a billing account's acceptances, newest first.
func (db *DB) EULAAcceptances(ctx context.Context, customerID string) ([]EULAAcceptance, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_id, user_id, version, accepted_at, remote_addr
		FROM eula_acceptances WHERE customer_id = $1 ORDER BY accepted_at DESC, id DESC`, customerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EULAAcceptance
	for rows.Next() {
		var a EULAAcceptance
		if err := rows.Scan(&a.ID, &a.CustomerID, &a.UserID, &a.Version, &a.AcceptedAt, &a.RemoteAddr); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ---- admin console ----

// SearchCustomers finds billing accounts by an exact customer id,
// subscription id, invoice number or license id, or by the start of an
// email address (the account's or one of its users') or of a company name,
// case-insensitively. At most limit results.
//
// A prefix is a range of the lower-cased column (q ≤ x < the next prefix
// after q), so that an index on lower(column) serves it; PostgreSQL compares
// the range byte-wise (COLLATE "C"), as SQLite does.
func (db *DB) SearchCustomers(ctx context.Context, q string, limit int) ([]*fulfill.Customer, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	lo := strings.ToLower(q)
	hi := prefixEnd(lo)
	coll := ""
	if db.Dialect == Postgres {
		coll = ` COLLATE "C"`
	}
	starts := func(col string) string {
		e := "lower(" + col + ")" + coll
		return "(" + e + " >= $3 AND " + e + " < $5)"
	}
	return queryAll(ctx, db.Read, scanCustomer, `SELECT `+customerCols+` FROM customers WHERE id IN (
			SELECT id FROM customers WHERE id = $1
			UNION SELECT customer_id FROM subscriptions WHERE id = $1
			UNION SELECT customer_id FROM invoices WHERE number = $2
			UNION SELECT s.customer_id FROM licenses l JOIN subscriptions s ON s.id = l.subscription_id WHERE l.id = $1
			UNION SELECT id FROM customers WHERE `+starts("email")+` OR `+inside("email")+`
			UNION SELECT id FROM customers WHERE `+starts("company")+` OR `+inside("company")+`
			UNION SELECT l.customer_id FROM web_user_customers l JOIN web_users u ON u.id = l.user_id WHERE `+starts("u.email")+` OR `+inside("u.email")+`
		) ORDER BY id DESC LIMIT $4`, q, strings.ToUpper(q), lo, limit, hi, "%"+likeEscaper.Replace(lo)+"%")
}

// inside is the condition that a column contains the search ($6, a LIKE
// pattern with its wildcards escaped) anywhere, not only at its start:
// "gmbh" finds "Example GmbH". It scans the table; the console's search
// is rare enough for that.
func inside(col string) string {
	return "(lower(" + col + ") LIKE $6 ESCAPE '\\')"
}

// likeEscaper escapes LIKE's wildcards and its escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// prefixEnd is the smallest string greater than every string that starts
// with p (in byte, that is code point, order): p with its last character
// incremented.
func prefixEnd(p string) string {
	rs := []rune(p)
	for len(rs) > 0 {
		r := rs[len(rs)-1] + 1
		if r >= 0xD800 && r <= 0xDFFF { // no surrogates in UTF-8
			r = 0xE000
		}
		if r <= utf8.MaxRune {
			rs[len(rs)-1] = r
			return string(rs)
		}
		rs = rs[:len(rs)-1]
	}
	return string(utf8.MaxRune) + string(utf8.MaxRune) // p is all U+10FFFF: practically unbounded
}

// LatestSeatUsage is, per subscription, the billable users of its latest
// seat report.
func (db *DB) LatestSeatUsage(ctx context.Context) (map[string]int64, error) {
	return queryCounts(ctx, db.Read, `SELECT r.subscription_id, MAX(r.billable_users) FROM seat_reports r
		JOIN (SELECT subscription_id, MAX(date) AS d FROM seat_reports GROUP BY subscription_id) m
		  ON m.subscription_id = r.subscription_id AND m.d = r.date
		GROUP BY r.subscription_id`)
}
