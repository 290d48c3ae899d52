package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fulfill import lists the rejected rows and imports the rest; fulfill
// export writes them back out; --all-or-nothing refuses a file with a bad row.
func TestImportExportCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if err := Main(ctx, []string{"migrate", "--data-dir", dir}, io.Discard, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "customers.csv")
	os.WriteFile(file, []byte("email,name,country,external_id\n"+
		"ada@example.com,Ada,GB,crm-1\n"+
		"bob@example,Bob,DE,crm-2\n"+
		"carol@example.com,Carol,US,crm-3\n"), 0o600)

	var out, errOut bytes.Buffer
	err := Main(ctx, []string{"import", "customers", file, "--data-dir", dir, "--all-or-nothing"}, &out, &errOut, env(nil))
	if err == nil || !strings.Contains(err.Error(), "nothing imported: 1 of 3 rows rejected") || exitCode(err) != 1 {
		t.Fatalf("all-or-nothing: err = %v", err)
	}

	out.Reset()
	errOut.Reset()
	if err := Main(ctx, []string{"import", "customers", file, "--data-dir", dir}, &out, &errOut, env(nil)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != `line 3: email: "bob@example" is not an email address.` ||
		!strings.HasPrefix(lines[1], "3 rows read, 1 rejected; imported 2 customers, 0 subscriptions, 0 licenses in ") {
		t.Errorf("import said:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "importing: 2/2 rows (100%)") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}

	exported := filepath.Join(dir, "out.csv")
	if err := Main(ctx, []string{"export", "customers", "-o", exported, "--data-dir", dir}, io.Discard, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(exported)
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[1], "ada@example.com,Ada,,,,,GB,,USD,crm-1,cus_") ||
		!strings.HasPrefix(rows[2], "carol@example.com,Carol,,,,,US,,USD,crm-3,cus_") {
		t.Errorf("export:\n%s", b)
	}

	err = Main(ctx, []string{"import", "invoices", file, "--data-dir", dir}, io.Discard, io.Discard, env(nil))
	if exitCode(err) != 2 {
		t.Errorf("import invoices: %v, want a usage error", err)
	}
}
