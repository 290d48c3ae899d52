package web_test

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Issue 9 item 5: a NUL or invalid UTF-8 in a form field, a query
// parameter or a path value answers 422 naming the field, before any
// handler reads it and without signing in; on PostgreSQL the sign-up and
// sign-in forms used to answer 500.
func TestBadBytesInFormsAreRefused(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		e := newEnv(t, dbURL)
		e.signUp("ann@example.com")
		form := func(kv ...string) url.Values {
			f := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				f.Set(kv[i], kv[i+1])
			}
			return f
		}
		cases := []struct {
			name, method, path string
			form               url.Values
			field              string
		}{
			{"sign-up, NUL in the name", "POST", "/signup", form("name", "Ann\x00", "email", "bob@example.com", "password", password), "name"},
			{"sign-up, invalid UTF-8 in the email", "POST", "/signup", form("name", "Bob", "email", "bob\xff@example.com", "password", password), "email"},
			{"sign-up, NUL in the password", "POST", "/signup", form("name", "Bob", "email", "bob@example.com", "password", password+"\x00"), "password"},
			{"sign-in, NUL in the email", "POST", "/signin", form("email", "ann@example.com\x00", "password", password), "email"},
			{"sign-in, invalid UTF-8 in the password", "POST", "/signin", form("email", "ann@example.com", "password", "\xc0\xaf"), "password"},
			{"console sign-in, NUL in the email", "POST", "/admin/signin", form("email", "\x00", "password", password), "email"},
			{"sign-in link, invalid UTF-8 in the email", "POST", "/signin/link/request", form("email", "ann@example.com\xfe"), "email"},
			{"password reset, NUL in the email", "POST", "/password/forgot", form("email", "ann@example.com\x00"), "email"},
			{"confirmation, NUL in the token", "POST", "/confirm", form("token", "\x00"), "token"},
			{"NUL in a field name", "POST", "/signin", form("email\x00", "ann@example.com"), "email\uFFFD"},
			{"NUL in a query parameter", "GET", "/signin?next=%2F%00", nil, "next"},
			{"invalid UTF-8 in a path value, signed out", "GET", "/subscriptions/%FF", nil, "id"},
		}
		before, err := e.db.TableCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.client().do(c.method, c.path, c.form)
				if r.status != 422 || !strings.Contains(html.UnescapeString(r.body), c.field+" ") {
					t.Errorf("status %d, want 422 naming %q; body:\n%.1500s", r.status, c.field, r.body)
				}
			})
		}
		after, _ := e.db.TableCounts(context.Background())
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("refused requests changed the data:\n before %v\n after  %v", before, after)
		}
		// Characters, not bytes: a name of 200 two-byte characters is fine.
		e.client().post("/signup", "name", strings.Repeat("é", 200), "email", "eve@example.com", "password", password).must(t, 200)
	})
}
