package web

import (
	"context"
	"html/template"
	"io/fs"
	"strings"
	"testing"
)

// Issue 18, start-up: the pages are parsed once from a shared layout and
// partials, in the background. Each page holds the same templates, with
// the same trees, as parsing the layout, the partials and the page
// together (as New did before, at every start, for every page); every
// template file is a page; TemplatesReady reports them parsed.
func TestPagesParsedOnceAreThoseOfTheirOwnFiles(t *testing.T) {
	t.Parallel()
	funcs := templateFuncs()
	if err := (&Server{pages: parsePages()}).TemplatesReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A fresh parse, not the process's shared pages: executing a template
	// (other tests do) escapes its trees in place.
	ps := &pageSet{ready: make(chan struct{})}
	ps.pages, ps.err = parseAll(funcs)
	close(ps.ready)
	if ps.err != nil {
		t.Fatal(ps.err)
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.pages) != len(names)-1 { // all but the layout
		t.Errorf("%d pages for %d template files", len(ps.pages), len(names))
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		want, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials/*.html", n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ps.page(context.Background(), name)
		if err != nil {
			t.Fatalf("page %s: %v", name, err)
		}
		for _, w := range want.Templates() {
			if w.Tree == nil {
				continue
			}
			g := got.Lookup(w.Name())
			if g == nil || g.Tree == nil {
				t.Errorf("page %s lacks template %q", name, w.Name())
				continue
			}
			if g.Tree.Root.String() != w.Tree.Root.String() {
				t.Errorf("page %s: template %q differs from parsing its files together", name, w.Name())
			}
		}
	}
	if _, err := ps.page(context.Background(), "no-such-page"); err == nil {
		t.Error("a page that does not exist was found")
	}
}
