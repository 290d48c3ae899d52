package instance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

// UsageFormat is the value of UsageFile.Format.
const UsageFormat = "fulfill-usage-v1"

// Limits of a usage file, enforced by ParseUsageFile.
const (
	MaxUsageFileBytes = 1 << 20
	MaxUsageReports   = 1000
)

// UsageFile is what an air-gapped instance exports instead of syncing, and
// what the vendor uploads to the server. It is one JSON object, UTF-8:
//
//	{
//	  "format": "fulfill-usage-v1",
//	  "license_key": "-----BEGIN FULFILL LICENSE-----\n…",
//	  "instance_id": "3f0c…",
//	  "hostname": "gitlab.example.com",
//	  "version": "17.2.0",
//	  "generated_at": "2025-03-01T10:00:00Z",
//	  "reports": [
//	    {"timestamp": "2025-02-27T03:00:00Z", "max_historical_user_count": 104, "billable_users_count": 98},
//	    {"timestamp": "2025-02-28T03:00:00Z", "max_historical_user_count": 104, "billable_users_count": 101}
//	  ]
//	}
//
// Rules (ParseUsageFile rejects anything else):
//   - format is exactly "fulfill-usage-v1"; a future format changes it.
//   - every key above is present, no other key anywhere, nothing after the
//     object; at most MaxUsageFileBytes.
//   - license_key is a well-formed license file (license.Parse); the server
//     verifies its signature and finds the subscription from it.
//   - instance_id is non-empty; hostname and version may be empty strings.
//   - generated_at and every timestamp are RFC 3339.
//   - reports has 1 to MaxUsageReports entries, oldest first, at most one
//     per UTC day, counts are integers ≥ 0.
//
// Each report is a Seat Link for its day: the server treats it like a sync
// with that timestamp, so uploading the same file twice (or two files that
// overlap) replaces those days' reports rather than adding to them.
type UsageFile struct {
	Format      string    `json:"format"`
	LicenseKey  string    `json:"license_key"`
	InstanceID  string    `json:"instance_id"`
	Hostname    string    `json:"hostname"`
	Version     string    `json:"version"`
	GeneratedAt time.Time `json:"generated_at"`
	Reports     []Report  `json:"reports"`
}

// Report is one day's user counts.
type Report struct {
	Timestamp              time.Time `json:"timestamp"`
	MaxHistoricalUserCount int       `json:"max_historical_user_count"`
	BillableUsersCount     int       `json:"billable_users_count"`
}

// usageFileJSON detects absent keys: every field is a pointer.
type usageFileJSON struct {
	Format      *string       `json:"format"`
	LicenseKey  *string       `json:"license_key"`
	InstanceID  *string       `json:"instance_id"`
	Hostname    *string       `json:"hostname"`
	Version     *string       `json:"version"`
	GeneratedAt *string       `json:"generated_at"`
	Reports     *[]reportJSON `json:"reports"`
}

type reportJSON struct {
	Timestamp              *string `json:"timestamp"`
	MaxHistoricalUserCount *int    `json:"max_historical_user_count"`
	BillableUsersCount     *int    `json:"billable_users_count"`
}

// ParseUsageFile reads and validates a usage file (see UsageFile for the
// rules). Errors name the offending field, e.g.
// `usage file: reports[2].billable_users_count: -1, must be >= 0`.
func ParseUsageFile(data []byte) (*UsageFile, error) {
	fail := func(format string, args ...any) (*UsageFile, error) {
		return nil, fmt.Errorf("usage file: "+format, args...)
	}
	if len(data) > MaxUsageFileBytes {
		return fail("%d bytes, the limit is %d", len(data), MaxUsageFileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var raw usageFileJSON
	if err := dec.Decode(&raw); err != nil {
		return fail("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail("unexpected data after the JSON object")
	}
	if raw.Format == nil {
		return fail("format: missing")
	}
	if *raw.Format != UsageFormat {
		return fail("format %q, want %q", *raw.Format, UsageFormat)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"license_key", raw.LicenseKey}, {"instance_id", raw.InstanceID}, {"hostname", raw.Hostname}, {"version", raw.Version}, {"generated_at", raw.GeneratedAt}} {
		if f.v == nil {
			return fail("%s: missing", f.name)
		}
	}
	if raw.Reports == nil {
		return fail("reports: missing")
	}
	if *raw.InstanceID == "" {
		return fail("instance_id: empty")
	}
	if _, err := license.Parse([]byte(*raw.LicenseKey)); err != nil {
		return fail("license_key: %v", err)
	}
	gen, err := time.Parse(time.RFC3339, *raw.GeneratedAt)
	if err != nil {
		return fail("generated_at: %q is not an RFC 3339 time", *raw.GeneratedAt)
	}
	reports := *raw.Reports
	if len(reports) == 0 || len(reports) > MaxUsageReports {
		return fail("reports: %d entries, want 1 to %d", len(reports), MaxUsageReports)
	}
	f := &UsageFile{
		Format: *raw.Format, LicenseKey: *raw.LicenseKey, InstanceID: *raw.InstanceID,
		Hostname: *raw.Hostname, Version: *raw.Version, GeneratedAt: gen,
		Reports: make([]Report, 0, len(reports)),
	}
	var prev license.Date
	for i, r := range reports {
		switch {
		case r.Timestamp == nil:
			return fail("reports[%d].timestamp: missing", i)
		case r.MaxHistoricalUserCount == nil:
			return fail("reports[%d].max_historical_user_count: missing", i)
		case r.BillableUsersCount == nil:
			return fail("reports[%d].billable_users_count: missing", i)
		case *r.MaxHistoricalUserCount < 0:
			return fail("reports[%d].max_historical_user_count: %d, must be >= 0", i, *r.MaxHistoricalUserCount)
		case *r.BillableUsersCount < 0:
			return fail("reports[%d].billable_users_count: %d, must be >= 0", i, *r.BillableUsersCount)
		}
		ts, err := time.Parse(time.RFC3339, *r.Timestamp)
		if err != nil {
			return fail("reports[%d].timestamp: %q is not an RFC 3339 time", i, *r.Timestamp)
		}
		day := license.DateOf(ts)
		if i > 0 && !prev.Before(day) {
			return fail("reports[%d].timestamp: %s is not on a later UTC day than the report before", i, *r.Timestamp)
		}
		prev = day
		f.Reports = append(f.Reports, Report{Timestamp: ts, MaxHistoricalUserCount: *r.MaxHistoricalUserCount, BillableUsersCount: *r.BillableUsersCount})
	}
	return f, nil
}

// Encode writes f as indented JSON after checking that ParseUsageFile will
// accept it.
func (f *UsageFile) Encode(w io.Writer) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("usage file: %w", err)
	}
	b = append(b, '\n')
	if _, err := ParseUsageFile(b); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ExportUsage writes a usage file (see UsageFile) with the stored license
// and reports; nil reports means the pending ones (RecordOffline). Reports
// are sorted and reduced to one per UTC day (the last one wins). Exporting
// does not clear the pending reports: uploading overlapping files is
// harmless, and the oldest drop out after MaxPendingReports days.
func (c *Client) ExportUsage(w io.Writer, reports []Report) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.loadState()
	if err != nil {
		return err
	}
	_, data, err := c.loadLicense(st)
	if err != nil {
		return err
	}
	if reports == nil {
		reports = st.Pending
	}
	var norm []Report
	for _, r := range reports {
		if r.Timestamp.IsZero() || r.MaxHistoricalUserCount < 0 || r.BillableUsersCount < 0 {
			return fmt.Errorf("instance: export usage: report %+v: timestamp required, counts must not be negative", r)
		}
		norm = addReport(norm, r)
	}
	if len(norm) == 0 {
		return errors.New("instance: export usage: no reports to export (record some first)")
	}
	if len(norm) > MaxUsageReports {
		return fmt.Errorf("instance: export usage: %d reports, a file holds at most %d", len(norm), MaxUsageReports)
	}
	if err := c.ensureID(st); err != nil {
		return err
	}
	f := &UsageFile{
		Format:      UsageFormat,
		LicenseKey:  string(data),
		InstanceID:  st.InstanceID,
		Hostname:    c.hostname(),
		Version:     c.version(),
		GeneratedAt: c.now().UTC().Truncate(time.Second),
		Reports:     norm,
	}
	if err := f.Encode(w); err != nil {
		return fmt.Errorf("instance: export usage: %w", err)
	}
	return nil
}
