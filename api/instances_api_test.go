package api_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

type addOnMetric struct {
	AddOnType      string `json:"add_on_type"`
	PurchasedSeats int64  `json:"purchased_seats"`
	AssignedSeats  int64  `json:"assigned_seats"`
}

type seatReport struct {
	Date          string        `json:"date"`
	MaxUsers      int64         `json:"max_users"`
	BillableUsers int64         `json:"billable_users"`
	Source        string        `json:"source"`
	AddOnMetrics  []addOnMetric `json:"add_on_metrics"`
}

type instanceRow struct {
	InstanceID    string        `json:"instance_id"`
	Hostname      string        `json:"hostname"`
	Version       string        `json:"version"`
	ActivatedAt   string        `json:"activated_at"`
	LastSeenAt    string        `json:"last_seen_at"`
	MaxUsers      *int64        `json:"max_historical_user_count"`
	BillableUsers *int64        `json:"billable_users_count"`
	AddOnMetrics  []addOnMetric `json:"add_on_metrics"`
	DeactivatedAt *string       `json:"deactivated_at"`
	Stale         bool          `json:"stale"`
}

func (e *env) seatReports(sub string) []seatReport {
	e.t.Helper()
	var out struct{ Data []seatReport }
	e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/seat_reports", nil, &out)
	return out.Data
}

func (e *env) instances(sub string) []instanceRow {
	e.t.Helper()
	var out struct{ Data []instanceRow }
	e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/instances", nil, &out)
	return out.Data
}

// Acceptance 4: a seat link with GitLab's add_on_metrics is stored with
// the day's seat report (a second sync that day keeps each add-on's
// highest counts) and shows in the subscription's seat reports; malformed
// metrics are refused 422 with GitLab's errors, and change nothing.
func TestSeatLinkStoresGitLabAddOnMetricsWithTheSeatReport(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		l := e.buy("addons@example.com")
		e.activate(l, "gl-1")
		body := seatLink(l.license, "gl-1")
		body["add_on_metrics"] = []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": 20, "assigned_seats": 7},
			map[string]any{"add_on_type": "duo_enterprise", "purchased_seats": 0, "assigned_seats": 0}}
		e.must(200, "POST", "/api/v1/seat_links", body, nil)
		body["add_on_metrics"] = []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": 20, "assigned_seats": 5}}
		e.must(200, "POST", "/api/v1/seat_links", body, nil)

		rs := e.seatReports(l.sub)
		want := []addOnMetric{{"duo_pro", 20, 7}, {"duo_enterprise", 0, 0}}
		if len(rs) != 1 || rs[0].Source != "instance:gl-1" || rs[0].Date != "2026-01-01" || !reflect.DeepEqual(rs[0].AddOnMetrics, want) {
			t.Fatalf("seat reports = %+v, want one of 2026-01-01 with %+v", rs, want)
		}
		ins := e.instances(l.sub)
		if len(ins) != 1 || !reflect.DeepEqual(ins[0].AddOnMetrics, []addOnMetric{{"duo_pro", 20, 5}}) {
			t.Fatalf("instances = %+v, want the latest sync's add-ons", ins)
		}

		e.settle() // the purchase's mail job must not change the database between the snapshots
		before := e.snap()
		for _, tc := range []struct {
			name  string
			value any
			field string
		}{
			{"not an array", map[string]any{"add_on_type": "duo_pro"}, "add_on_metrics"},
			{"an entry not an object", []any{"duo_pro"}, "add_on_metrics[0]"},
			{"no add_on_type", []any{map[string]any{"purchased_seats": 1, "assigned_seats": 1}}, "add_on_metrics[0].add_on_type"},
			{"seats as text", []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": "ten", "assigned_seats": 1}}, "add_on_metrics[0].purchased_seats"},
			{"no assigned_seats", []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": 1}}, "add_on_metrics[0].assigned_seats"},
			{"fractional seats", []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": 1, "assigned_seats": 1.5}}, "add_on_metrics[0].assigned_seats"},
			{"negative seats", []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": -1, "assigned_seats": 0}}, "add_on_metrics[0].purchased_seats"},
			{"an add-on twice", []any{map[string]any{"add_on_type": "duo_pro", "purchased_seats": 1, "assigned_seats": 0},
				map[string]any{"add_on_type": "duo_pro", "purchased_seats": 1, "assigned_seats": 0}}, "add_on_metrics[1].add_on_type"},
		} {
			body["add_on_metrics"] = tc.value
			body["billable_users_count"] = 9 // would raise the day's report if accepted
			var a gitlabAnswer
			if code := e.do("POST", "/api/v1/seat_links", body, &a); code != 422 || a.Error.Field != tc.field ||
				len(a.Errors) != 1 || !reflect.DeepEqual(a.ErrorAttributeMap[tc.field], []string{a.Error.Code}) {
				t.Errorf("%s: %d %+v, want 422 on %s with GitLab's errors", tc.name, code, a, tc.field)
			}
		}
		if after := e.snap(); !reflect.DeepEqual(before, after) {
			t.Fatalf("a refused seat link changed the database")
		}
	})
}

// Acceptance 5: the instances list; an instance not synced for 3 days is
// stale and announced once (advancing 4 days gives exactly one
// instance.stale), again after a sync and a new lapse; a plan limit of 2
// refuses a third activation (422 instance_limit) until one is
// deactivated, and a deactivated instance's syncs are refused.
func TestInstancesListStaleMarkingAndLimit(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		e.must(201, "POST", "/api/v1/plans", map[string]any{"code": "sm-two", "name": "Two instances", "kind": "self_managed",
			"prices": map[string]int64{"USD": 10000}, "max_instances": 2}, nil)
		var c struct{ ID string }
		e.must(201, "POST", "/api/v1/customers", map[string]any{"email": "two@example.com", "name": "Ann", "company": "Two", "country": "US"}, &c)
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": c.ID, "plan": "sm-two", "seats": 5,
			"payment_method": "pm_card_visa"}, &p)
		_, lic := e.text("/api/v1/subscriptions/" + p.Subscription.ID + "/license")
		l := licensed{customer: c.ID, sub: p.Subscription.ID, code: *p.ActivationCode, license: lic}

		activate := func(id string) (int, gitlabAnswer) {
			var a gitlabAnswer
			code := e.do("POST", "/api/v1/activations", map[string]any{"activation_code": l.code, "instance_id": id,
				"hostname": id + ".example.com", "version": "18.1"}, &a)
			return code, a
		}
		for _, id := range []string{"prod", "staging"} {
			if code, a := activate(id); code != 201 {
				t.Fatalf("activate %s: %d %+v", id, code, a)
			}
		}
		if code, a := activate("prod"); code != 201 {
			t.Fatalf("activating an active instance again: %d %+v, want 201", code, a)
		}
		if code, a := activate("third"); code != 422 || a.Error.Code != "instance_limit" || a.Error.Field != "instance_id" || len(a.Errors) != 1 {
			t.Fatalf("third activation: %d %+v, want 422 instance_limit", code, a)
		}
		sync := seatLink(l.license, "staging")
		sync["hostname"], sync["version"] = "staging.example.com", "18.1"
		e.must(200, "POST", "/api/v1/seat_links", sync, nil)

		ins := e.instances(l.sub)
		if len(ins) != 2 || ins[0].InstanceID != "prod" || ins[1].InstanceID != "staging" || ins[1].Hostname != "staging.example.com" ||
			ins[1].Version != "18.1" || ins[1].MaxUsers == nil || *ins[1].MaxUsers != 3 || *ins[1].BillableUsers != 3 ||
			ins[0].MaxUsers != nil || ins[0].ActivatedAt != "2026-01-01T00:00:00Z" || ins[0].Stale || ins[0].DeactivatedAt != nil {
			t.Fatalf("instances = %+v", ins)
		}

		stale := func() int {
			return e.count(`SELECT COUNT(*) FROM events WHERE type = $1 AND subject_id = $2`, "instance.stale", l.sub)
		}
		e.advance("2026-01-05") // 4 days without a sync
		if n := stale(); n != 2 {
			t.Fatalf("after 4 days without a sync: %d instance.stale events, want one for each of the 2 instances", n)
		}
		e.advance("2026-01-07")
		if n := stale(); n != 2 {
			t.Fatalf("two more days: %d instance.stale events, want still 2 (once per lapse)", n)
		}
		ins = e.instances(l.sub)
		if !ins[0].Stale || !ins[1].Stale {
			t.Fatalf("instances after 6 days = %+v, want both stale", ins)
		}
		// A sync ends staging's lapse; a new one is announced again.
		sync["timestamp"] = "2026-01-07T10:00:00Z"
		e.must(200, "POST", "/api/v1/seat_links", sync, nil)
		if ins = e.instances(l.sub); ins[1].Stale {
			t.Fatalf("staging after its sync = %+v, want fresh", ins[1])
		}
		e.advance("2026-01-11")
		if n := stale(); n != 3 {
			t.Fatalf("staging's second lapse: %d instance.stale events, want 3", n)
		}

		// Deactivating prod frees a slot.
		var d instanceRow
		e.must(200, "POST", "/api/v1/instances/prod/deactivate", nil, &d)
		if d.DeactivatedAt == nil || d.InstanceID != "prod" {
			t.Fatalf("deactivate answered %+v", d)
		}
		var ae apiError
		if code := e.do("POST", "/api/v1/instances/prod/deactivate", nil, &ae); code != 409 {
			t.Fatalf("deactivating twice: %d %+v, want 409", code, ae)
		}
		if code := e.do("POST", "/api/v1/instances/nope/deactivate", nil, &ae); code != 404 {
			t.Fatalf("deactivating an unknown instance: %d, want 404", code)
		}
		if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = $1 AND subject_id = $2`, "instance.deactivate", l.sub); n != 1 {
			t.Fatalf("%d audit entries for the deactivation, want 1", n)
		}
		prodSync := seatLink(l.license, "prod")
		var a gitlabAnswer
		if code := e.do("POST", "/api/v1/seat_links", prodSync, &a); code != 403 || a.Error.Code != "instance_unknown" {
			t.Fatalf("a deactivated instance's sync: %d %+v, want 403 instance_unknown", code, a)
		}
		if code, a := activate("third"); code != 201 {
			t.Fatalf("third activation after a deactivation: %d %+v, want 201", code, a)
		}
		if code, a := activate("prod"); code != 422 || a.Error.Code != "instance_limit" {
			t.Fatalf("reactivating prod over the limit: %d %+v, want 422 instance_limit", code, a)
		}
		ins = e.instances(l.sub)
		if len(ins) != 3 || ins[0].DeactivatedAt == nil || ins[0].Stale || ins[2].InstanceID != "third" {
			t.Fatalf("instances = %+v", ins)
		}
		raw, _ := json.Marshal(ins)
		t.Logf("instances: %s", raw)
	})
}

// POST /api/v1/licenses/custom issues a no-charge license with the chosen
// seats, end date and entitlements: it verifies offline, is audited, has
// no invoice; bad input is a 422 that changes nothing.
func TestCustomLicenseAPI(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		before := e.snap()
		for _, tc := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"no reason", map[string]any{"customer_id": cus, "plan": "sm-premium", "kind": "nfr", "seats": 5, "ends_on": "2026-06-01"}, "reason"},
			{"unknown kind", map[string]any{"customer_id": cus, "plan": "sm-premium", "kind": "gift", "seats": 5, "ends_on": "2026-06-01", "reason": "r"}, "kind"},
			{"SaaS plan", map[string]any{"customer_id": cus, "plan": "saas-premium", "kind": "poc", "seats": 5, "ends_on": "2026-06-01", "reason": "r"}, "plan"},
			{"past end", map[string]any{"customer_id": cus, "plan": "sm-premium", "kind": "poc", "seats": 5, "ends_on": "2026-01-01", "reason": "r"}, "ends_on"},
			{"fractional limit", map[string]any{"customer_id": cus, "plan": "sm-premium", "kind": "poc", "seats": 5, "ends_on": "2026-06-01", "reason": "r",
				"entitlements": map[string]any{"max_projects": 1.5}}, "entitlements"},
			{"text entitlement", map[string]any{"customer_id": cus, "plan": "sm-premium", "kind": "poc", "seats": 5, "ends_on": "2026-06-01", "reason": "r",
				"entitlements": map[string]any{"sso": "yes"}}, "entitlements"},
			{"bad name", map[string]any{"customer_id": cus, "plan": "sm-premium", "kind": "poc", "seats": 5, "ends_on": "2026-06-01", "reason": "r",
				"entitlements": map[string]any{"Max Projects": 1}}, "entitlements"},
		} {
			// A value of the wrong type is 400 invalid_type, as for a plan's
			// entitlements and any other field; the rest are 422.
			want := 422
			if tc.name == "fractional limit" || tc.name == "text entitlement" {
				want = 400
			}
			var ae apiError
			if code := e.do("POST", "/api/v1/licenses/custom", tc.body, &ae); code != want || ae.Error.Field != tc.field {
				t.Errorf("%s: %d %+v, want %d on %s", tc.name, code, ae, want, tc.field)
			}
		}
		if !reflect.DeepEqual(before, e.snap()) {
			t.Fatal("a refused custom license changed the database")
		}
		var res struct {
			Subscription   subscription `json:"subscription"`
			ActivationCode string       `json:"activation_code"`
			Custom         struct{ Kind, Reason string }
		}
		e.must(201, "POST", "/api/v1/licenses/custom", map[string]any{"customer_id": cus, "plan": "sm-premium", "kind": "poc", "seats": 40,
			"ends_on": "2026-04-01", "reason": "Evaluation at Example Inc", "entitlements": map[string]any{"sso": true, "max_projects": 1000000000000}}, &res)
		if res.Subscription.Seats != 40 || res.Subscription.EndsOn != "2026-04-01" || res.Subscription.AutoRenew || len(res.ActivationCode) != 24 ||
			res.Custom.Kind != "poc" {
			t.Fatalf("custom license answer %+v", res)
		}
		p := e.license(res.Subscription.ID)
		if p.Seats != 40 || p.ExpiresAt.String() != "2026-04-01" || !p.Entitled("sso") || func() bool { n, ok := p.Limit("max_projects"); return !ok || n != 1000000000000 }() {
			t.Fatalf("license %+v", p)
		}
		if n := e.count(`SELECT COUNT(*) FROM invoices WHERE subscription_id = $1`, res.Subscription.ID); n != 0 {
			t.Fatalf("%d invoices for a custom license", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = $1 AND subject_id = $2`, "license.custom_issue", res.Subscription.ID); n != 1 {
			t.Fatalf("%d audit entries, want 1", n)
		}
		var ae apiError
		if code := e.do("POST", "/api/v1/subscriptions/"+res.Subscription.ID+"/seats", map[string]any{"seats": 50}, &ae); code != 409 {
			t.Fatalf("adding seats to a custom license: %d %+v, want 409", code, ae)
		}
		// At its end it expires, without a renewal invoice.
		e.advance("2026-04-02")
		var sub subscription
		e.must(200, "GET", "/api/v1/subscriptions/"+res.Subscription.ID, nil, &sub)
		if sub.State != "expired" || e.count(`SELECT COUNT(*) FROM invoices WHERE subscription_id = $1`, res.Subscription.ID) != 0 {
			t.Fatalf("after its end the custom license's subscription is %+v", sub)
		}
	})
}
