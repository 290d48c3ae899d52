package web

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"sync"
)

// pageSet is the parsed templates of every page. They are parsed once, in
// the background from New on, so that a server answers its first requests
// (health checks, the API) without waiting for them; a page rendered
// before they are ready waits for them.
type pageSet struct {
	ready chan struct{} // closed once pages and err are set
	pages map[string]*template.Template
	err   error
}

// parsePages parses the layout and the partials once and every page into a
// clone of them: the same templates as parsing the three for each page, at
// a third of the cost. It runs in its own goroutine.
func parsePages() *pageSet {
	ps := &pageSet{ready: make(chan struct{})}
	go func() {
		defer close(ps.ready)
		ps.pages, ps.err = parsedPages()
	}()
	return ps
}

// parsedPages are the page templates, parsed once per process and shared
// by its servers (they depend on nothing of a Server's, and are only
// executed after): the tests start hundreds of servers, and parsing took
// a sixteenth of the web tests' CPU.
var parsedPages = sync.OnceValues(func() (map[string]*template.Template, error) { return parseAll(templateFuncs()) })

func parseAll(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("page").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates/layout.html and partials: %w", err)
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := base.Clone()
		if err == nil {
			_, err = t.ParseFS(assets, n)
		}
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// page is the parsed template of a page, once the templates are ready.
func (ps *pageSet) page(ctx context.Context, name string) (*template.Template, error) {
	if err := ps.wait(ctx); err != nil {
		return nil, err
	}
	t, ok := ps.pages[name]
	if !ok {
		return nil, fmt.Errorf("web: no template %q", name)
	}
	return t, nil
}

func (ps *pageSet) wait(ctx context.Context) error {
	select {
	case <-ps.ready:
		return ps.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TemplatesReady waits until the page templates are parsed (New starts
// parsing them in the background) and says whether they parsed. A server
// may answer before then; pages wait for them.
func (s *Server) TemplatesReady(ctx context.Context) error { return s.pages.wait(ctx) }
