package dbtest

import "database/sql"

// ScanValues reads the current row of rows into one value per column, as
// the driver gives them: for tests that look at rows of any table.
func ScanValues(rows *sql.Rows) ([]any, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, rows.Scan(ptrs...)
}
