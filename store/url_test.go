package store

import (
	"strings"
	"testing"
)

// Open knows PostgreSQL and SQLite only: another scheme is refused, not
// taken for an SQLite file named after the URL.
func TestCheckURLRefusesUnknownSchemes(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"postgres://u@h/db", "postgresql://h/db", "sqlite:///tmp/x.db", "file:/tmp/x.db?busy_timeout=5",
		"fulfill-data/fulfill.db", "/var/lib/fulfill/fulfill.db", `C:\fulfill\fulfill.db`, "./a:b"} {
		if err := CheckURL(ok); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"mysql://x", "mysql:/x", "MySQL://h/db", "redis://h", "mariadb+tcp://h/db"} {
		if err := CheckURL(bad); err == nil || !strings.Contains(err.Error(), "unknown scheme") {
			t.Errorf("CheckURL(%q) = %v, want an unknown scheme", bad, err)
		}
	}
	if err := CheckURL("mysql://root:hunter2@db/x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("CheckURL shows the password: %v", err)
	}
}
