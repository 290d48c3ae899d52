package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated parts of docs/deploy.md")

// serveFlag is one flag of `fulfill serve` as its -h output shows it.
type serveFlag struct{ name, kind, usage, def string }

// serveFlags reads the flags from `serve -h`, so the reference cannot
// drift from what serve really accepts.
func serveFlags(t *testing.T) []serveFlag {
	t.Helper()
	var out bytes.Buffer
	Main(context.Background(), []string{"serve", "-h"}, &out, &out, env(nil))
	var fs []serveFlag
	head := regexp.MustCompile(`^  -(\S+)(?: (\S+))?$`)
	for _, line := range strings.Split(out.String(), "\n") {
		if m := head.FindStringSubmatch(line); m != nil {
			fs = append(fs, serveFlag{name: m[1], kind: m[2]})
		} else if len(fs) > 0 && strings.HasPrefix(line, "    \t") {
			u := strings.TrimSpace(line)
			if i := strings.LastIndex(u, " (default "); i >= 0 && strings.HasSuffix(u, ")") {
				fs[len(fs)-1].def = strings.TrimSuffix(u[i+len(" (default "):], ")")
				u = u[:i]
			}
			fs[len(fs)-1].usage = u
		}
	}
	if len(fs) < 10 {
		t.Fatalf("read only %d flags from serve -h:\n%s", len(fs), out.String())
	}
	return fs
}

func flagTable(fs []serveFlag) string {
	var b strings.Builder
	b.WriteString("| Flag | Default | Meaning |\n|---|---|---|\n")
	for _, f := range fs {
		name := "`--" + f.name
		if f.kind != "" {
			name += " " + strings.ToUpper(f.kind)
		}
		def := f.def
		if def == "" && f.kind == "" {
			def = "false"
		}
		if def != "" {
			def = "`" + def + "`"
		}
		u := strings.ReplaceAll(f.usage, "|", "\\|")
		fmt.Fprintf(&b, "| %s` | %s | %s |\n", name, def, u)
	}
	return b.String()
}

// docs/deploy.md's configuration reference lists every flag of serve, as
// generated from the flags (-update rewrites it).
func TestDeployDocListsEveryServeFlag(t *testing.T) {
	t.Parallel()
	const path = "../../docs/deploy.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- BEGIN serve flags -->\n", "<!-- END serve flags -->"
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q section", path, begin, end)
	}
	fs := serveFlags(t)
	want := flagTable(fs)
	if *update {
		doc = append(append(append([]byte{}, doc[:i+len(begin)]...), want...), doc[j:]...)
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got := string(doc[i+len(begin) : j])
	for _, f := range fs {
		if !strings.Contains(got, "`--"+f.name+"`") && !strings.Contains(got, "`--"+f.name+" ") {
			t.Errorf("docs/deploy.md does not document --%s (run: go test ./cmd/fulfill -run %s -update)", f.name, t.Name())
		}
	}
	if got != want {
		t.Errorf("docs/deploy.md's flag table is not what the flags say; run: go test ./cmd/fulfill -run %s -update", t.Name())
	}
}
