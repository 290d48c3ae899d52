package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// LicenseKeyIDs returns the key id of the newest license issued (empty when
// there is none) and every key id that has signed a license.
func (db *DB) LicenseKeyIDs(ctx context.Context) (newest string, all []string, err error) {
	err = db.Read.QueryRowContext(ctx, `SELECT kid FROM licenses ORDER BY issued_at DESC, id DESC LIMIT 1`).Scan(&newest)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("read the newest license's key: %w", err)
	}
	all, err = queryStrings(ctx, db.Read, `SELECT DISTINCT kid FROM licenses ORDER BY kid`)
	if err != nil {
		return "", nil, fmt.Errorf("read the licenses' keys: %w", err)
	}
	return newest, all, nil
}
