package api

import (
	"net/http"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/instance"
)

// GitLab's client (ee/lib/gitlab/subscription_portal/client.rb) reads a
// refused request's body["errors"] and body["error_attribute_map"]; the
// instance endpoints answer them beside Fulfill's own error object.

// instanceEndpoint reports whether path is one an instance calls.
func instanceEndpoint(path string) bool {
	switch path {
	case "/api/v1/activations", "/api/v1/seat_links", "/api/v1/usage_data", "/api/v1/usage_files", "/usage_data":
		return true
	}
	return false
}

// gitlabErrors is an error in GitLab's shape: the list of messages and, for
// an error about a field, that field mapped to its error codes.
func gitlabErrors(code, message, field string) ([]string, map[string][]string) {
	m := map[string][]string{}
	if field != "" {
		m[field] = []string{code}
	}
	return []string{message}, m
}

// gitlabUsageFile ingests GitLab's license_usage.csv: the license key in
// the file names the subscription, each day becomes a seat report with
// source usage_file.
func (s *Server) gitlabUsageFile(w http.ResponseWriter, r *http.Request, body []byte) error {
	f, err := instance.ParseGitLabUsage(body)
	if err != nil {
		return fulfill.Errorf(fulfill.EInvalid, "Not a usage file: %v", err)
	}
	if err := s.allowLicensed(s.limits.usageFiles, f.LicenseKey, ""); err != nil {
		return err
	}
	days := make([]commerce.UsageDay, len(f.Days))
	for i, d := range f.Days {
		days[i] = commerce.UsageDay{Date: fulfill.DateOf(d.Date), Users: int64(d.Count)}
	}
	res, err := s.Svc.RecordUsageFile(r.Context(), actor(r), f.LicenseKey, days)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
