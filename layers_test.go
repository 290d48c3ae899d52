package fulfill_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const storePath = "github.com/fulfillhq/fulfill/store"

// edgeWrites are the writes the HTTP layer makes itself: throttle counters,
// idempotency records and a session's flash message belong to the edge,
// not to a use case.
var edgeWrites = map[string]bool{"Hit": true, "ClearHits": true, "SetFlash": true,
	"ClaimIdempotencyKey": true, "FinishIdempotencyKey": true, "RecordIdempotencyAnswer": true, "ReleaseIdempotencyKey": true, "UnlockIdempotencyKey": true,
	// These read on the write pool (the primary) and change nothing.
	"PendingJobs": true, "RiverDriver": true, "Close": true, "CheckSchema": true, "SchemaStatus": true,
	"Ready": true, "ClockState": true}

// TestWebAndAPIRunNoTransactions keeps every change of state in the domain
// layer (commerce and its siblings): the HTTP packages web and api parse,
// call a service method and render. Their non-test code, type-checked, may
// not open a transaction (a call of InTx or BeginTx), name store.Tx, call
// any method of store's *Tx, or call a method of *store.DB that writes (one
// that uses the write pool, itself or through another), edgeWrites aside.
// Reads for pages stay allowed, and so does ReadTx, a read-only transaction.
func TestWebAndAPIRunNoTransactions(t *testing.T) {
	t.Parallel()
	writes := storeWrites(t)
	for _, m := range []string{"InsertSession", "SetActingAs", "Hit"} {
		if !writes[m] {
			t.Fatalf("store.DB.%s is not seen as a write: the scan is broken", m)
		}
	}
	for _, dir := range []string{"web", "api"} {
		for _, f := range transactionUses(t, dir, writes) {
			t.Errorf("%s: a change of state belongs in a service method (commerce, integrations), not in %s", f, dir)
		}
	}
}

// transactionUses type-checks the non-test files of the package in dir and
// lists where they open a transaction or use one.
func transactionUses(t *testing.T, dir string, writes map[string]bool) []string {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	exports := exportData(t, "./"+dir)
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if f := exports[path]; f != "" {
			return os.Open(f)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	})
	info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}, Uses: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{Importer: imp}).Check("github.com/fulfillhq/fulfill/"+dir, fset, files, info); err != nil {
		t.Fatalf("type-check %s: %v", dir, err)
	}
	var found []string
	for sel, s := range info.Selections {
		recv := s.Recv()
		if p, ok := recv.(*types.Pointer); ok {
			recv = p.Elem()
		}
		named, ok := recv.(*types.Named)
		if !ok || named.Obj().Pkg() == nil || named.Obj().Pkg().Path() != storePath {
			continue
		}
		m := sel.Sel.Name
		switch {
		case named.Obj().Name() == "Tx" || (named.Obj().Name() == "DB" && (m == "InTx" || m == "BeginTx")):
			found = append(found, fmt.Sprintf("%s: uses %s.%s", fset.Position(sel.Pos()), named.Obj().Name(), m))
		case named.Obj().Name() == "DB" && writes[m] && !edgeWrites[m]:
			found = append(found, fmt.Sprintf("%s: writes with DB.%s", fset.Position(sel.Pos()), m))
		}
	}
	for id, obj := range info.Uses {
		if tn, ok := obj.(*types.TypeName); ok && tn.Pkg() != nil && tn.Pkg().Path() == storePath && tn.Name() == "Tx" {
			found = append(found, fmt.Sprintf("%s: names store.Tx", fset.Position(id.Pos())))
		}
	}
	// Any BeginTx, whatever its receiver (database/sql's included).
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "BeginTx" {
				found = append(found, fmt.Sprintf("%s: calls BeginTx", fset.Position(sel.Pos())))
			}
			return true
		})
	}
	sort.Strings(found)
	return found
}

// storeWrites returns the methods of *store.DB that write: those whose
// body uses the write pool (db.Write), or calls such a method.
func storeWrites(t *testing.T) map[string]bool {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("store", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	calls := map[string][]string{} // method -> the db.X it selects
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 || len(fn.Recv.List[0].Names) != 1 || fn.Body == nil {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue // a value receiver: not *DB
			}
			if id, _ := star.X.(*ast.Ident); id == nil || id.Name != "DB" {
				continue
			}
			recv := fn.Recv.List[0].Names[0].Name
			sels := []string{}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == recv {
						sels = append(sels, sel.Sel.Name)
					}
				}
				return true
			})
			calls[fn.Name.Name] = sels
		}
	}
	writes := map[string]bool{"Write": true}
	for changed := true; changed; {
		changed = false
		for m, sels := range calls {
			for _, s := range sels {
				if writes[s] && !writes[m] {
					writes[m], changed = true, true
				}
			}
		}
	}
	return writes
}

// exportData maps the import paths of pkg and its dependencies to their
// compiled export data, built by the go command.
func exportData(t *testing.T, pkg string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, stderr.String())
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "\t"); ok {
			m[path] = file
		}
	}
	return m
}
