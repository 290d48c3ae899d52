package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

type edgeCase struct {
	name, method, path, body string
	headers                  []string // pairs; "Authorization", "" sends no token
	status                   int
	code, field              string
}

// runEdgeCases sends each case and checks the exact answer, then that the
// refused ones changed nothing.
func runEdgeCases(t *testing.T, e *env, cases []edgeCase) {
	t.Helper()
	before, err := e.db.TableCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ae apiError
			got := e.do(c.method, c.path, c.body, &ae, c.headers...)
			if got != c.status || ae.Error.Code != c.code || ae.Error.Field != c.field || ae.Error.Message == "" {
				t.Errorf("got %d %+v, want %d %s field %q", got, ae.Error, c.status, c.code, c.field)
			}
		})
	}
	after, _ := e.db.TableCounts(context.Background())
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("refused requests changed the data:\n before %v\n after  %v", before, after)
	}
}

var noToken = []string{"Authorization", ""}

// Issue 9 item 5: a NUL or invalid UTF-8 anywhere (JSON body, path, query,
// header) answers 422 naming the field, before any store access and with or
// without a token; on PostgreSQL these used to answer 500.
func TestBadBytesAreRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "invoice"}, &p)
		sub := p.Subscription.ID
		runEdgeCases(t, e, []edgeCase{
			{"NUL escape in a field", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A\u0000B","country":"US"}`, nil, 422, "invalid", "name"},
			{"invalid UTF-8 in a field", "POST", "/api/v1/customers", "{\"email\":\"a@b.co\",\"name\":\"A\xffB\",\"country\":\"US\"}", nil, 422, "invalid", "name"},
			{"overlong UTF-8 in a field", "POST", "/api/v1/subscriptions/" + sub + "/cancel", "{\"reason\":\"\xc0\xaf\"}", nil, 422, "invalid", "reason"},
			{"NUL in an unknown key", "POST", "/api/v1/customers", `{"a\u0000":1}`, nil, 422, "invalid", "a\uFFFD"},
			{"NUL in an array", "POST", "/api/v1/webhook_endpoints", `{"url":"http://127.0.0.1:1/h","events":["*","\u0000"]}`, nil, 422, "invalid", "events"},
			{"raw NUL byte", "POST", "/api/v1/customers", "{\"email\":\"a\x00\"}", nil, 400, "invalid_json", ""},
			{"invalid UTF-8 outside strings", "POST", "/api/v1/customers", "\xff{}", nil, 400, "invalid_json", ""},
			{"NUL in a path value", "GET", "/api/v1/subscriptions/sub%00x", "", nil, 422, "invalid", "id"},
			{"invalid UTF-8 in a path value", "POST", "/api/v1/subscriptions/%FF/cancel", "", nil, 422, "invalid", "id"},
			{"NUL in a query value", "GET", "/api/v1/invoices?customer_id=%00", "", nil, 422, "invalid", "customer_id"},
			{"invalid UTF-8 in a query value", "GET", "/api/v1/audit_log?subject_id=%C3", "", nil, 422, "invalid", "subject_id"},
			{"query value too long", "GET", "/api/v1/customers?starting_after=" + strings.Repeat("é", 256), "", nil, 422, "out_of_range", "starting_after"},
			{"invalid UTF-8 in the Idempotency-Key", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A","country":"US"}`,
				[]string{"Idempotency-Key", "k\xff"}, 422, "invalid", "Idempotency-Key"},
			{"Idempotency-Key of 256 characters", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A","country":"US"}`,
				[]string{"Idempotency-Key", strings.Repeat("é", 256)}, 422, "out_of_range", "Idempotency-Key"},
			// The instance endpoints need no vendor token.
			{"activation, NUL in hostname", "POST", "/api/v1/activations",
				`{"activation_code":"ABCDEFGHJKLMNPQRSTUVWXYZ","instance_id":"i","hostname":"h\u0000","version":"1"}`, noToken, 422, "invalid", "hostname"},
			{"activation, invalid UTF-8 in version", "POST", "/api/v1/activations",
				"{\"activation_code\":\"ABCDEFGHJKLMNPQRSTUVWXYZ\",\"instance_id\":\"i\",\"version\":\"\xfe\"}", noToken, 422, "invalid", "version"},
			{"seat link, NUL in instance_id", "POST", "/api/v1/seat_links",
				`{"license_key":"x","instance_id":"\u0000","max_historical_user_count":1,"billable_users_count":1}`, noToken, 422, "invalid", "instance_id"},
			{"usage ping, NUL deep in the payload", "POST", "/api/v1/usage_data",
				`{"instance_id":"i","payload":{"a":[{"b":"\u0000"}]}}`, noToken, 422, "invalid", "payload.a.b"},
			{"usage file, invalid UTF-8", "POST", "/api/v1/usage_files", "{\"format\":\"fulfill-usage-v1\",\"hostname\":\"\xff\"}", nil, 422, "invalid", "hostname"},
			{"bad bytes before the token check", "GET", "/api/v1/customers/%00", "", noToken, 422, "invalid", "id"},
		})
	})
}

// Lengths are counted in characters, not bytes: 200 two-byte characters
// are a valid name and 256 are a valid Idempotency-Key no more.
func TestLengthLimitsCountCharacters(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url, "2026-01-01")
		name := strings.Repeat("é", 200)
		var c struct{ ID, Name string }
		e.must(201, "POST", "/api/v1/customers", map[string]any{"email": "a@b.co", "name": name, "country": "FR"}, &c)
		if c.Name != name {
			t.Fatalf("name = %q", c.Name)
		}
		var ae apiError
		if got := e.do("POST", "/api/v1/customers", map[string]any{"email": "a@b.co", "name": name + "é", "country": "FR"}, &ae); got != 422 ||
			ae.Error.Code != "out_of_range" || ae.Error.Field != "name" {
			t.Errorf("201 characters: %d %+v, want 422 out_of_range name", got, ae.Error)
		}
		key := strings.Repeat("ключ", 60) // 240 characters, 480 bytes
		if got := e.do("POST", "/api/v1/customers", map[string]any{"email": "k@b.co", "name": "K", "country": "FR"}, nil,
			"Idempotency-Key", key); got != 201 {
			t.Errorf("Idempotency-Key of 240 characters: %d, want 201", got)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/customers?starting_after="+strings.Repeat("%C3%A9", 255), nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("cursor of 255 characters: %d, want 200", resp.StatusCode)
		}
	})
}

// Issue 9 item 10: null is refused for a field whose type cannot hold it,
// at any depth; encoding/json used to read it as the zero value. A null
// where the value is optional reads as absent.
func TestNullRefusedForNonNullableFields(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "invoice"}, &p)
		sub := p.Subscription.ID
		runEdgeCases(t, e, []edgeCase{
			{"body null", "POST", "/api/v1/customers", `null`, nil, 400, "invalid_json", ""},
			{"string null", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A","country":"US","company":null}`, nil, 400, "invalid_type", "company"},
			{"required string null", "POST", "/api/v1/customers", `{"email":null,"name":"A","country":"US"}`, nil, 400, "invalid_type", "email"},
			{"boolean null", "POST", "/api/v1/subscriptions", `{"customer_id":"` + cus + `","plan":"sm-premium","seats":1,"payment_method":"invoice","seat_reconciliation":null}`,
				nil, 400, "invalid_type", "seat_reconciliation"},
			{"map value null", "POST", "/api/v1/plans", `{"code":"x","name":"X","kind":"saas","prices":{"USD":null}}`, nil, 400, "invalid_type", "prices.USD"},
			{"array element null", "POST", "/api/v1/webhook_endpoints", `{"url":"http://127.0.0.1:1/h","events":[null]}`, nil, 400, "invalid_type", "events"},
			{"null on an instance endpoint", "POST", "/api/v1/activations", `{"activation_code":"ABCDEFGHJKLMNPQRSTUVWXYZ","instance_id":"i","hostname":null}`,
				noToken, 400, "invalid_type", "hostname"},
			{"reason null", "POST", "/api/v1/subscriptions/" + sub + "/cancel", `{"reason":null}`, nil, 400, "invalid_type", "reason"},
			{"optional pointer null reads as absent", "POST", "/api/v1/subscriptions/" + sub + "/seats", `{"seats":null}`, nil, 422, "required", "seats"},
		})
		// A null inside a free-form JSON value is that value's business.
		l := e.buy("null@example.com")
		e.activate(l, "i")
		lic, _ := json.Marshal(l.license)
		e.must(201, "POST", "/api/v1/usage_data", `{"instance_id":"i","license_key":`+string(lic)+`,"payload":{"a":null,"b":[null]}}`, nil)
	})
}
