package httpstatus

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module root, two directories up from this package.
const repoRoot = "../.."

// declaredCodes are the E* constants of error.go, by name.
func declaredCodes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot, "error.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if strings.HasPrefix(name.Name, "E") && ok && lit.Kind == token.STRING {
					codes[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return codes
}

// Every code declared in error.go has its own status: only EInternal is a
// 500.
func TestEveryDeclaredCodeHasAStatus(t *testing.T) {
	t.Parallel()
	codes := declaredCodes(t)
	if len(codes) < 20 {
		t.Fatalf("found %d codes in error.go; the parser missed them", len(codes))
	}
	for name, code := range codes {
		if _, ok := statuses[code]; !ok {
			t.Errorf("%s (%q) has no HTTP status in internal/httpstatus", name, code)
		} else if Of(code) == http.StatusInternalServerError && name != "EInternal" {
			t.Errorf("%s (%q) maps to 500", name, code)
		}
	}
}

// Our error codes are declared in error.go: no fulfill.Errorf, FieldError
// or fulfill.Error{Code: …} outside tests names its code by a string
// literal, so each code is defined once and has a status above.
func TestNoErrorCodeIsOnlyAString(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != repoRoot {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if isFulfill(n.Fun, "Errorf", "FieldError") && len(n.Args) > 0 && isString(n.Args[0]) {
					t.Errorf("%s: error code %s is a string literal; declare it in error.go", fset.Position(n.Pos()), literal(n.Args[0]))
				}
			case *ast.CompositeLit:
				if isFulfill(n.Type, "Error") {
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Code") && isString(kv.Value) {
							t.Errorf("%s: error code %s is a string literal; declare it in error.go", fset.Position(kv.Pos()), literal(kv.Value))
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isFulfill reports whether e is fulfill.<name> (or <name> inside package
// fulfill itself) for one of names.
func isFulfill(e ast.Expr, names ...string) bool {
	var name string
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if !isIdent(e.X, "fulfill") {
			return false
		}
		name = e.Sel.Name
	case *ast.Ident:
		name = e.Name
	default:
		return false
	}
	for _, n := range names {
		if name == n {
			return true
		}
	}
	return false
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isString(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.STRING
}

func literal(e ast.Expr) string { return e.(*ast.BasicLit).Value }
