package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/seal"
)

// Idempotency records never hold a client's Idempotency-Key or its answer in
// plain text: the answer of a purchase carries the activation code. The row
// keeps SHA-256(key) and the answer sealed with AES-256-GCM under a key
// derived (HKDF-SHA256) from the raw Idempotency-Key and the API token id, so
// only a client that still has the raw key can have the answer replayed; a
// copy of the database reveals neither. (A guessable Idempotency-Key can be
// found from its hash by trying candidates, so clients should send random
// keys, UUIDs, as Stripe asks.)

func init() {
	// Migration 0014 hashes the stored keys; SQLite has no SHA-256 of its own.
	sqlite.MustRegisterDeterministicScalarFunction("fulfill_sha256_hex", 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return idempotencyKeyHash(v), nil
			case []byte:
				return idempotencyKeyHash(string(v)), nil
			}
			return nil, fmt.Errorf("fulfill_sha256_hex: want text, got %T", args[0])
		})
}

// discardedStatus marks a record answered before answers were sealed
// (migration 0014): its plain-text answer was deleted and cannot be replayed.
const discardedStatus = -1

// Idempotent is a stored answer to a request made with an Idempotency-Key.
type Idempotent struct {
	RequestHash string
	StatusCode  int // 0 while the first request is still running
	Response    []byte
	// Seed is stored before the request first runs; the request derives its
	// ids from it, so a retry after a crash reuses them.
	Seed string
	// Owned is set when this caller now runs the request: a new key, or one
	// whose first run died (its lease ran out) with the same body.
	Owned bool
	// Discarded is set when the first request was answered before answers
	// were stored sealed: that answer is gone and cannot be replayed.
	Discarded bool
}

// idempotencyKeyHash is what the key column holds: hex SHA-256 of the raw
// Idempotency-Key. Migration 0014 computes the same in SQL.
func idempotencyKeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// idempotencyInfo is the HKDF context of sealed answers.
const idempotencyInfo = "fulfill idempotency response v1"

// sealResponse encrypts an answer for the record of (tokenID, key): the key
// is derived from the raw Idempotency-Key with the token id as salt, and the
// token id and key hash are authenticated, so a sealed answer copied to
// another row does not open.
func sealResponse(tokenID, key string, body []byte) (string, error) {
	return seal.Seal([]byte(key), []byte(tokenID), idempotencyInfo, body, []byte(tokenID+"\n"+idempotencyKeyHash(key)))
}

// openResponse decrypts a sealed answer.
func openResponse(tokenID, key, sealed string) ([]byte, error) {
	b, err := seal.Open([]byte(key), []byte(tokenID), idempotencyInfo, sealed, []byte(tokenID+"\n"+idempotencyKeyHash(key)))
	if err != nil {
		return nil, fmt.Errorf("idempotency record: %w", err)
	}
	return b, nil
}

// insertKeyRecord makes a key's record, unless it has one: token id, key
// hash, request hash, status (0 while running), sealed answer, time (of
// creation and of the lease), seed.
const insertKeyRecord = `INSERT INTO idempotency_keys (token_id, key, request_hash, status_code, response, created_at, seed, locked_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $6) ON CONFLICT (token_id, key) DO NOTHING`

// ClaimIdempotencyKey records that a request with this key has started, or
// takes over a request with the same body whose lease has run out (its
// process died between starting and answering). key is the raw
// Idempotency-Key: only its hash is stored, and a finished answer is
// returned opened.
func (db *DB) ClaimIdempotencyKey(ctx context.Context, tokenID, key, hash string, now time.Time, lease time.Duration) (*Idempotent, error) {
	seed := fulfill.NewID("req")
	kh := idempotencyKeyHash(key)
	res, err := db.Write.ExecContext(ctx, insertKeyRecord, tokenID, kh, hash, 0, "", now.UTC(), seed)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return &Idempotent{RequestHash: hash, Seed: seed, Owned: true}, nil
	}
	var rec Idempotent
	var sealed string
	var locked sql.NullTime
	err = db.Write.QueryRowContext(ctx, `SELECT request_hash, status_code, response, seed, locked_at FROM idempotency_keys
		WHERE token_id = $1 AND key = $2`, tokenID, kh).Scan(&rec.RequestHash, &rec.StatusCode, &sealed, &rec.Seed, &locked)
	if err != nil {
		return nil, err
	}
	switch {
	case rec.StatusCode == discardedStatus:
		rec.StatusCode, rec.Discarded = 0, true
		return &rec, nil
	case rec.StatusCode != 0:
		if rec.Response, err = openResponse(tokenID, key, sealed); err != nil {
			return nil, err
		}
		return &rec, nil
	}
	if rec.RequestHash == hash && locked.Valid && now.Sub(locked.Time) > lease {
		// Compare-and-set on the lease, so only one retry takes over.
		res, err := db.Write.ExecContext(ctx, `UPDATE idempotency_keys SET locked_at = $1 WHERE token_id = $2 AND key = $3
			AND status_code = 0 AND locked_at = $4`, now.UTC(), tokenID, kh, locked.Time.UTC())
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			rec.Owned = true
		}
	}
	return &rec, nil
}

// ErrIdempotencyKeyTaken is ClaimIdempotencyKeyTx's answer when another
// request with the same key recorded it first: the transaction must roll
// back, and the request be answered as a retry would be.
var ErrIdempotencyKeyTaken = errors.New("idempotency key recorded by another request")

// IdempotencyKeyRecorded reports whether a request with this key (the raw
// Idempotency-Key) has a record: one claimed, running or answered.
func (db *DB) IdempotencyKeyRecorded(ctx context.Context, tokenID, key string) (bool, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys WHERE token_id = $1 AND key = $2`,
		tokenID, idempotencyKeyHash(key)).Scan(&n)
	return n > 0, err
}

// ClaimIdempotencyKeyTx records, in the transaction of the request's first
// change, that the request with this key has started, as
// ClaimIdempotencyKey does in a transaction of its own: the claim commits
// with that change, one commit fewer per request. It answers
// ErrIdempotencyKeyTaken when another request recorded the key first (on
// PostgreSQL, once that request's transaction has committed).
func (t *Tx) ClaimIdempotencyKeyTx(tokenID, key, hash, seed string, now time.Time) error {
	res, err := t.tx.ExecContext(t.ctx, insertKeyRecord, tokenID, idempotencyKeyHash(key), hash, 0, "", now.UTC(), seed)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrIdempotencyKeyTaken
	}
	return nil
}

// RecordIdempotencyAnswer stores the final answer of a request whose key
// has no record yet (a refusal before any change), sealed: a record that
// appeared meanwhile, another request's, is left as it is.
func (db *DB) RecordIdempotencyAnswer(ctx context.Context, tokenID, key, hash, seed string, now time.Time, status int, body []byte) error {
	sealed, err := sealResponse(tokenID, key, body)
	if err != nil {
		return err
	}
	_, err = db.Write.ExecContext(ctx, insertKeyRecord, tokenID, idempotencyKeyHash(key), hash, status, sealed, now.UTC(), seed)
	return err
}

// FinishIdempotencyKey stores the answer given to the key's first request,
// sealed (see sealResponse); key is the raw Idempotency-Key.
func (db *DB) FinishIdempotencyKey(ctx context.Context, tokenID, key string, status int, body []byte) error {
	return finishIdempotencyKey(ctx, db.Write, tokenID, key, status, body)
}

// FinishIdempotencyKey stores the answer in this transaction, so that it
// commits with the business change; as DB.FinishIdempotencyKey.
func (t *Tx) FinishIdempotencyKey(tokenID, key string, status int, body []byte) error {
	if len(t.tx.unnumbered) > 0 {
		// The answer names an invoice not numbered yet: it is sealed once
		// the number replaces the placeholder (latenumber.go).
		t.tx.later = append(t.tx.later, laterStmt{query: finishKeyRecord, lazy: func(numbered func(string) string) ([]any, error) {
			sealed, err := sealResponse(tokenID, key, []byte(numbered(string(body))))
			return []any{status, sealed, tokenID, idempotencyKeyHash(key)}, err
		}})
		return nil
	}
	return finishIdempotencyKey(t.ctx, laterExecer{t}, tokenID, key, status, body)
}

// laterExecer runs a transaction's ExecContext as execLater.
type laterExecer struct{ t *Tx }

func (l laterExecer) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	return nil, l.t.execLater(query, args...)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func finishIdempotencyKey(ctx context.Context, db execer, tokenID, key string, status int, body []byte) error {
	sealed, err := sealResponse(tokenID, key, body)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, finishKeyRecord, status, sealed, tokenID, idempotencyKeyHash(key))
	return err
}

// finishKeyRecord stores a request's answer: status, sealed answer, token
// id, key hash.
const finishKeyRecord = `UPDATE idempotency_keys SET status_code = $1, response = $2 WHERE token_id = $3 AND key = $4`

// SetIdempotencyRecoveryPoint notes how far the key's request got, in the
// transaction that got it there; past "started", a failed request keeps its
// key (and seed), so a retry resumes the same work instead of starting anew.
// key is the raw Idempotency-Key.
func (t *Tx) SetIdempotencyRecoveryPoint(tokenID, key, point string) error {
	return t.execLater(`UPDATE idempotency_keys SET recovery_point = $1 WHERE token_id = $2 AND key = $3`, point, tokenID, idempotencyKeyHash(key))
}

// UnlockIdempotencyKey ends the lease of a request that failed after its
// recovery point: a retry with the same body takes it over at once and
// resumes. key is the raw Idempotency-Key.
func (db *DB) UnlockIdempotencyKey(ctx context.Context, tokenID, key string) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE idempotency_keys SET locked_at = $1 WHERE token_id = $2 AND key = $3 AND status_code = 0`,
		time.Unix(0, 0).UTC(), tokenID, idempotencyKeyHash(key))
	return err
}

// ReleaseIdempotencyKey forgets a key whose request failed on our side
// before its recovery point, so that a retry can run again; key is the raw
// Idempotency-Key.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, tokenID, key string) error {
	_, err := db.Write.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2 AND recovery_point = 'started'`,
		tokenID, idempotencyKeyHash(key))
	return err
}
