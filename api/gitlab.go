package api

import (
	"bytes"
	"crypto/sha256"
	"io"
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

// gitlabPing is what gitlabUsageData reads of a raw Service Ping; the rest
// is stored as it is.
type gitlabPing struct {
	UUID          string `json:"uuid"`
	LicenseKey    string `json:"license_key"`
	LicenseSHA256 string `json:"license_sha256"`
	LicenseMD5    string `json:"license_md5"`
}

// gitlabUsageData takes a Service Ping as GitLab posts it to its version
// app (POST /usage_data, the raw payload): uuid is the instance, the
// license it names authenticates it: GitLab's payload names it by digest
// (license_sha256, license_md5 under ee/lib/ee/gitlab/usage_data.rb), and a
// license_key sent instead is taken as it is. GitLab requires an integer
// conv_index.usage_data_id > 0 in the answer
// (app/services/service_ping/submit_service.rb).
func (s *Server) gitlabUsageData(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowIP(r, s.limits.usageData); err != nil {
		return err
	}
	body, err := readAll(r)
	if err != nil {
		return err
	}
	var ping gitlabPing
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := decodeLenient(r, &ping); err != nil {
		return err
	}
	if ping.LicenseKey == "" {
		if ping.LicenseKey, err = s.Svc.LicenseOfPing(r.Context(), ping.UUID, ping.LicenseSHA256, ping.LicenseMD5); err != nil {
			return err
		}
	}
	if err := s.allowLicensed(s.limits.usageData, ping.LicenseKey, ping.UUID); err != nil {
		return err
	}
	id, err := s.Svc.RecordUsagePing(r.Context(), ping.UUID, ping.LicenseKey, body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"id": id, "conv_index": map[string]int64{"usage_data_id": usageDataID(id)}})
}

// usageDataID is the integer GitLab wants for a stored ping: the first 48
// bits of the SHA-256 of its id, plus one (always > 0, the same for the
// same ping).
func usageDataID(id string) int64 {
	sum := sha256.Sum256([]byte(id))
	var n int64
	for _, b := range sum[:6] {
		n = n<<8 | int64(b)
	}
	return n + 1
}
