package store

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// BackupTo writes a consistent copy of an SQLite database to file while
// other connections, a running server's included, go on reading and
// writing: VACUUM INTO reads in one transaction, so the copy is the
// database as of one commit. file must not exist.
func (db *DB) BackupTo(ctx context.Context, file string) error {
	if db.Dialect != SQLite {
		return errors.New("backup: this database is PostgreSQL; use pg_dump (see docs/deploy.md)")
	}
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("backup: %s already exists", file)
	}
	if _, err := db.Write.ExecContext(ctx, `VACUUM INTO $1`, file); err != nil {
		return fmt.Errorf("backup to %s: %w", file, err)
	}
	return nil
}

// IntegrityCheck runs SQLite's integrity_check and foreign_key_check and
// reports the first problem they find.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	if db.Dialect != SQLite {
		return nil
	}
	var res string
	if err := db.Write.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	rows, err := db.Write.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid, fk any
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		return fmt.Errorf("foreign key check: a row of %s (rowid %v) refers to a missing %s", table, rowid, parent)
	}
	return rows.Err()
}
