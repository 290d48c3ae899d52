package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
)

// Issue 18: on PostgreSQL the writes a use case does not look at are kept
// and sent together, in one round trip, with the transaction's next
// statement: the next read sees them, and they commit with the rest.
func TestKeptWritesAreSentTogetherAndSeenByTheNextRead(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_keep", "sub_keep")
		inTx(t, db, func(tx *Tx) error {
			sub, err := tx.Subscription("sub_keep")
			if err != nil {
				return err
			}
			sub.Seats = 42
			if err := tx.UpdateSubscription(sub, Change{Action: "change", Actor: "test", At: t0}); err != nil {
				return err
			}
			if err := tx.Audit(&fulfill.AuditEntry{ID: "aud_keep", At: t0, Actor: "test", Action: "test.keep", SubjectType: "subscription",
				SubjectID: "sub_keep", Detail: "{}"}); err != nil {
				return err
			}
			// The update, its version row and the audit row.
			if want := map[string]int{Postgres: 3, SQLite: 0}[db.Dialect]; len(tx.tx.later) != want {
				t.Errorf("%s: %d statements kept, want %d", db.Dialect, len(tx.tx.later), want)
			}
			again, err := tx.Subscription("sub_keep")
			if err != nil {
				return err
			}
			if again.Seats != 42 || len(tx.tx.later) != 0 {
				t.Errorf("the next read: %d seats, %d statements still kept; want 42 and none", again.Seats, len(tx.tx.later))
			}
			sub.Seats = 43
			return tx.UpdateSubscription(sub, Change{Action: "change", Actor: "test", At: t0}) // sent with the commit
		})
		sub, err := db.Subscription(ctx, "sub_keep")
		if err != nil || sub.Seats != 43 {
			t.Fatalf("after the commit: %+v, %v; want 43 seats", sub, err)
		}
		log, err := db.AuditLog(ctx, "subscription", "sub_keep", fulfill.Page{Limit: 10})
		if err != nil || len(log) != 1 {
			t.Fatalf("audit log: %d entries, %v; want the kept one", len(log), err)
		}
	})
}

// A kept write that fails fails its transaction with its own error, even
// when the use case goes on and fails on what PostgreSQL then refuses
// ("current transaction is aborted"); nothing of the transaction stays.
func TestAFailedKeptWriteFailsItsTransactionWithItsError(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_fail", "sub_fail")
		entry := &fulfill.AuditEntry{ID: "aud_twice", At: t0, Actor: "test", Action: "test.twice", SubjectType: "subscription",
			SubjectID: "sub_fail", Detail: "{}"}
		inTx(t, db, func(tx *Tx) error { return tx.Audit(entry) })
		err := db.InTx(ctx, func(tx *Tx) error {
			sub, err := tx.Subscription("sub_fail")
			if err != nil {
				return err
			}
			sub.Seats = 99
			if err := tx.UpdateSubscription(sub, Change{Action: "change", Actor: "test", At: t0}); err != nil {
				return err
			}
			if err := tx.Audit(entry); err != nil { // the same id again
				return err
			}
			_, err = tx.Subscription("sub_fail")
			return err
		})
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "unique") && !strings.Contains(err.Error(), "duplicate") {
			t.Fatalf("the transaction returned %v; want the duplicate audit id", err)
		}
		if sub, _ := db.Subscription(ctx, "sub_fail"); sub.Seats != 10 {
			t.Errorf("the failed transaction left %d seats, want the 10 before it", sub.Seats)
		}
	})
}

// On PostgreSQL River's insert of a transaction's jobs is kept with the
// other kept writes and sent with the COMMIT (one round trip, after the
// invoice counter is taken, instead of two); the jobs commit with the
// transaction, and a transaction that fails leaves none.
func TestJobsAreInsertedWithTheCommit(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		subscribed(t, db, "cus_jobs", "sub_jobs")
		jobs := func() int {
			var n int
			if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = $1`, EventArgs{}.Kind()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		inTx(t, db, func(tx *Tx) error {
			if err := tx.Enqueue(EventArgs{EventIDs: []string{"evt_1"}}, nil); err != nil {
				return err
			}
			if err := tx.insertJobs(); err != nil {
				return err
			}
			// River's insert, and its NOTIFY when it announces the queue.
			river := 0
			for _, s := range tx.tx.later {
				if strings.Contains(s.query, "river_job") {
					river++
				}
			}
			if want := map[string]int{Postgres: 1, SQLite: 0}[db.Dialect]; river != want {
				t.Errorf("%s: River's insert kept %d times, want %d", db.Dialect, river, want)
			}
			return nil
		})
		if n := jobs(); n != 1 {
			t.Fatalf("%d jobs after the commit, want 1", n)
		}
		entry := &fulfill.AuditEntry{ID: "aud_jobs", At: t0, Actor: "test", Action: "test.jobs", SubjectType: "subscription",
			SubjectID: "sub_jobs", Detail: "{}"}
		inTx(t, db, func(tx *Tx) error { return tx.Audit(entry) })
		err := db.InTx(ctx, func(tx *Tx) error {
			if err := tx.Enqueue(EventArgs{EventIDs: []string{"evt_2"}}, nil); err != nil {
				return err
			}
			return tx.Audit(entry) // the same id again: fails with the commit on PostgreSQL
		})
		if err == nil {
			t.Fatal("a duplicate audit id committed")
		}
		if n := jobs(); n != 1 {
			t.Errorf("%d jobs after a failed transaction, want still 1", n)
		}
	})
}

// A subscription inserted in a transaction numbers its licenses there
// without asking the database (1, 2, …); one inserted earlier asks, and
// goes on from its last license.
func TestLicensesOfANewSubscriptionAreNumberedInItsTransaction(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_seq")
		insertPlan(t, db, "pln_seq", "plan-seq")
		lic := func(id string) *fulfill.License {
			return &fulfill.License{ID: id, SubscriptionID: "sub_seq", KeyID: "k1", Reason: "new", Plan: "plan-seq", Seats: 10,
				StartsAt: fulfill.NewDate(2026, 3, 1), ExpiresAt: fulfill.NewDate(2027, 3, 1), File: "LICENSE-DATA", IssuedAt: t0}
		}
		a, b, c := lic("lic_a"), lic("lic_b"), lic("lic_c")
		inTx(t, db, func(tx *Tx) error {
			if err := tx.InsertSubscription(testSub("sub_seq", "cus_seq", "pln_seq"), Change{Action: "create", Actor: "test", At: t0}); err != nil {
				return err
			}
			if err := tx.InsertLicense(a); err != nil {
				return err
			}
			return tx.InsertLicense(b)
		})
		inTx(t, db, func(tx *Tx) error { return tx.InsertLicense(c) })
		if a.Seq != 1 || b.Seq != 2 || c.Seq != 3 {
			t.Errorf("seqs %d, %d, %d; want 1, 2, 3", a.Seq, b.Seq, c.Seq)
		}
		list, err := db.Licenses(ctx, "sub_seq")
		if err != nil || len(list) != 3 {
			t.Fatalf("Licenses: %d, %v; want 3", len(list), err)
		}
	})
}

// A transaction that numbers its invoices at commit leaves the counter's
// row alone until then (another transaction may lock it meanwhile), and
// its invoices then get the next numbers, in order, in every kept value.
func TestInvoicesNumberedAtCommitHoldTheCounterOnlyForTheCommit(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		insertCustomer(t, db, "cus_late")
		a, b := testInvoice("inv_late_a", "cus_late"), testInvoice("inv_late_b", "cus_late")
		inTx(t, db, func(tx *Tx) error {
			tx.NumberInvoicesAtCommit()
			for _, inv := range []*fulfill.Invoice{a, b} {
				if err := tx.InsertInvoice(inv); err != nil {
					return err
				}
				if err := tx.Audit(&fulfill.AuditEntry{ID: "aud_" + inv.ID, At: t0, Actor: "test", Action: "test.number", SubjectType: "invoice",
					SubjectID: inv.ID, Detail: `{"invoice":"` + inv.Number + `"}`}); err != nil {
					return err
				}
			}
			if db.Dialect != Postgres {
				return nil
			}
			if a.Number == "INV-000001" {
				t.Errorf("numbered at once on PostgreSQL")
			}
			// Another transaction takes the counter's row and lets it go:
			// this one has not locked it.
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return db.runTx(lctx, nil, func(other *sql.Tx) error {
				_, err := other.ExecContext(lctx, `SELECT value FROM sequences WHERE name = 'invoice' FOR UPDATE NOWAIT`)
				if err != nil {
					t.Errorf("the counter's row is locked before the commit: %v", err)
				}
				return nil
			})
		})
		if a.Number != "INV-000001" || b.Number != "INV-000002" {
			t.Fatalf("numbers %q, %q; want INV-000001, INV-000002", a.Number, b.Number)
		}
		for _, inv := range []*fulfill.Invoice{a, b} {
			got, err := db.Invoice(ctx, inv.ID)
			if err != nil || got.Number != inv.Number {
				t.Errorf("stored %s: %+v, %v", inv.ID, got, err)
			}
			log, err := db.AuditLog(ctx, "invoice", inv.ID, fulfill.Page{Limit: 10})
			if err != nil || len(log) != 1 || !strings.Contains(log[0].Detail, inv.Number) {
				t.Errorf("audit of %s: %+v, %v; want it to name %s", inv.ID, log, err, inv.Number)
			}
		}
	})
}

// Issue 18: on PostgreSQL a write transaction whose COMMIT goes with its
// kept writes ends there: database/sql's Commit afterwards sends nothing.
// The batch used to open an empty transaction for that Commit to end, one
// more round trip for every such transaction (a seat link's fourth of
// four). A transaction with nothing kept still commits on its own, and the
// connections go back to the pool usable, after a commit as after a
// failure.
func TestKeptWritesEndTheirTransactionWithTheCommit(t *testing.T) {
	contract(t, func(t *testing.T, ctx context.Context, db *DB) {
		db.Write.SetMaxOpenConns(1) // every transaction on the same connection
		subscribed(t, db, "cus_end", "sub_end")
		sent := func() int64 {
			if db.ends == nil {
				return 0
			}
			return db.ends.Load()
		}
		audit := func(id string) error {
			return db.InTx(ctx, func(tx *Tx) error {
				return tx.Audit(&fulfill.AuditEntry{ID: id, At: t0, Actor: "test", Action: "test.end", SubjectType: "subscription",
					SubjectID: "sub_end", Detail: "{}"})
			})
		}
		before := sent()
		for _, id := range []string{"aud_end1", "aud_end2", "aud_end3"} {
			if err := audit(id); err != nil {
				t.Fatal(err)
			}
		}
		if n := sent() - before; n != 0 {
			t.Errorf("%s: %d COMMITs sent on their own after 3 transactions that kept writes, want none", db.Dialect, n)
		}
		if err := audit("aud_end1"); err == nil { // a duplicate: the kept write fails at the commit
			t.Fatal("a duplicate audit id committed")
		}
		before = sent()
		inTx(t, db, func(tx *Tx) error { _, err := tx.Subscription("sub_end"); return err })
		if want := map[string]int64{Postgres: 1, SQLite: 0}[db.Dialect]; sent()-before != want {
			t.Errorf("%s: a transaction with nothing kept sent %d COMMITs, want %d", db.Dialect, sent()-before, want)
		}
		if err := audit("aud_end4"); err != nil {
			t.Fatalf("after a failed and a plain transaction: %v", err)
		}
		log, err := db.AuditLog(ctx, "subscription", "sub_end", fulfill.Page{Limit: 10})
		if err != nil || len(log) != 4 {
			t.Fatalf("audit log: %d entries, %v; want 4", len(log), err)
		}
	})
}
