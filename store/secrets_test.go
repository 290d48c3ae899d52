package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
)

func openDB(t *testing.T, url string, upTo int) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if upTo > 0 {
		err = db.migrateUpTo(ctx, upTo)
	} else {
		err = db.Migrate(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// A purchase answer holds the activation code: its idempotency record keeps
// neither the raw Idempotency-Key nor the answer in plain text, yet a retry
// with the same key gets the same answer back.
func TestIdempotencyRecordKeepsNoKeyOrAnswerInPlainText(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		db := openDB(t, url, 0)
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		const key, code = "idem-key-9f1c3b1e", "ABCDEFGHJKMNPQRSTWXYZ234"
		answer := []byte(`{"activation_code":"` + code + `"}`)
		for _, tok := range []string{"tok_a", "tok_b"} {
			claim, err := db.ClaimIdempotencyKey(ctx, tok, key, "reqhash", now, time.Minute)
			if err != nil || !claim.Owned {
				t.Fatalf("claim %s: %+v, %v", tok, claim, err)
			}
		}
		if err := db.FinishIdempotencyKey(ctx, "tok_a", key, 201, answer); err != nil {
			t.Fatal(err)
		}
		// The transaction variant, for a finish inside the business change.
		if err := db.InTx(ctx, func(tx *Tx) error { return tx.FinishIdempotencyKey("tok_b", key, 201, answer) }); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Read.QueryContext(ctx, `SELECT token_id, key, response, seed, request_hash FROM idempotency_keys`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var tok, k, resp, seed, rh string
			if err := rows.Scan(&tok, &k, &resp, &seed, &rh); err != nil {
				t.Fatal(err)
			}
			n++
			if k != idempotencyKeyHash(key) {
				t.Errorf("%s: key column %q, want the SHA-256 of the key", tok, k)
			}
			for _, col := range []string{k, resp, seed, rh} {
				if strings.Contains(col, code) || strings.Contains(col, key) {
					t.Errorf("%s: a column holds the code or the raw key: %q", tok, col)
				}
			}
		}
		if n != 2 {
			t.Fatalf("%d records, want 2", n)
		}
		for _, tok := range []string{"tok_a", "tok_b"} {
			again, err := db.ClaimIdempotencyKey(ctx, tok, key, "reqhash", now, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if again.Owned || again.StatusCode != 201 || string(again.Response) != string(answer) {
				t.Fatalf("replay for %s: owned=%v status=%d body=%s", tok, again.Owned, again.StatusCode, again.Response)
			}
		}
		// Another key is another record.
		other, err := db.ClaimIdempotencyKey(ctx, "tok_a", key+"x", "reqhash", now, time.Minute)
		if err != nil || !other.Owned {
			t.Fatalf("other key: %+v, %v", other, err)
		}
		// A sealed answer moved to another token's row does not open.
		if _, err := db.Write.ExecContext(ctx, `UPDATE idempotency_keys SET response = (SELECT response FROM idempotency_keys WHERE token_id = 'tok_a' AND key = $1)
			WHERE token_id = 'tok_b' AND key = $1`, idempotencyKeyHash(key)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClaimIdempotencyKey(ctx, "tok_b", key, "reqhash", now, time.Minute); err == nil {
			t.Fatal("an answer sealed for tok_a opened for tok_b")
		}
	})
}

// Migration 0014 hashes the keys of existing idempotency records, deletes
// the plain-text answers (a retry is refused, never run twice), keeps
// requests in flight, and strips auth mails already sent.
func TestMigration0014HashesIdempotencyKeysAndDropsPlainAnswers(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		db := openDB(t, url, 13)
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		const code = "ABCDEFGHJKMNPQRSTWXYZ234"
		for _, row := range []struct {
			key    string
			status int
			resp   string
		}{{"done-key", 201, `{"activation_code":"` + code + `"}`}, {"running-key", 0, ""}} {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO idempotency_keys (token_id, key, request_hash, status_code, response, created_at, seed, locked_at)
				VALUES ('tok', $1, 'h', $2, $3, $4, 'req_x', $4)`, row.key, row.status, row.resp, now); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range []struct{ id, kind, status string }{{"em_sent", "auth.signin", "sent"}, {"em_outbox", "auth.reset", "outbox"}, {"em_license", "license", "sent"}} {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO emails (id, kind, to_addr, subject, body, attachment_name, attachment, customer_id, status, error, created_at)
				VALUES ($1, $2, 'a@example.com', 's', 'http://x/signin/link?token=SECRETTOKEN', '', '', NULL, $3, '', $4)`, e.id, e.kind, e.status, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		var dump strings.Builder
		rows, err := db.Read.QueryContext(ctx, `SELECT key, response FROM idempotency_keys`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k, r string
			rows.Scan(&k, &r)
			dump.WriteString(k + " " + r + "\n")
		}
		rows.Close()
		if s := dump.String(); strings.Contains(s, code) || strings.Contains(s, "done-key") || strings.Contains(s, "running-key") {
			t.Fatalf("plain text left in idempotency_keys:\n%s", s)
		}
		done, err := db.ClaimIdempotencyKey(ctx, "tok", "done-key", "h", now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !done.Discarded || done.Owned {
			t.Fatalf("answered record after 0014: %+v, want discarded and not owned", done)
		}
		running, err := db.ClaimIdempotencyKey(ctx, "tok", "running-key", "h", now.Add(2*time.Minute), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !running.Owned || running.Seed != "req_x" {
			t.Fatalf("record in flight after 0014: %+v, want it taken over with its seed", running)
		}
		for id, wantToken := range map[string]bool{"em_sent": false, "em_outbox": true, "em_license": true} {
			e, err := db.Email(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(e.Body, "SECRETTOKEN"); got != wantToken {
				t.Errorf("%s after 0014: body %q", id, e.Body)
			}
			if e.Secret != (id != "em_license") {
				t.Errorf("%s: secret = %v", id, e.Secret)
			}
		}
	})
}

// A mail that carries a one-time link keeps no link in its stored copy once
// sent (or failed for good); while in the outbox it keeps it, and other
// mails are kept as they are.
func TestSecretEmailLosesItsLinkOnceSent(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		db := openDB(t, url, 0)
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		body := "Use this link to sign in:\n\n  http://fulfill.test/signin/link?token=TOKEN123abc\n\nThe link works once.\n"
		for _, e := range []*fulfill.Email{
			{ID: "em_sent", Kind: "auth.signin"}, {ID: "em_failed", Kind: "auth.reset"}, {ID: "em_outbox", Kind: "auth.confirm"},
			{ID: "em_invite", Kind: "account.invitation"}, {ID: "em_support", Kind: "support.reply"},
		} {
			e.To, e.Subject, e.Body, e.Status, e.CreatedAt = "a@example.com", "s", body, "pending", now
			if err := db.InTx(ctx, func(tx *Tx) error { return tx.InsertEmail(e) }); err != nil {
				t.Fatal(err)
			}
		}
		marks := NewEmailMarks(db)
		for id, status := range map[string]string{"em_sent": "sent", "em_failed": "failed", "em_outbox": "outbox", "em_invite": "sent", "em_support": "sent"} {
			if err := marks.Mark(ctx, EmailMark{ID: id, Status: status, SentAt: &now}); err != nil {
				t.Fatal(err)
			}
		}
		for id, keeps := range map[string]bool{"em_sent": false, "em_failed": false, "em_outbox": true, "em_invite": false, "em_support": true} {
			e, err := db.Email(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(e.Body, "TOKEN123abc") != keeps {
				t.Errorf("%s (%s): body %q", id, e.Status, e.Body)
			}
			if !keeps && !strings.Contains(e.Body, fulfill.LinkRemoved) {
				t.Errorf("%s: body %q does not say the link was removed", id, e.Body)
			}
		}
	})
}

// The SQLite database and its -wal and -shm files are readable by their
// owner only, new or already there.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh", "fulfill.db")
	old := filepath.Join(dir, "old.db")
	if err := os.WriteFile(old, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	for _, path := range []string{fresh, old} {
		db := openDB(t, path, 0)
		if err := db.PutToken(ctx, "t", "h", "admin", time.Now()); err != nil { // a write: -wal and -shm exist
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
			}
		}
	}
}
