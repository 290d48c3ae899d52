package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// Acceptance 6: malformed requests get a precise 4xx and change nothing.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		buy := func(extra string) string {
			return `{"customer_id":"` + cus + `","plan":"sm-premium","payment_method":"pm_card_visa"` + extra + `}`
		}
		cases := []struct {
			name, method, path, body string
			status                   int
			code, field              string
		}{
			{"empty body", "POST", "/api/v1/customers", ``, 400, "invalid_json", ""},
			{"not json", "POST", "/api/v1/customers", `email=a@b.c`, 400, "invalid_json", ""},
			{"truncated json", "POST", "/api/v1/customers", `{"email":"a@b.co"`, 400, "invalid_json", ""},
			{"array not object", "POST", "/api/v1/customers", `[1,2]`, 400, "invalid_json", ""},
			{"two objects", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A","country":"US"}{}`, 400, "invalid_json", ""},
			{"unknown field", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A","country":"US","vip":true}`, 400, "unknown_field", "vip"},
			{"email wrong type", "POST", "/api/v1/customers", `{"email":42,"name":"A","country":"US"}`, 400, "invalid_type", "email"},
			{"missing email", "POST", "/api/v1/customers", `{"name":"A","country":"US"}`, 422, "required", "email"},
			{"bad email", "POST", "/api/v1/customers", `{"email":"nope","name":"A","country":"US"}`, 422, "invalid", "email"},
			{"missing name", "POST", "/api/v1/customers", `{"email":"a@b.co","country":"US"}`, 422, "required", "name"},
			{"bad country", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A","country":"USA"}`, 422, "invalid", "country"},
			{"bad currency", "POST", "/api/v1/customers", `{"email":"a@b.co","name":"A","country":"US","currency":"dollars"}`, 422, "invalid", "currency"},
			{"seats as string", "POST", "/api/v1/subscriptions", buy(`,"seats":"10"`), 400, "invalid_type", "seats"},
			{"seats fractional", "POST", "/api/v1/subscriptions", buy(`,"seats":1.5`), 400, "invalid_type", "seats"},
			{"seats beyond int64", "POST", "/api/v1/subscriptions", buy(`,"seats":1e30`), 400, "invalid_type", "seats"},
			{"seats missing", "POST", "/api/v1/subscriptions", buy(``), 422, "required", "seats"},
			{"seats zero", "POST", "/api/v1/subscriptions", buy(`,"seats":0`), 422, "out_of_range", "seats"},
			{"seats negative", "POST", "/api/v1/subscriptions", buy(`,"seats":-5`), 422, "out_of_range", "seats"},
			{"seats huge", "POST", "/api/v1/subscriptions", buy(`,"seats":1000000000`), 422, "out_of_range", "seats"},
			{"unknown plan", "POST", "/api/v1/subscriptions", `{"customer_id":"` + cus + `","plan":"sm-gold","seats":1,"payment_method":"pm_card_visa"}`, 422, "unknown_plan", "plan"},
			{"missing plan", "POST", "/api/v1/subscriptions", `{"customer_id":"` + cus + `","seats":1,"payment_method":"pm_card_visa"}`, 422, "required", "plan"},
			{"unknown customer", "POST", "/api/v1/subscriptions", `{"customer_id":"cus_nope","plan":"sm-premium","seats":1,"payment_method":"pm_card_visa"}`, 404, "not_found", "customer_id"},
			{"customer id wrong type", "POST", "/api/v1/subscriptions", `{"customer_id":7,"plan":"sm-premium","seats":1,"payment_method":"pm_card_visa"}`, 400, "invalid_type", "customer_id"},
			{"bad start date", "POST", "/api/v1/subscriptions", buy(`,"seats":1,"starts_on":"2026-13-01"`), 422, "invalid", "starts_on"},
			{"start in the past", "POST", "/api/v1/subscriptions", buy(`,"seats":1,"starts_on":"2025-12-31"`), 422, "out_of_range", "starts_on"},
			{"unknown payment method", "POST", "/api/v1/subscriptions", `{"customer_id":"` + cus + `","plan":"sm-premium","seats":1,"payment_method":"pm_fake"}`, 422, "invalid", "payment_method"},
			{"missing payment method", "POST", "/api/v1/subscriptions", `{"customer_id":"` + cus + `","plan":"sm-premium","seats":1}`, 422, "required", "payment_method"},
			{"seats reduced mid-term", "POST", "/api/v1/subscriptions/" + sub + "/seats", `{"seats":5}`, 422, "invalid", "seats"},
			{"seats unchanged", "POST", "/api/v1/subscriptions/" + sub + "/seats/preview", `{"seats":10}`, 422, "invalid", "seats"},
			{"seats null", "POST", "/api/v1/subscriptions/" + sub + "/seats", `{"seats":null}`, 422, "required", "seats"},
			{"seats on unknown subscription", "POST", "/api/v1/subscriptions/sub_nope/seats", `{"seats":50}`, 404, "not_found", ""},
			{"downgrade plan", "POST", "/api/v1/subscriptions/" + sub + "/plan", `{"plan":"sm-premium"}`, 422, "invalid", "plan"},
			{"saas plan on self-managed", "POST", "/api/v1/subscriptions/" + sub + "/plan/preview", `{"plan":"saas-ultimate"}`, 422, "invalid", "plan"},
			{"renew below billable", "POST", "/api/v1/subscriptions/" + sub + "/renew", `{"seats":0}`, 422, "out_of_range", "seats"},
			{"resume while renewing", "POST", "/api/v1/subscriptions/" + sub + "/resume", ``, 409, "conflict", ""},
			{"plan bad kind", "POST", "/api/v1/plans", `{"code":"x","name":"X","kind":"desktop","prices":{"USD":100}}`, 422, "invalid", "kind"},
			{"plan negative price", "POST", "/api/v1/plans", `{"code":"x","name":"X","kind":"saas","prices":{"USD":-1}}`, 422, "out_of_range", "prices"},
			{"plan price not integer", "POST", "/api/v1/plans", `{"code":"x","name":"X","kind":"saas","prices":{"USD":1.5}}`, 400, "invalid_type", "prices"},
			{"plan bad code", "POST", "/api/v1/plans", `{"code":"Big Plan","name":"X","kind":"saas","prices":{"USD":1}}`, 422, "invalid", "code"},
			{"seat report future", "POST", "/api/v1/seat_reports", `{"subscription_id":"` + sub + `","date":"2026-02-01","max_users":1,"billable_users":1}`, 422, "out_of_range", "date"},
			{"seat report billable over max", "POST", "/api/v1/seat_reports", `{"subscription_id":"` + sub + `","max_users":1,"billable_users":2}`, 422, "out_of_range", "billable_users"},
			{"seat report negative", "POST", "/api/v1/seat_reports", `{"subscription_id":"` + sub + `","max_users":-1,"billable_users":0}`, 422, "out_of_range", "max_users"},
			{"seat report unknown subscription", "POST", "/api/v1/seat_reports", `{"subscription_id":"sub_x","max_users":1,"billable_users":1}`, 404, "not_found", "subscription_id"},
			{"bad limit", "GET", "/api/v1/invoices?limit=1000", ``, 422, "out_of_range", "limit"},
			{"unknown invoice", "GET", "/api/v1/invoices/inv_nope", ``, 404, "not_found", ""},
			{"unknown route", "GET", "/api/v1/nothing", ``, 404, "not_found", ""},
			{"clock backwards", "POST", "/api/v1/test_clock/advance", `{"to":"2025-01-01"}`, 422, "out_of_range", "to"},
			{"oversized body", "POST", "/api/v1/customers", `{"name":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "request_too_large", ""},
		}
		before, err := e.db.TableCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var ae apiError
				got := e.do(c.method, c.path, c.body, &ae)
				if got != c.status || ae.Error.Code != c.code || ae.Error.Field != c.field || ae.Error.Message == "" {
					t.Errorf("got %d %+v, want %d %s field %q", got, ae.Error, c.status, c.code, c.field)
				}
			})
		}
		after, _ := e.db.TableCounts(context.Background())
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("malformed requests changed the data:\n before %v\n after  %v", before, after)
		}
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.SQLiteURL(t), "2026-01-01")
	for _, h := range []string{"", "Bearer ", "Bearer wrong-token", "Basic abc"} {
		var ae apiError
		if got := e.do("GET", "/api/v1/plans", nil, &ae, "Authorization", h); got != 401 || ae.Error.Code != "unauthorized" {
			t.Errorf("Authorization %q: %d %+v", h, got, ae)
		}
	}
}
