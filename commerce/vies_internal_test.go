package commerce

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// VIES cannot be reached from the test machines: each case is a local
// server answering as VIES's REST service does, or as it fails. Anything
// but its documented answer about the number is ErrVIESUnavailable; Greece
// is asked as EL.
func TestVIESClientAnswers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		status int
		body   string
		valid  *bool
	}{
		{"valid", 200, `{"countryCode":"EL","vatNumber":"094259216","requestDate":"2026-01-01T10:00:00.000Z","valid":true,"name":"X","address":"Y"}`, viesBool(true)},
		{"invalid", 200, `{"countryCode":"EL","vatNumber":"094259216","requestDate":"2026-01-01T10:00:00.000Z","valid":false,"name":"---"}`, viesBool(false)},
		{"member state down", 200, `{"actionSucceed":false,"errorWrappers":[{"error":"MS_UNAVAILABLE","message":"down"}]}`, nil},
		{"too many requests", 200, `{"countryCode":"EL","vatNumber":"094259216","valid":false,"userError":"MS_MAX_CONCURRENT_REQ"}`, nil},
		{"no answer about the number", 200, `{"countryCode":"EL","vatNumber":"094259216"}`, nil},
		{"not JSON", 200, `<html>maintenance</html>`, nil},
		{"server error", 503, `{"valid":true}`, nil},
		{"redirect", 302, ``, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got map[string]string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/check-vat-number" && r.Header.Get("Content-Type") == "application/json" {
					json.NewDecoder(r.Body).Decode(&got)
				}
				if c.status == 302 {
					http.Redirect(w, r, "/elsewhere", http.StatusFound)
					return
				}
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			defer srv.Close()
			v := &VIESClient{BaseURL: srv.URL + "/", Timeout: time.Second}
			a, err := v.Check(t.Context(), "GR", "EL094259216")
			if got["countryCode"] != "EL" || got["vatNumber"] != "094259216" {
				t.Fatalf("request %v, want EL 094259216 posted to /check-vat-number", got)
			}
			if c.valid == nil {
				if !errors.Is(err, ErrVIESUnavailable) {
					t.Fatalf("answer %+v, err %v: want unavailable", a, err)
				}
				return
			}
			if err != nil || *a.Valid != *c.valid || a.CountryCode != "EL" {
				t.Fatalf("answer %+v, err %v", a, err)
			}
		})
	}
}

func viesBool(v bool) *bool { return &v }
