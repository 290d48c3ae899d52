package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// schema describes a migrated database as the two dialects can agree on
// it: tables, their columns, indexes and triggers, River's own tables
// left out (River migrates those itself).
type schema struct {
	// Columns are "table.column type null|not null", type canonical (see
	// canonicalType).
	Columns []string
	// Indexes are "table index-name (col, …) unique? partial?". An index
	// that backs a PRIMARY KEY or UNIQUE constraint has no name of our
	// choosing in either dialect, so it is named "pk" or "unique(cols)".
	Indexes []string
	// Triggers are "table trigger-name".
	Triggers []string
}

// canonicalType maps a column type of either dialect to one name. The
// mapping (SQLite → PostgreSQL):
//
//	TEXT      ↔ text, varchar          → text
//	INTEGER   ↔ integer, bigint        → integer (SQLite integers are 64-bit)
//	TIMESTAMP ↔ timestamp with time zone → timestamp (stored UTC either way)
//	DATE      ↔ date                   → date
//	BLOB      ↔ bytea                  → bytes
//	BOOLEAN   ↔ boolean                → boolean (SQLite keeps 0/1)
//	REAL      ↔ double precision       → real
//
// SQLite has no boolean type, and its tree declares most flags INTEGER
// (0/1): diffSchemas takes an SQLite integer column for the PostgreSQL
// boolean column of the same name and nullability.
func canonicalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	switch {
	case t == "text", strings.HasPrefix(t, "varchar"), strings.HasPrefix(t, "character varying"):
		return "text"
	case t == "integer", t == "int", t == "bigint", t == "smallint", t == "int8", t == "int4":
		return "integer"
	case t == "timestamp", t == "timestamptz", t == "datetime", strings.HasPrefix(t, "timestamp with"), strings.HasPrefix(t, "timestamp without"):
		return "timestamp"
	case t == "date":
		return "date"
	case t == "blob", t == "bytea":
		return "bytes"
	case t == "boolean", t == "bool":
		return "boolean"
	case t == "real", t == "double precision", t == "float8":
		return "real"
	}
	return "?" + t
}

// allowedDrift lists the differences between the two trees that are
// dialect idioms, not drift, each with its reason. An entry is a line of
// diffSchemas's output.
var allowedDrift = map[string]string{
	// An SQLite trigger fires on one event, so each immutable table has a
	// no_update and a no_delete trigger there, and one BEFORE UPDATE OR
	// DELETE trigger in PostgreSQL. TestImmutableTablesRefuseChange checks
	// both dialects refuse both.
	"-sqlite trigger audit_log audit_log_no_delete":                       sqliteTriggerPerEvent,
	"-sqlite trigger audit_log audit_log_no_update":                       sqliteTriggerPerEvent,
	"-sqlite trigger ledger_entries ledger_entries_no_delete":             sqliteTriggerPerEvent,
	"-sqlite trigger ledger_entries ledger_entries_no_update":             sqliteTriggerPerEvent,
	"-sqlite trigger ledger_transactions ledger_transactions_no_delete":   sqliteTriggerPerEvent,
	"-sqlite trigger ledger_transactions ledger_transactions_no_update":   sqliteTriggerPerEvent,
	"+postgres trigger audit_log audit_log_immutable":                     sqliteTriggerPerEvent,
	"+postgres trigger ledger_entries ledger_entries_immutable":           sqliteTriggerPerEvent,
	"+postgres trigger ledger_transactions ledger_transactions_immutable": sqliteTriggerPerEvent,
}

const sqliteTriggerPerEvent = "SQLite triggers fire on one event: two there (no_update, no_delete), one BEFORE UPDATE OR DELETE in PostgreSQL"

// sqliteFlags rewrites each SQLite integer column that is a boolean in
// PostgreSQL (same table, name and nullability) as boolean.
func sqliteFlags(sqlite, postgres []string) []string {
	out := slices.Clone(sqlite)
	for i, c := range out {
		if b := strings.Replace(c, " integer ", " boolean ", 1); b != c && slices.Contains(postgres, b) {
			out[i] = b
		}
	}
	return out
}

// diffSchemas lists what sqlite and postgres do not share, as "-sqlite …"
// (only in SQLite) and "+postgres …" (only in PostgreSQL) lines, leaving
// out the lines of allowed.
func diffSchemas(sqlite, postgres *schema, allowed map[string]string) []string {
	var out []string
	diff := func(kind string, a, b []string) {
		in := func(list []string, s string) bool { return slices.Contains(list, s) }
		for _, s := range a {
			if !in(b, s) {
				out = append(out, fmt.Sprintf("-sqlite %s %s", kind, s))
			}
		}
		for _, s := range b {
			if !in(a, s) {
				out = append(out, fmt.Sprintf("+postgres %s %s", kind, s))
			}
		}
	}
	diff("column", sqliteFlags(sqlite.Columns, postgres.Columns), postgres.Columns)
	diff("index", sqlite.Indexes, postgres.Indexes)
	diff("trigger", sqlite.Triggers, postgres.Triggers)
	out = slices.DeleteFunc(out, func(s string) bool { _, ok := allowed[s]; return ok })
	sort.Strings(out)
	return out
}

func nullability(notNull bool) string {
	if notNull {
		return "not null"
	}
	return "null"
}

func indexLine(table, name string, cols []string, unique, partial bool) string {
	s := fmt.Sprintf("%s %s (%s)", table, name, strings.Join(cols, ", "))
	if unique {
		s += " unique"
	}
	if partial {
		s += " partial"
	}
	return s
}

func isRiverTable(name string) bool { return strings.HasPrefix(name, "river_") }

// describe reads the schema of a migrated database.
func describe(t *testing.T, db *DB) *schema {
	t.Helper()
	var s *schema
	var err error
	if db.Dialect == SQLite {
		s, err = describeSQLite(context.Background(), db)
	} else {
		s, err = describePostgres(context.Background(), db)
	}
	if err != nil {
		t.Fatalf("describe %s schema: %v", db.Dialect, err)
	}
	sort.Strings(s.Columns)
	sort.Strings(s.Indexes)
	sort.Strings(s.Triggers)
	return s
}

func describeSQLite(ctx context.Context, db *DB) (*schema, error) {
	tables, err := queryStrings(ctx, db.Read, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	s := &schema{}
	for _, table := range tables {
		if isRiverTable(table) {
			continue
		}
		rows, err := db.Read.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var name, typ string
			var notNull, pk int
			if err := rows.Scan(&name, &typ, &notNull, &pk); err != nil {
				rows.Close()
				return nil, err
			}
			// A PRIMARY KEY column is NOT NULL in PostgreSQL; SQLite
			// allows NULL there only by an old quirk (and no code stores one).
			s.Columns = append(s.Columns, fmt.Sprintf("%s.%s %s %s", table, name, canonicalType(typ), nullability(notNull == 1 || pk > 0)))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		type index struct {
			name, origin    string
			unique, partial bool
		}
		var idxs []index
		rows, err = db.Read.QueryContext(ctx, `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var ix index
			var unique, partial int
			if err := rows.Scan(&ix.name, &unique, &ix.origin, &partial); err != nil {
				rows.Close()
				return nil, err
			}
			ix.unique, ix.partial = unique == 1, partial == 1
			idxs = append(idxs, ix)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, ix := range idxs {
			rows, err := db.Read.QueryContext(ctx, `SELECT cid, COALESCE(name, '') FROM pragma_index_info(?) ORDER BY seqno`, ix.name)
			if err != nil {
				return nil, err
			}
			var cols []string
			for rows.Next() {
				var cid int
				var name string
				if err := rows.Scan(&cid, &name); err != nil {
					rows.Close()
					return nil, err
				}
				if cid == -2 {
					name = "<expression>"
				}
				cols = append(cols, name)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
			name := ix.name
			switch ix.origin {
			case "pk":
				name = "pk"
			case "u":
				name = "unique"
			}
			s.Indexes = append(s.Indexes, indexLine(table, name, cols, ix.unique, ix.partial))
		}
		// A rowid table's INTEGER PRIMARY KEY has no index of its own.
		if !slices.ContainsFunc(idxs, func(ix index) bool { return ix.origin == "pk" }) {
			pks, err := queryStrings(ctx, db.Read, `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
			if err != nil {
				return nil, err
			}
			if len(pks) > 0 {
				s.Indexes = append(s.Indexes, indexLine(table, "pk", pks, true, false))
			}
		}
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var table, name string
		if err := rows.Scan(&table, &name); err != nil {
			return nil, err
		}
		if !isRiverTable(table) {
			s.Triggers = append(s.Triggers, table+" "+name)
		}
	}
	return s, rows.Err()
}

func describePostgres(ctx context.Context, db *DB) (*schema, error) {
	s := &schema{}
	rows, err := db.Read.QueryContext(ctx, `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO'
		FROM information_schema.columns c JOIN information_schema.tables t
		  ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE c.table_schema = current_schema()`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var table, name, typ string
		var notNull bool
		if err := rows.Scan(&table, &name, &typ, &notNull); err != nil {
			rows.Close()
			return nil, err
		}
		if !isRiverTable(table) {
			s.Columns = append(s.Columns, fmt.Sprintf("%s.%s %s %s", table, name, canonicalType(typ), nullability(notNull)))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Index columns in order; an expression is attnum 0.
	rows, err = db.Read.QueryContext(ctx, `SELECT t.relname, i.relname, x.indisunique, x.indisprimary,
		  x.indpred IS NOT NULL, EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype = 'u'),
		  ARRAY(SELECT COALESCE(a.attname, '<expression>') FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
		        LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
		WHERE t.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var table, name, cols string
		var unique, primary, partial, constraint bool
		if err := rows.Scan(&table, &name, &unique, &primary, &partial, &constraint, &cols); err != nil {
			rows.Close()
			return nil, err
		}
		if isRiverTable(table) {
			continue
		}
		switch {
		case primary:
			name = "pk"
		case constraint:
			name = "unique"
		}
		list := strings.Split(strings.Trim(cols, "{}"), ",")
		for i, c := range list {
			list[i] = strings.Trim(c, `"`)
		}
		s.Indexes = append(s.Indexes, indexLine(table, name, list, unique, partial))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.Read.QueryContext(ctx, `SELECT c.relname, g.tgname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		WHERE NOT g.tgisinternal AND c.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var table, name string
		if err := rows.Scan(&table, &name); err != nil {
			return nil, err
		}
		if !isRiverTable(table) {
			s.Triggers = append(s.Triggers, table+" "+name)
		}
	}
	return s, rows.Err()
}

// migratedSchemas migrates a fresh database of each dialect and describes
// both.
func migratedSchemas(t *testing.T) (sqlite, postgres *schema) {
	t.Helper()
	lite := openMigrated(t, dbtest.SQLiteURL(t))
	pg := openMigrated(t, dbtest.PostgresURL(t))
	return describe(t, lite), describe(t, pg)
}

// The two migration trees describe the same schema: tables, columns (name,
// nullability, type modulo canonicalType), indexes (name, columns,
// uniqueness, partial) and triggers, apart from the dialect idioms listed in
// allowedDrift.
func TestMigrationTreesDescribeTheSameSchema(t *testing.T) {
	t.Parallel()
	sqlite, postgres := migratedSchemas(t)
	if len(sqlite.Columns) < 100 || len(postgres.Columns) < 100 {
		t.Fatalf("described %d SQLite and %d PostgreSQL columns; the description is broken", len(sqlite.Columns), len(postgres.Columns))
	}
	if d := diffSchemas(sqlite, postgres, allowedDrift); len(d) > 0 {
		t.Errorf("the migration trees drift apart (%d differences):\n%s", len(d), strings.Join(d, "\n"))
	}
	// Every allowed difference is still a real one: a stale entry would
	// hide a later drift of the same line.
	for line := range allowedDrift {
		if !slices.Contains(diffSchemas(sqlite, postgres, nil), line) {
			t.Errorf("allowedDrift lists %q, which is no longer a difference: remove it", line)
		}
	}
}

// The comparison fails on a deliberate drift: testdata/drift/sqlite.sql
// (a migration, applied to SQLite only, that adds a column, an index and a
// trigger) makes diffSchemas report each change.
func TestSchemaComparisonReportsDrift(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile("testdata/drift/sqlite.sql")
	if err != nil {
		t.Fatal(err)
	}
	lite := openMigrated(t, dbtest.SQLiteURL(t))
	if _, err := lite.Write.Exec(string(fixture)); err != nil {
		t.Fatalf("apply drift fixture: %v", err)
	}
	pg := openMigrated(t, dbtest.PostgresURL(t))
	got := diffSchemas(describe(t, lite), describe(t, pg), allowedDrift)
	for _, want := range []string{
		"-sqlite column customers.drift_note text null",
		"-sqlite index customers customers_drift_idx (drift_note)",
		"-sqlite trigger customers customers_drift_trigger",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("drift not reported: %q\ngot:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// An edit of the description: a column whose type or nullability
	// differs, and an index that lost its uniqueness, are reported too.
	a, b := describe(t, pg), describe(t, pg)
	i := slices.IndexFunc(a.Columns, func(s string) bool { return strings.HasPrefix(s, "customers.email ") })
	a.Columns[i] = "customers.email integer null"
	j := slices.IndexFunc(a.Indexes, func(s string) bool { return strings.HasSuffix(s, " unique") && !strings.Contains(s, " pk ") })
	a.Indexes[j] = strings.TrimSuffix(a.Indexes[j], " unique")
	if d := diffSchemas(a, b, nil); len(d) != 4 {
		t.Errorf("edited description: %d differences, want 4 (column and index, each side):\n%s", len(d), strings.Join(d, "\n"))
	}
}
