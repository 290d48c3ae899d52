package store

import (
	"context"
	"fmt"
)

// JobCount is how many jobs of one kind are in one state.
type JobCount struct {
	State, Kind string
	N           int64
}

// JobCounts counts the jobs in River's table by state and kind, for the
// queue-depth metric. Completed jobs are left out: River deletes them after
// a day, and their number says nothing about the queue.
func (db *DB) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, err := db.Read.QueryContext(ctx,
		`SELECT state, kind, COUNT(*) FROM river_job WHERE state <> 'completed' GROUP BY state, kind ORDER BY state, kind`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.State, &c.Kind, &c.N); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
