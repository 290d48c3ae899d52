package store

import (
	"context"

	"github.com/riverqueue/river/rivermigrate"
)

// schemaCurrent reports, with one query and no lock, whether every
// migration in ms and every one of River's is applied already, as they are
// at every start but the first after an upgrade: then Migrate has nothing
// to do and need not take its lock (on PostgreSQL an advisory lock on a
// connection of its own and half a dozen statements, on SQLite the write
// lock). Applied migrations are never taken back, so a yes read without
// the lock stays true; any doubt (a new database without the tables, any
// error) says no, and Migrate takes the lock and looks again.
func (db *DB) schemaCurrent(ctx context.Context, ms []migration) bool {
	migrator, err := rivermigrate.New(db.RiverDriver(), nil)
	if err != nil {
		return false
	}
	rows, err := db.Write.QueryContext(ctx, `SELECT 0, version FROM schema_migrations
		UNION ALL SELECT 1, version FROM river_migration WHERE line = 'main'`)
	if err != nil {
		return false
	}
	defer rows.Close()
	applied := [2]map[int]bool{{}, {}}
	for rows.Next() {
		var river, v int
		if err := rows.Scan(&river, &v); err != nil {
			return false
		}
		applied[river][v] = true
	}
	if rows.Err() != nil {
		return false
	}
	for _, m := range ms {
		if !applied[0][m.Version] {
			return false
		}
	}
	for _, m := range migrator.AllVersions() {
		if !applied[1][m.Version] {
			return false
		}
	}
	return true
}
