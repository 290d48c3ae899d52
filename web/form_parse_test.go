package web_test

import (
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Every request's form (query and body) is parsed and checked once, in
// wrap, before the handler runs; handlers read r.Form and r.PostForm and do
// not parse again. An address whose query can not be read is a 422 with an
// error page, never a page built from half a form; a well-formed query
// still reaches the handler.
func TestFormIsParsedAndCheckedBeforeTheHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t))
	c := e.signUp("ann@example.com")
	for _, path := range []string{"/buy?plan=%zz", "/support/new?account=%zz", "/signin?next=%zz"} {
		r := c.get(path).must(t, 422)
		if !strings.Contains(r.body, "could not be read") {
			t.Log(r.body)
			t.Errorf("GET %s: 422 without the error page: %.1000s", path, r.body)
		}
	}
	r := c.get("/buy?seats=12").must(t, 200)
	if !strings.Contains(r.body, `value="12"`) {
		t.Errorf("GET /buy?seats=12: the form does not show the query's seats: %.2000s", r.body)
	}
}
