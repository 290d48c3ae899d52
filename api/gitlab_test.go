package api_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/license"
)

// gitlabBody reads a body copied from GitLab (testdata/gitlab/README.md) and
// puts a real license in its license_key, the only value changed.
// licensedSubscription buys 10 seats of sm-premium by card for a new US
// customer and returns the subscription and its license.
func (e *env) licensedSubscription() (sub, lic string) {
	e.t.Helper()
	cus := e.customer("US", "")
	var p purchase
	e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
		"payment_method": "pm_card_visa"}, &p)
	_, lic = e.text("/api/v1/subscriptions/" + p.Subscription.ID + "/license")
	return p.Subscription.ID, lic
}

// gitlabSync posts GitLab's worker-spec Seat Link body for key, timed at
// 04:34 UTC on day, and returns the status and the answer.
func (e *env) gitlabSync(day, key string) (int, gitlabAnswer) {
	e.t.Helper()
	body := gitlabBody(e.t, "worker_spec_body.json", key)
	body["timestamp"] = day + "T04:34:00+00:00"
	var a gitlabAnswer
	return e.do("POST", "/api/v1/seat_links", body, &a), a
}

func gitlabBody(t testing.TB, name, lic string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/gitlab/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	body["license_key"] = lic
	for k, v := range body {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "<") {
			body[k] = strings.Trim(s, "<>")
		}
	}
	return body
}

type gitlabAnswer struct {
	License                *string             `json:"license"`
	NextReconciliationDate *string             `json:"next_reconciliation_date"`
	DisplayAlertFrom       *string             `json:"display_alert_from"`
	FutureSubscriptions    json.RawMessage     `json:"future_subscriptions"`
	Recorded               bool                `json:"recorded"`
	Seats                  int64               `json:"seats"`
	Errors                 []string            `json:"errors"`
	ErrorAttributeMap      map[string][]string `json:"error_attribute_map"`
	Error                  struct{ Code, Field string }
}

func TestSeatLinkAcceptsGitLabsOwnBodies(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		sub, lic := e.licensedSubscription()
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/seat_reconciliation", map[string]any{"enabled": true}, nil)

		for _, name := range []string{"worker_spec_body.json", "seat_link_data.json"} {
			var a gitlabAnswer
			e.must(200, "POST", "/api/v1/seat_links", gitlabBody(t, name, lic), &a)
			if !a.Recorded || a.Seats != 10 || a.License != nil || string(a.FutureSubscriptions) != "[]" {
				t.Fatalf("%s: answer %+v", name, a)
			}
			if a.NextReconciliationDate == nil || a.DisplayAlertFrom == nil || *a.DisplayAlertFrom != "2026-03-25" ||
				*a.NextReconciliationDate != "2026-04-01" {
				t.Fatalf("%s: reconciliation dates %v %v, want 2026-04-01 and a week before", name, a.NextReconciliationDate, a.DisplayAlertFrom)
			}
		}
		got, err := e.db.InstanceSyncOf(context.Background(), sub, "GlobalAnonymousId.instance_uuid")
		if err == nil {
			t.Fatalf("looked up by the unique id: %+v", got)
		}
		got, err = e.db.InstanceSyncOf(context.Background(), sub, "Gitlab::CurrentSettings.uuid")
		if err != nil {
			t.Fatal(err)
		}
		if got.UniqueInstanceID != "GlobalAnonymousId.instance_uuid" ||
			got.AddOnMetrics != `[{"add_on_type":"duo_pro","purchased_seats":10,"assigned_seats":3}]` {
			t.Fatalf("stored sync = %+v", got)
		}
		spec, err := e.db.InstanceSyncOf(context.Background(), sub, "one-two-three")
		if err != nil || spec.UniqueInstanceID != "three-two-one" || spec.AddOnMetrics != "[]" {
			t.Fatalf("spec instance = %+v, %v", spec, err)
		}

		// No HistoricalData yet: null counts are "not known", no report.
		body := gitlabBody(t, "seat_link_data.json", lic)
		body["max_historical_user_count"], body["billable_users_count"], body["instance_id"] = nil, nil, "fresh"
		var a gitlabAnswer
		e.must(200, "POST", "/api/v1/seat_links", body, &a)
		if a.Recorded || a.Seats != 10 || a.NextReconciliationDate == nil {
			t.Fatalf("null counts: %+v", a)
		}
		var reps struct{ Data []struct{ Source string } }
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/seat_reports", nil, &reps)
		if len(reps.Data) != 2 {
			t.Fatalf("%d seat reports, want 2 (null counts record none): %+v", len(reps.Data), reps.Data)
		}

		// A later report of the same day with fewer users keeps the day's maximum.
		for _, users := range []int{10, 7} {
			body = gitlabBody(t, "worker_spec_body.json", lic)
			body["max_historical_user_count"], body["billable_users_count"], body["timestamp"] = users, users, "2026-01-01T10:00:00Z"
			e.must(200, "POST", "/api/v1/seat_links", body, nil)
		}
		var maxes struct {
			Data []struct {
				Source   string
				MaxUsers int64 `json:"max_users"`
			}
		}
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/seat_reports", nil, &maxes)
		for _, r := range maxes.Data {
			if r.Source == "instance:one-two-three" && r.MaxUsers != 10 {
				t.Fatalf("day's report = %d users, want the day's maximum 10", r.MaxUsers)
			}
		}

		// Unknown fields: ignored here, refused by the vendor API.
		body = gitlabBody(t, "seat_link_data.json", lic)
		body["license_md5"], body["date"] = "abc", "2026-01-01"
		e.must(200, "POST", "/api/v1/seat_links", body, nil)
		var ae apiError
		if st := e.do("POST", "/api/v1/subscriptions/"+sub+"/seat_reconciliation", map[string]any{"enabled": true, "date": "x"}, &ae); st != 400 ||
			ae.Error.Code != "unknown_field" {
			t.Fatalf("vendor API with an unknown field: %d %+v", st, ae)
		}

		// A clock two days ahead is refused, in GitLab's shape too.
		body = gitlabBody(t, "seat_link_data.json", lic)
		body["timestamp"] = "2026-01-03T01:00:00+00:00"
		a = gitlabAnswer{}
		if st := e.do("POST", "/api/v1/seat_links", body, &a); st != 422 || a.Error.Field != "timestamp" || len(a.Errors) != 1 ||
			a.ErrorAttributeMap["timestamp"] == nil {
			t.Fatalf("future timestamp: %d %+v", st, a)
		}
	})
}

func TestUsageFileAcceptsGitLabsLicenseUsageCSV(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		sub, lic := e.licensedSubscription()
		e.advance("2026-01-05")
		raw, err := os.ReadFile("testdata/gitlab/license_usage.csv")
		if err != nil {
			t.Fatal(err)
		}
		csv := strings.Replace(string(raw), "<License.current.data>", strings.ReplaceAll(lic, `"`, `""`), 1)
		var res struct {
			SubscriptionID    string `json:"subscription_id"`
			Ingested, Skipped int
		}
		if st := e.do("POST", "/api/v1/usage_files", csv, &res, "Content-Type", "text/csv"); st != 200 ||
			res.SubscriptionID != sub || res.Ingested != 4 || res.Skipped != 1 {
			t.Fatalf("usage csv: %d %+v", st, res)
		}
		var reps struct {
			Data []struct {
				Date, Source string
				MaxUsers     int64 `json:"max_users"`
			}
		}
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/seat_reports", nil, &reps)
		got := map[string]int64{}
		for _, r := range reps.Data {
			if r.Source != "usage_file" {
				t.Fatalf("report %+v, want source usage_file", r)
			}
			got[r.Date] = r.MaxUsers
		}
		want := map[string]int64{"2026-01-02": 5, "2026-01-03": 9, "2026-01-04": 8}
		if len(got) != len(want) || got["2026-01-02"] != 5 || got["2026-01-03"] != 9 || got["2026-01-04"] != 8 {
			t.Fatalf("seat reports %v, want %v", got, want)
		}

		bad := strings.Replace(csv, "2026-01-04,8", "2026-01-04,eight", 1)
		var ae gitlabAnswer
		if st := e.do("POST", "/api/v1/usage_files", bad, &ae, "Content-Type", "text/csv"); st != 422 || len(ae.Errors) != 1 {
			t.Fatalf("bad count: %d %+v", st, ae)
		}
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/seat_reports", nil, &reps)
		if len(reps.Data) != 3 {
			t.Fatalf("a refused file changed the reports: %+v", reps.Data)
		}
	})
}

func TestRawServicePingAnswersConvIndexUsageDataID(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		_, lic := e.licensedSubscription()
		link := gitlabBody(t, "worker_spec_body.json", lic)
		e.must(200, "POST", "/api/v1/seat_links", link, nil)
		// The raw payload of ee/lib/ee/gitlab/usage_data.rb: the license is
		// named by the digests of License#md5 / #sha256, never sent.
		md5Hex, shaHex := commerce.GitLabDigests(lic)
		ping := map[string]any{"uuid": "one-two-three", "hostname": "gitlab.example.com", "version": "18.2.0-ee",
			"recorded_at": "2026-01-01T10:00:00Z", "license_md5": md5Hex, "license_sha256": shaHex, "license_plan": "premium",
			"license_user_count": 10, "counts": map[string]int{"projects": 12}}
		var ans struct {
			ConvIndex struct {
				UsageDataID int64 `json:"usage_data_id"`
			} `json:"conv_index"`
		}
		e.must(201, "POST", "/usage_data", ping, &ans)
		if ans.ConvIndex.UsageDataID <= 0 {
			t.Fatalf("usage_data_id = %d, want an integer > 0", ans.ConvIndex.UsageDataID)
		}
		delete(ping, "license_sha256") // FIPS instances send no md5; others may send md5 alone
		e.must(201, "POST", "/usage_data", ping, nil)
		var ae gitlabAnswer
		for name, p := range map[string]map[string]any{
			"no license":           {"license_md5": nil},
			"digest of another":    {"license_sha256": strings.Repeat("ab", 32)},
			"md5 beside a bad sha": {"license_md5": md5Hex, "license_sha256": strings.Repeat("0", 64)},
			"unknown instance":     {"license_sha256": shaHex, "uuid": "never-synced"},
		} {
			body := map[string]any{}
			for k, v := range ping {
				body[k] = v
			}
			for k, v := range p {
				if v == nil {
					delete(body, k)
				} else {
					body[k] = v
				}
			}
			if st := e.do("POST", "/usage_data", body, &ae); st != 401 || len(ae.Errors) != 1 {
				t.Errorf("%s: %d %+v, want 401 with one error", name, st, ae)
			}
		}
		// A license_key in the body (Fulfill's own clients) is taken as it is.
		ping["license_key"] = lic
		e.must(201, "POST", "/usage_data", ping, nil)
		ping["uuid"] = "never-synced"
		if st := e.do("POST", "/usage_data", ping, &ae); st/100 != 4 {
			t.Fatalf("ping of an unknown instance: %d", st)
		}
	})
}

// GitLab digests a license after normalizing it (License#normalized_data):
// CRLF as LF, runs of newlines as one, none at the end, then one.
func TestGitLabNormalizedLicense(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a":               "a\n",
		"a\n":             "a\n",
		"a\r\n\r\n":       "a\n",
		"a\n\nb\n\n\n":    "a\nb\n",
		"\n\na\nb":        "\na\nb\n",
		"-----BEGIN\r\nx": "-----BEGIN\nx\n",
	} {
		if got := commerce.GitLabNormalized(in); got != want {
			t.Errorf("GitLabNormalized(%q) = %q, want %q", in, got, want)
		}
	}
	// md5("a\n") and sha256("a\n"), as Ruby's Digest gives them.
	m, s := commerce.GitLabDigests("a\r\n\r\n")
	if m != "60b725f10c9c85c70d97880dfe8191b3" || s != "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7" {
		t.Errorf("digests %s %s", m, s)
	}
}

// After a term ends without renewal, GitLab's clients keep syncing: 14 days
// of answers with the final license marked generated_from_cancellation,
// then 410.
func TestSeatLinkAfterCancellationAnswersFourteenDaysThenGone(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		sub, lic := e.licensedSubscription()
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/cancel", map[string]any{"reason": "moving on"}, nil)
		sync := e.gitlabSync
		e.advance("2027-01-01")
		st, a := sync("2027-01-01", lic)
		if st != 200 || a.License == nil {
			t.Fatalf("first sync after the term: %d %+v, want 200 with the final license", st, a)
		}
		f, err := license.Parse([]byte(*a.License))
		if err != nil || !f.Payload.GeneratedFromCancellation {
			t.Fatalf("final license: %+v %v, want generated_from_cancellation", f, err)
		}
		final := *a.License
		if st, a = sync("2027-01-01", final); st != 200 || a.License != nil {
			t.Fatalf("sync with the final license: %d %+v, want 200 and no new license", st, a)
		}
		var ls struct{ Data []struct{ Reason string } }
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/licenses", nil, &ls)
		if len(ls.Data) != 2 || ls.Data[0].Reason != "cancellation" {
			t.Fatalf("licenses %+v, want one final cancellation license", ls.Data)
		}
		e.advance("2027-01-14")
		if st, _ = sync("2027-01-14", final); st != 200 {
			t.Fatalf("day 14: %d, want 200", st)
		}
		e.advance("2027-01-15")
		if st, a = sync("2027-01-15", final); st != 410 || a.Error.Code != "subscription_expired" || len(a.Errors) != 1 {
			t.Fatalf("day 15: %d %+v, want 410 subscription_expired", st, a)
		}
	})
}

// A renewal bought before the term ends is listed in future_subscriptions,
// on the seat link and on activation; before it, and once it has started,
// the list is empty.
func TestSeatLinkListsARenewalBoughtAhead(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		sub, lic := e.licensedSubscription()
		sync := func(day, key string) gitlabAnswer {
			t.Helper()
			st, a := e.gitlabSync(day, key)
			if st != 200 {
				t.Fatalf("seat link on %s: %d %+v", day, st, a)
			}
			return a
		}
		if a := sync("2026-01-01", lic); string(a.FutureSubscriptions) != "[]" {
			t.Fatalf("before any renewal: %s, want []", a.FutureSubscriptions)
		}
		e.advance("2026-12-01")
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/renew", map[string]any{"seats": 12}, nil)
		a := sync("2026-12-01", lic)
		var fs []commerce.FutureSubscription
		if err := json.Unmarshal(a.FutureSubscriptions, &fs); err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 || fs[0].SubscriptionID != sub || fs[0].Plan != "sm-premium" || fs[0].Seats != 12 ||
			fs[0].StartsAt.String() != "2027-01-01" || fs[0].ExpiresAt.String() != "2028-01-01" {
			t.Fatalf("after renewing ahead: %s, want the 12-seat term 2027-01-01 to 2028-01-01", a.FutureSubscriptions)
		}
		e.advance("2027-01-01")
		if a := sync("2027-01-01", lic); string(a.FutureSubscriptions) != "[]" {
			t.Fatalf("once the renewed term runs: %s, want []", a.FutureSubscriptions)
		}
	})
}
