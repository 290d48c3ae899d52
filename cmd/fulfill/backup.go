package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fulfillhq/fulfill/store"
)

const backupUsage = `Usage: fulfill backup FILE [--data-dir DIR]

Writes a consistent copy of the SQLite database to FILE while the server
runs (SQLite's VACUUM INTO: the copy is the database as of one commit).
For PostgreSQL use pg_dump; see docs/deploy.md.
`

const restoreUsage = `Usage: fulfill restore FILE [--data-dir DIR] [--force]

Checks the backup FILE (integrity, foreign keys, a schema this program
knows) and puts it in place as the data directory's database; the database
it replaces is kept beside it as fulfill.db.before-restore-TIME.

Stop the server first: restore refuses while fulfill.db-wal exists, which
is the case while any process has the database open (and after a crash,
when --force restores anyway). Start the server afterwards and run
"fulfill probe" against it.
`

func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("backup", stderr, getenv)
	setUsage(fs, backupUsage)
	file, rest := splitFirstArg(args)
	if err := parseFlags(fs, rest, stdout); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" {
		fs.Usage()
		return usageError{"backup: FILE is required"}
	}
	if c.DatabaseURL != "" {
		return usageError{"backup: the database is PostgreSQL: use pg_dump -Fc (see docs/deploy.md)"}
	}
	db, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	if err := db.BackupTo(ctx, file); err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backed up %s to %s (%d bytes) in %s.\n", c.dbURL(), file, st.Size(), time.Since(start).Round(time.Millisecond))
	return nil
}

// splitFirstArg lets FILE come before the flags, as the usage shows.
func splitFirstArg(args []string) (string, []string) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}

// checkBackup opens a backup and checks it is a sound Fulfill database this
// program can run on; it returns the schema version.
func checkBackup(ctx context.Context, file string) (int, error) {
	if _, err := os.Stat(file); err != nil {
		return 0, err
	}
	db, err := store.Open(ctx, file)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	applied, latest, err := db.SchemaStatus(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	if applied == 0 {
		return 0, fmt.Errorf("%s is not a Fulfill database (no migrations applied)", file)
	}
	// SchemaStatus looks only for the migrations this program knows.
	var newest int
	if err := db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	if newest > latest {
		return 0, fmt.Errorf("%s has schema version %d, newer than this program's %d: restore it with a newer fulfill", file, newest, latest)
	}
	return applied, nil
}

func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("restore", stderr, getenv)
	setUsage(fs, restoreUsage)
	force := fs.Bool("force", false, "restore although fulfill.db-wal exists (no process may have the database open)")
	file, rest := splitFirstArg(args)
	if err := parseFlags(fs, rest, stdout); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" {
		fs.Usage()
		return usageError{"restore: FILE is required"}
	}
	if c.DatabaseURL != "" {
		return usageError{"restore: the database is PostgreSQL: use pg_restore (see docs/deploy.md)"}
	}
	version, err := checkBackup(ctx, file)
	if err != nil {
		return err
	}
	target := c.dbURL()
	if _, err := os.Stat(target + "-wal"); err == nil && !*force {
		return fmt.Errorf("restore: %s-wal exists: a server (or another fulfill command) has the database open; stop it first (or, after a crash, use --force)", target)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	// Copy next to the target, then rename: the switch is atomic.
	tmp := target + ".restoring"
	if err := copyFile(file, tmp); err != nil {
		return err
	}
	if _, err := os.Stat(target); err == nil {
		aside := target + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(target, aside); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "The database it replaces is kept as %s.\n", aside)
	}
	for _, f := range []string{target + "-wal", target + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Restored %s to %s (schema version %d). Start the server and run \"fulfill probe\".\n", file, target, version)
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
