// Package instance is the product side of Fulfill: the code that runs at the
// customer's site (the "instance") and talks to a Fulfill server.
//
// An instance activates once with the 24-character activation code the
// customer received ([Client.Activate]); it then stores the signed license
// file and the server's public keys. Every day it reports its user counts
// (Seat Link, [Client.Sync]) and receives a newer license whenever the vendor
// changed the subscription. Sites without network access record their daily
// counts ([Client.RecordOffline]) and export a usage file
// ([Client.ExportUsage], format in [UsageFile]) that the vendor uploads.
//
// Every license the server sends is verified offline with the license
// package before it is stored; a license that fails verification is never
// written, and the previous one is kept.
//
// # State directory
//
// Client.StateDir holds two files, both written atomically (temporary file,
// then rename) with mode 0600:
//
//   - license.lic: the current license file, exactly as the server sent it.
//   - instance.json: the instance id (random, generated once), the server
//     URL, the public keys fetched at activation, the last sync and the
//     pending offline reports (see [State]).
//
// Without Client.TrustedKeys the keys are trusted on first use: whoever
// answers GET /api/v1/license_keys at activation is trusted from then on, so
// activate over HTTPS. A product that ships its vendor's public keys sets
// TrustedKeys and trusts nothing else.
//
// A Client serialises its own state changes; two processes sharing a state
// directory never corrupt it, but one may overwrite the other's pending
// reports.
package instance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

// Defaults for the zero fields of a Client.
const (
	DefaultStateDir    = "fulfill-instance"
	DefaultMaxAttempts = 5
	DefaultTimeout     = 30 * time.Second // per HTTP attempt, when HTTP is nil

	// RetryBase and RetryCap bound the exponential backoff: before attempt
	// n+1 (n ≥ 1) the client sleeps a uniformly random time in
	// [0, min(RetryCap, RetryBase × 2^(n−1))] ("full jitter").
	RetryBase = time.Second
	RetryCap  = time.Minute
	// MaxRetryAfter is the longest Retry-After the client waits for; a server
	// asking for more ends the retries with its error.
	MaxRetryAfter = 10 * time.Minute

	// MaxPendingReports is how many offline reports are kept (one per UTC
	// day; the oldest are dropped).
	MaxPendingReports = 400

	// ActivationCodeLength is the length of an activation code.
	ActivationCodeLength = 24

	licenseFile = "license.lic"
	stateFile   = "instance.json"
)

// ErrNotActivated is returned when the state directory holds no license.
var ErrNotActivated = errors.New("instance: not activated (no license stored; run activate first)")

// Client is one product instance. The zero value of every field has a
// sensible default; a Client must not be copied after first use.
type Client struct {
	// BaseURL is the Fulfill server, e.g. "https://customers.example.com".
	// Empty means the URL stored at activation.
	BaseURL string
	// HTTP is the client for requests; nil means one with a 30 s timeout.
	HTTP *http.Client
	// StateDir holds license.lic and instance.json; empty means
	// DefaultStateDir in the working directory.
	StateDir string
	// Hostname and Version are reported to the server; empty means
	// os.Hostname() and "unknown".
	Hostname, Version string
	// Now is the clock (license verification, report timestamps); nil means
	// time.Now.
	Now func() time.Time
	// Sleep waits between retries and returns ctx.Err() if ctx ends first;
	// nil means a real timer.
	Sleep func(context.Context, time.Duration) error
	// MaxAttempts is the number of tries per request (at least 1); zero means
	// DefaultMaxAttempts.
	MaxAttempts int
	// TrustedKeys, when set, are the only keys licenses are verified with:
	// the vendor's public keys shipped with the product. The server's
	// published keys are then never fetched or trusted.
	TrustedKeys *license.Keyring

	mu sync.Mutex
	// jitter returns a uniformly random duration in [0, d]; tests replace it.
	jitter func(d time.Duration) time.Duration
}

// State is the content of instance.json.
type State struct {
	// InstanceID identifies this installation to the server; it is a random
	// UUID (version 4) generated the first time the state is written.
	InstanceID string `json:"instance_id"`
	// ServerURL is the server the instance was activated against.
	ServerURL      string    `json:"server_url,omitempty"`
	ActivatedAt    time.Time `json:"activated_at,omitzero"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	// LastSyncAt is the last successful Seat Link.
	LastSyncAt time.Time `json:"last_sync_at,omitzero"`
	// NextReconciliationDate is the last one the server announced
	// ("YYYY-MM-DD"), or empty.
	NextReconciliationDate string `json:"next_reconciliation_date,omitempty"`
	// Keys are the server's public keys fetched at activation (and refreshed
	// when a new license names a key the instance does not know yet).
	Keys []PublicKey `json:"keys"`
	// Pending are the reports recorded for export, oldest first, at most one
	// per UTC day.
	Pending []Report `json:"pending_reports"`
}

// PublicKey is one of the server's license signing keys.
type PublicKey struct {
	KeyID     string `json:"kid"`
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"public_key"` // "fulfill-ed25519-public:…"
	Status    string `json:"status"`     // "active" or "retired"
}

// Usage is what an instance reports: its user counts on the day of the
// report. MaxHistorical is the highest daily billable count of the current
// term; Billable is today's.
type Usage struct {
	MaxHistorical, Billable int
	AddOns                  []AddOnMetric
}

// AddOnMetric reports one add-on's seats, in GitLab's field names
// (gitlab_subscriptions/add_on_metrics.rb).
type AddOnMetric struct {
	AddOnType string `json:"add_on_type"` // e.g. "duo_pro"
	Purchased int    `json:"purchased_seats"`
	Assigned  int    `json:"assigned_seats"`
}

func (u Usage) validate() error {
	if u.MaxHistorical < 0 || u.Billable < 0 {
		return fmt.Errorf("instance: user counts must not be negative (max historical %d, billable %d)", u.MaxHistorical, u.Billable)
	}
	for _, a := range u.AddOns {
		if a.AddOnType == "" || a.Purchased < 0 || a.Assigned < 0 {
			return fmt.Errorf("instance: add-on metric %+v: type required, counts must not be negative", a)
		}
	}
	return nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) stateDir() string {
	if c.StateDir != "" {
		return c.StateDir
	}
	return DefaultStateDir
}

func (c *Client) hostname() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

func (c *Client) version() string {
	if c.Version != "" {
		return c.Version
	}
	return "unknown"
}

// LoadState reads instance.json. A missing file gives a zero State (without
// an instance id) and no error.
func (c *Client) LoadState() (*State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadState()
}

func (c *Client) loadState() (*State, error) {
	path := filepath.Join(c.stateDir(), stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("instance: read state: %w", err)
	}
	st := &State{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("instance: %s: %w", path, err)
	}
	return st, nil
}

// saveState writes instance.json, creating the instance id if needed.
func (c *Client) saveState(st *State) error {
	if st.InstanceID == "" {
		id, err := newInstanceID()
		if err != nil {
			return err
		}
		st.InstanceID = id
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("instance: encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(c.stateDir(), stateFile), append(b, '\n'))
}

// ensureID gives st an instance id, persisting it at once so it never changes.
func (c *Client) ensureID(st *State) error {
	if st.InstanceID != "" {
		return nil
	}
	return c.saveState(st)
}

// newInstanceID returns a random version-4 UUID.
func newInstanceID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("instance: instance id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same directory, synced, then renamed over path.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("instance: write %s: %w", path, err)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable; best effort
		d.Sync()
		d.Close()
	}
	return nil
}

// keyring is the keys licenses are verified with: TrustedKeys, or else the
// ones stored at activation.
func (c *Client) keyring(st *State) (*license.Keyring, error) {
	if c.TrustedKeys != nil {
		return c.TrustedKeys, nil
	}
	return st.keyring()
}

// keyring builds the trusted keys from st.
func (st *State) keyring() (*license.Keyring, error) {
	kr, err := license.NewKeyring()
	if err != nil {
		return nil, err
	}
	for _, k := range st.Keys {
		if k.Algorithm != license.AlgEd25519 {
			continue
		}
		pub, err := license.ParsePublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("instance: stored key %s: %w", k.KeyID, err)
		}
		if _, err := kr.Add(pub); err != nil {
			return nil, err
		}
	}
	if len(kr.KeyIDs()) == 0 {
		return nil, errors.New("instance: no trusted public keys stored; activate again")
	}
	return kr, nil
}

// License loads the stored license, verifies it with the stored keys at
// c.Now() and returns its payload and its bytes. Without a license it
// returns ErrNotActivated.
func (c *Client) License() (*license.Payload, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.loadState()
	if err != nil {
		return nil, nil, err
	}
	return c.loadLicense(st)
}

func (c *Client) loadLicense(st *State) (*license.Payload, []byte, error) {
	data, err := os.ReadFile(filepath.Join(c.stateDir(), licenseFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNotActivated
	}
	if err != nil {
		return nil, nil, fmt.Errorf("instance: read license: %w", err)
	}
	kr, err := c.keyring(st)
	if err != nil {
		return nil, nil, err
	}
	p, err := kr.Verify(data, c.now())
	if err != nil {
		return nil, nil, fmt.Errorf("instance: stored license: %w", err)
	}
	return p, data, nil
}

// Check loads and verifies the stored license and applies the license rules
// (license.Payload.Check) on the UTC day of now.
func (c *Client) Check(now time.Time, billable, historicalMax int) (license.Status, error) {
	p, _, err := c.License()
	if err != nil {
		return license.Status{}, err
	}
	return p.Check(now, billable, historicalMax), nil
}

// fetchKeys reads the server's public keys and returns them with a keyring
// of the ed25519 ones. Keys of other algorithms are kept but not trusted.
func (c *Client) fetchKeys(ctx context.Context, base string) ([]PublicKey, *license.Keyring, error) {
	var resp struct {
		Data []PublicKey `json:"data"`
	}
	if err := c.do(ctx, base, http.MethodGet, "/api/v1/license_keys", nil, http.StatusOK, &resp); err != nil {
		return nil, nil, fmt.Errorf("instance: fetch license keys: %w", err)
	}
	kr, _ := license.NewKeyring()
	for _, k := range resp.Data {
		if k.Algorithm != license.AlgEd25519 {
			continue
		}
		pub, err := license.ParsePublicKey(k.PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("instance: server key %q: %w", k.KeyID, err)
		}
		kid, _ := kr.Add(pub)
		if k.KeyID != kid {
			return nil, nil, fmt.Errorf("instance: server key %q: key id does not match the key (%s)", k.KeyID, kid)
		}
	}
	if len(kr.KeyIDs()) == 0 {
		return nil, nil, errors.New("instance: the server published no ed25519 license key")
	}
	return resp.Data, kr, nil
}

func (c *Client) baseURL(st *State) (string, error) {
	u := c.BaseURL
	if u == "" {
		u = st.ServerURL
	}
	u = strings.TrimRight(strings.TrimSpace(u), "/")
	if u == "" {
		return "", errors.New("instance: no server URL (set BaseURL)")
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return "", fmt.Errorf("instance: server URL %q: want http:// or https://", u)
	}
	return u, nil
}

// ActivationResult is the server's answer to an activation, besides the
// license.
type ActivationResult struct {
	SubscriptionID      string            `json:"subscription_id"`
	Plan                string            `json:"plan"`
	Seats               int               `json:"seats"`
	ExpiresAt           string            `json:"expires_at"`
	FutureSubscriptions []json.RawMessage `json:"future_subscriptions"`
}

// Activate exchanges an activation code for a license: it fetches the
// server's public keys, posts the code with this instance's id, hostname
// and version, verifies the returned license offline against those keys
// and only then stores license and keys. Activating again (a new code,
// another server) replaces both. Server refusals are *APIError, e.g. code
// "activation_code_invalid".
func (c *Client) Activate(ctx context.Context, code string) (*license.Payload, error) {
	p, _, err := c.ActivateResult(ctx, code)
	return p, err
}

// ActivateResult is Activate that also returns the server's response
// fields (plan, seats, expiry, future subscriptions).
func (c *Client) ActivateResult(ctx context.Context, code string) (*license.Payload, *ActivationResult, error) {
	code = strings.TrimSpace(code)
	if len(code) != ActivationCodeLength {
		return nil, nil, fmt.Errorf("instance: the activation code has %d characters, want %d", len(code), ActivationCodeLength)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.loadState()
	if err != nil {
		return nil, nil, err
	}
	base, err := c.baseURL(st)
	if err != nil {
		return nil, nil, err
	}
	if err := c.ensureID(st); err != nil {
		return nil, nil, err
	}
	var keys []PublicKey
	kr := c.TrustedKeys
	if kr == nil {
		if keys, kr, err = c.fetchKeys(ctx, base); err != nil {
			return nil, nil, err
		}
	}
	req := map[string]string{
		"activation_code": code,
		"instance_id":     st.InstanceID,
		"hostname":        c.hostname(),
		"version":         c.version(),
	}
	var resp struct {
		LicenseKey string `json:"license_key"`
		ActivationResult
	}
	if err := c.do(ctx, base, http.MethodPost, "/api/v1/activations", req, http.StatusCreated, &resp); err != nil {
		return nil, nil, fmt.Errorf("instance: activate: %w", err)
	}
	data := []byte(resp.LicenseKey)
	p, err := kr.Verify(data, c.now())
	if err != nil {
		return nil, nil, fmt.Errorf("instance: activate: the server's license does not verify, nothing stored: %w", err)
	}
	if resp.SubscriptionID != "" && p.SubscriptionID != resp.SubscriptionID {
		return nil, nil, fmt.Errorf("instance: activate: license is for subscription %q, the server said %q; nothing stored", p.SubscriptionID, resp.SubscriptionID)
	}
	if err := writeFileAtomic(filepath.Join(c.stateDir(), licenseFile), data); err != nil {
		return nil, nil, err
	}
	st.ServerURL = base
	st.Keys = keys
	st.ActivatedAt = c.now().UTC()
	st.SubscriptionID = p.SubscriptionID
	st.NextReconciliationDate = ""
	if err := c.saveState(st); err != nil {
		return nil, nil, err
	}
	return p, &resp.ActivationResult, nil
}

// SyncResult is the outcome of a Seat Link.
type SyncResult struct {
	// NewLicense reports that the server sent a different license, which
	// was verified and stored; License is then the new payload, else the
	// stored one.
	NewLicense bool
	License    *license.Payload
	// NextReconciliationDate is "YYYY-MM-DD", or empty if none is planned.
	NextReconciliationDate string
	SubscriptionID         string
	Seats                  int
}

// seatLinkRequest is the body of POST /api/v1/seat_links, in the field
// names of GitLab's SeatLinkData#as_json (gitlab_version for the version).
type seatLinkRequest struct {
	LicenseKey             string        `json:"license_key"`
	Timestamp              string        `json:"timestamp"`
	MaxHistoricalUserCount int           `json:"max_historical_user_count"`
	BillableUsersCount     int           `json:"billable_users_count"`
	InstanceID             string        `json:"instance_id"`
	Hostname               string        `json:"hostname"`
	Version                string        `json:"gitlab_version"`
	AddOnMetrics           []AddOnMetric `json:"add_on_metrics"`
}

// Sync reports u to the server (Seat Link) with the stored license. When
// the server answers with a newer license, Sync verifies it and replaces the
// stored one; if it does not verify (or was issued before the stored one),
// the stored license is kept and Sync returns an error, although the report
// itself was accepted.
//
// Network errors, 429 and 5xx are retried (see MaxAttempts, RetryBase);
// retrying is safe as the server replaces the day's report. When they
// persist, u is also recorded as a pending offline report (RecordOffline) so
// it can still be exported. Other refusals are *APIError (e.g.
// "license_invalid", "subscription_expired") and are not retried.
func (c *Client) Sync(ctx context.Context, u Usage) (*SyncResult, error) {
	if err := u.validate(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.loadState()
	if err != nil {
		return nil, err
	}
	old, data, err := c.loadLicense(st)
	if err != nil {
		return nil, err
	}
	base, err := c.baseURL(st)
	if err != nil {
		return nil, err
	}
	if err := c.ensureID(st); err != nil {
		return nil, err
	}
	now := c.now().UTC()
	req := seatLinkRequest{
		LicenseKey:             string(data),
		Timestamp:              now.Format(time.RFC3339),
		MaxHistoricalUserCount: u.MaxHistorical,
		BillableUsersCount:     u.Billable,
		InstanceID:             st.InstanceID,
		Hostname:               c.hostname(),
		Version:                c.version(),
		AddOnMetrics:           u.AddOns,
	}
	if req.AddOnMetrics == nil {
		req.AddOnMetrics = []AddOnMetric{}
	}
	var resp struct {
		License                *string `json:"license"`
		NextReconciliationDate *string `json:"next_reconciliation_date"`
		SubscriptionID         string  `json:"subscription_id"`
		Seats                  int     `json:"seats"`
	}
	if err := c.do(ctx, base, http.MethodPost, "/api/v1/seat_links", req, http.StatusOK, &resp); err != nil {
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.retryable() {
			st.recordPending(Report{Timestamp: now, MaxHistoricalUserCount: u.MaxHistorical, BillableUsersCount: u.Billable})
			if serr := c.saveState(st); serr != nil {
				return nil, fmt.Errorf("instance: sync: %w; %w", err, serr)
			}
		}
		return nil, fmt.Errorf("instance: sync: %w", err)
	}
	res := &SyncResult{License: old, SubscriptionID: resp.SubscriptionID, Seats: resp.Seats}
	if resp.NextReconciliationDate != nil {
		res.NextReconciliationDate = *resp.NextReconciliationDate
	}
	st.LastSyncAt = now
	st.NextReconciliationDate = res.NextReconciliationDate
	var licErr error
	if resp.License != nil && *resp.License != "" && *resp.License != string(data) {
		newData := []byte(*resp.License)
		p, err := c.verifyNew(ctx, base, st, newData, old)
		if err != nil {
			licErr = fmt.Errorf("instance: sync: report accepted, but the new license was refused and the stored one kept: %w", err)
		} else if err := writeFileAtomic(filepath.Join(c.stateDir(), licenseFile), newData); err != nil {
			licErr = err
		} else {
			res.NewLicense, res.License = true, p
			st.SubscriptionID = p.SubscriptionID
		}
	}
	if err := c.saveState(st); err != nil {
		if licErr != nil {
			return nil, fmt.Errorf("%w; %w", licErr, err)
		}
		return nil, err
	}
	if licErr != nil {
		return nil, licErr
	}
	return res, nil
}

// verifyNew verifies a license received from the server. If it names a key
// the instance does not know (the server rotated its key), the keys are
// fetched again from the same server and stored if they verify it.
func (c *Client) verifyNew(ctx context.Context, base string, st *State, data []byte, old *license.Payload) (*license.Payload, error) {
	kr, err := c.keyring(st)
	if err != nil {
		return nil, err
	}
	p, err := kr.Verify(data, c.now())
	if errors.Is(err, license.ErrUnknownKey) && c.TrustedKeys == nil {
		keys, kr2, ferr := c.fetchKeys(ctx, base)
		if ferr != nil {
			return nil, fmt.Errorf("%w; fetching the keys again: %w", err, ferr)
		}
		if p, err = kr2.Verify(data, c.now()); err == nil {
			st.Keys = mergeKeys(st.Keys, keys)
		}
	}
	if err != nil {
		return nil, err
	}
	if p.IssuedAt.Before(old.IssuedAt) {
		return nil, fmt.Errorf("new license issued at %s, before the stored one (%s)",
			p.IssuedAt.Format(time.RFC3339), old.IssuedAt.Format(time.RFC3339))
	}
	return p, nil
}

// mergeKeys returns old updated with fresh: keys are never dropped, so
// licenses signed by a retired key keep verifying.
func mergeKeys(old, fresh []PublicKey) []PublicKey {
	out := slices.Clone(old)
	for _, k := range fresh {
		if i := slices.IndexFunc(out, func(o PublicKey) bool { return o.KeyID == k.KeyID }); i >= 0 {
			out[i] = k
		} else {
			out = append(out, k)
		}
	}
	return out
}

// recordPending adds r to the pending reports and keeps at most
// MaxPendingReports.
func (st *State) recordPending(r Report) {
	st.Pending = addReport(st.Pending, r)
	if n := len(st.Pending) - MaxPendingReports; n > 0 {
		st.Pending = slices.Delete(st.Pending, 0, n)
	}
}

// addReport returns reports with r added (its timestamp in UTC, whole
// seconds), replacing a report of the same UTC day, sorted oldest first.
func addReport(reports []Report, r Report) []Report {
	r.Timestamp = r.Timestamp.UTC().Truncate(time.Second)
	day := license.DateOf(r.Timestamp)
	reports = slices.DeleteFunc(slices.Clone(reports), func(p Report) bool { return license.DateOf(p.Timestamp) == day })
	reports = append(reports, r)
	slices.SortStableFunc(reports, func(a, b Report) int { return a.Timestamp.Compare(b.Timestamp) })
	return reports
}

// RecordOffline stores u as today's pending report (replacing an earlier
// report of the same UTC day), for an air-gapped site to export later with
// ExportUsage. Add-on metrics are not part of the usage file and are
// ignored.
func (c *Client) RecordOffline(u Usage) error {
	if err := u.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.loadState()
	if err != nil {
		return err
	}
	st.recordPending(Report{Timestamp: c.now(), MaxHistoricalUserCount: u.MaxHistorical, BillableUsersCount: u.Billable})
	return c.saveState(st)
}

// PendingReports returns the recorded offline reports, oldest first.
func (c *Client) PendingReports() ([]Report, error) {
	st, err := c.LoadState()
	if err != nil {
		return nil, err
	}
	return st.Pending, nil
}

// SendUsageData posts a service ping payload (at most MaxUsageDataBytes as
// JSON, with the envelope) and returns the id the server gave it.
func (c *Client) SendUsageData(ctx context.Context, payload map[string]any) (string, error) {
	if payload == nil {
		return "", errors.New("instance: usage data: payload is nil")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.loadState()
	if err != nil {
		return "", err
	}
	_, data, err := c.loadLicense(st)
	if err != nil {
		return "", err
	}
	base, err := c.baseURL(st)
	if err != nil {
		return "", err
	}
	if err := c.ensureID(st); err != nil {
		return "", err
	}
	body := map[string]any{"instance_id": st.InstanceID, "license_key": string(data), "payload": payload}
	b, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("instance: usage data: %w", err)
	}
	if len(b) > MaxUsageDataBytes {
		return "", fmt.Errorf("instance: usage data is %d bytes, the limit is %d", len(b), MaxUsageDataBytes)
	}
	var resp struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, base, http.MethodPost, "/api/v1/usage_data", json.RawMessage(b), http.StatusCreated, &resp); err != nil {
		return "", fmt.Errorf("instance: usage data: %w", err)
	}
	return resp.ID, nil
}

// MaxUsageDataBytes is the server's limit on a service ping request body.
const MaxUsageDataBytes = 256 << 10
