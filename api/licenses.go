package api

import (
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/instance"
)

func (s *Server) licenseRoutes() []route {
	return []route{
		{"GET", "/api/v1/license_keys", false, false, s.listLicenseKeys},
		{"GET", "/api/v1/subscriptions/{id}/license", true, false, s.getLicense},
		{"GET", "/api/v1/subscriptions/{id}/licenses", true, false, s.listLicenses},
		{"POST", "/api/v1/subscriptions/{id}/license/resend", true, false, s.resendLicense},
		{"POST", "/api/v1/subscriptions/{id}/license/forward", true, false, s.forwardLicense},
		{"POST", "/api/v1/subscriptions/{id}/activation_code", true, false, s.regenerateCode},
		{"POST", "/api/v1/subscriptions/{id}/temporary_extension", true, true, s.temporaryExtension},
		{"POST", "/api/v1/subscriptions/{id}/seat_reconciliation", true, false, s.seatReconciliation},
		{"POST", "/api/v1/customers/{id}/credit_hold", true, false, s.creditHold},
		{"POST", "/api/v1/trials", true, true, s.startTrial},
		{"POST", "/api/v1/activations", false, false, s.activate},
		{"POST", "/api/v1/seat_links", false, false, s.seatLink},
		{"POST", "/api/v1/usage_data", false, false, s.usageData},
		{"POST", "/api/v1/usage_files", true, false, s.usageFile},
		{"POST", "/usage_data", false, false, s.gitlabUsageData},
		{"GET", "/api/v1/emails", true, false, s.listEmails},
		{"GET", "/api/v1/audit_log", true, false, s.listAudit},
	}
}

func remote(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) listLicenseKeys(w http.ResponseWriter, r *http.Request) error {
	if s.Keys == nil {
		return writeJSON(w, http.StatusOK, map[string]any{"data": []any{}})
	}
	ks, err := s.Keys.List()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": ks})
}

func (s *Server) getLicense(w http.ResponseWriter, r *http.Request) error {
	l, err := s.Svc.CurrentLicense(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+commerce.LicenseFileName+`"`)
	w.Header().Set("X-License-Id", l.ID)
	_, err = w.Write([]byte(l.File))
	return err
}

func (s *Server) listLicenses(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.DB.Subscription(r.Context(), id); err != nil {
		return err
	}
	ls, err := s.DB.Licenses(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": ls})
}

func (s *Server) resendLicense(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Svc.ResendLicense(r.Context(), actor(r), remote(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"to": e.To, "status": e.Status})
}

type forwardRequest struct {
	Email string `json:"email"`
}

func (s *Server) forwardLicense(w http.ResponseWriter, r *http.Request) error {
	var req forwardRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Email == "" {
		return fulfill.FieldError(fulfill.ERequired, "email", "email is required.")
	}
	e, err := s.Svc.ForwardLicense(r.Context(), actor(r), remote(r), r.PathValue("id"), req.Email)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"to": e.To, "status": e.Status})
}

func (s *Server) regenerateCode(w http.ResponseWriter, r *http.Request) error {
	code, err := s.Svc.RegenerateActivationCode(r.Context(), actor(r), remote(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"activation_code": code})
}

func (s *Server) temporaryExtension(w http.ResponseWriter, r *http.Request) error {
	l, err := s.Svc.TemporaryExtension(r.Context(), actor(r), remote(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, l)
}

type enabledRequest struct {
	Enabled *bool `json:"enabled"`
}

func (s *Server) seatReconciliation(w http.ResponseWriter, r *http.Request) error {
	var req enabledRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return fulfill.FieldError(fulfill.ERequired, "enabled", "enabled (true or false) is required.")
	}
	sub, err := s.Svc.SetSeatReconciliation(r.Context(), actor(r), r.PathValue("id"), *req.Enabled)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sub)
}

func (s *Server) creditHold(w http.ResponseWriter, r *http.Request) error {
	var req enabledRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return fulfill.FieldError(fulfill.ERequired, "enabled", "enabled (true or false) is required.")
	}
	c, err := s.Svc.SetCreditHold(r.Context(), actor(r), remote(r), r.PathValue("id"), *req.Enabled)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

type trialRequest struct {
	CustomerID string `json:"customer_id"`
	Plan       string `json:"plan"`
	Seats      *int64 `json:"seats"`
}

func (s *Server) startTrial(w http.ResponseWriter, r *http.Request) error {
	var req trialRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Seats == nil {
		return fulfill.FieldError(fulfill.ERequired, "seats", "seats is required.")
	}
	res, err := s.Svc.StartTrial(r.Context(), actor(r), req.CustomerID, req.Plan, *req.Seats)
	if err != nil {
		return err
	}
	out := purchaseResponse{Subscription: res.Subscription}
	if res.ActivationCode != "" {
		out.ActivationCode = &res.ActivationCode
	}
	return writeJSON(w, http.StatusCreated, out)
}

type activationRequest struct {
	ActivationCode string `json:"activation_code"`
	InstanceID     string `json:"instance_id"`
	Hostname       string `json:"hostname"`
	Version        string `json:"version"`
}

func (s *Server) activate(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowIP(r, s.limits.activations); err != nil {
		return err
	}
	if err := s.checkFailedActivations(r); err != nil {
		return err
	}
	var req activationRequest
	if err := decodeLenient(r, &req); err != nil {
		return err
	}
	if err := s.allowInstance(s.limits.activations, "", req.InstanceID); err != nil {
		return err
	}
	a, err := s.Svc.Activate(r.Context(), commerce.ActivationInput(req))
	if err != nil {
		s.countFailedActivation(r, err)
		return err
	}
	return writeJSON(w, http.StatusCreated, a)
}

// seatLinkRequest is GitLab's Seat Link body (SeatLinkData#as_json):
// gitlab_version, with version as an alias; null counts are "not known
// yet". Unknown fields are ignored (decodeLenient).
type seatLinkRequest struct {
	LicenseKey       string          `json:"license_key"`
	Timestamp        string          `json:"timestamp"`
	MaxHistorical    *int64          `json:"max_historical_user_count"`
	Billable         *int64          `json:"billable_users_count"`
	InstanceID       string          `json:"instance_id"`
	UniqueInstanceID string          `json:"unique_instance_id"`
	Hostname         string          `json:"hostname"`
	GitLabVersion    string          `json:"gitlab_version"`
	Version          string          `json:"version"`
	AddOnMetrics     json.RawMessage `json:"add_on_metrics"`
}

func (s *Server) seatLink(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowIP(r, s.limits.seatLinks); err != nil {
		return err
	}
	var req seatLinkRequest
	if err := decodeLenient(r, &req); err != nil {
		return err
	}
	if err := s.allowLicensed(s.limits.seatLinks, req.LicenseKey, req.InstanceID); err != nil {
		return err
	}
	if req.GitLabVersion != "" {
		req.Version = req.GitLabVersion
	}
	var ts time.Time
	if req.Timestamp != "" {
		var err error
		if ts, err = time.Parse(time.RFC3339, req.Timestamp); err != nil {
			return fulfill.FieldError(fulfill.EInvalid, "timestamp", "timestamp must be RFC 3339, like 2026-01-02T15:04:05Z.")
		}
	}
	addOns, err := commerce.ParseAddOnMetrics(req.AddOnMetrics)
	if err != nil {
		return err
	}
	res, err := s.Svc.SeatLink(r.Context(), commerce.SeatLinkInput{LicenseKey: req.LicenseKey, Timestamp: ts,
		MaxHistorical: req.MaxHistorical, Billable: req.Billable, InstanceID: req.InstanceID, UniqueInstanceID: req.UniqueInstanceID,
		Hostname: req.Hostname, Version: req.Version, AddOnMetrics: addOns})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

type usageDataRequest struct {
	InstanceID string          `json:"instance_id"`
	LicenseKey string          `json:"license_key"`
	Payload    json.RawMessage `json:"payload"`
}

func (s *Server) usageData(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowIP(r, s.limits.usageData); err != nil {
		return err
	}
	var req usageDataRequest
	if err := decodeLenient(r, &req); err != nil {
		return err
	}
	if err := s.allowLicensed(s.limits.usageData, req.LicenseKey, req.InstanceID); err != nil {
		return err
	}
	id, err := s.Svc.RecordUsagePing(r.Context(), req.InstanceID, req.LicenseKey, req.Payload)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// usageFile ingests the usage file of an air-gapped instance, report by
// report, like seat links.
func (s *Server) usageFile(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowIP(r, s.limits.usageFiles); err != nil {
		return err
	}
	body, err := readAll(r)
	if err != nil {
		return err
	}
	if instance.LooksLikeGitLabUsage(body) {
		return s.gitlabUsageFile(w, r, body)
	}
	f, err := instance.ParseUsageFile(body)
	if err != nil {
		return fulfill.Errorf(fulfill.EInvalid, "Not a usage file: %v", err)
	}
	if err := s.allowLicensed(s.limits.usageFiles, f.LicenseKey, f.InstanceID); err != nil {
		return err
	}
	var last *commerce.SeatLinkResult
	for _, rep := range f.Reports {
		maxUsers, billable := int64(rep.MaxHistoricalUserCount), int64(rep.BillableUsersCount)
		res, err := s.Svc.SeatLink(r.Context(), commerce.SeatLinkInput{LicenseKey: f.LicenseKey, Timestamp: rep.Timestamp,
			MaxHistorical: &maxUsers, Billable: &billable, InstanceID: f.InstanceID, Hostname: f.Hostname, Version: f.Version})
		if err != nil {
			return err
		}
		last = res
	}
	return writeJSON(w, http.StatusOK, map[string]any{"ingested": len(f.Reports), "result": last})
}

func (s *Server) listEmails(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	es, err := s.DB.Emails(r.Context(), r.URL.Query().Get("customer_id"), p)
	if err != nil {
		return err
	}
	if tok := tokenFrom(r.Context()); tok == nil || tok.Role != "admin" {
		// One-time links waiting in the outbox are for admins only.
		for _, e := range es {
			if e.Secret {
				e.Body = fulfill.RedactLinks(e.Body, fulfill.LinkHidden)
			}
		}
	}
	return writeJSON(w, http.StatusOK, newList(es, p, func(e *fulfill.Email) string { return e.ID }))
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	es, err := s.DB.AuditLog(r.Context(), q.Get("subject_type"), q.Get("subject_id"), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(es, p, func(e *fulfill.AuditEntry) string { return e.ID }))
}
