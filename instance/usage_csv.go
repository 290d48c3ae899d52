package instance

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// GitLabUsage is GitLab's offline usage file, license_usage.csv
// (ee/app/services/historical_user_data/csv_service.rb, exported from
// Admin > Subscription > "Export license usage file"):
//
//	License Key,<license data>
//	Email,<licensee email>
//	License Start Date,2025-01-01
//	License End Date,2026-01-01
//	Company,<licensee company>
//	Generated At,2025-03-01 10:00:00
//	<blank row>
//	Date,Active User Count
//	2025-02-27,98
//	2025-02-28,101
//
// The license key identifies the subscription; the file carries no
// instance id, hostname or version. Each data row is one HistoricalData
// record: the day's active (billable) users, taken at 12:00 UTC.
type GitLabUsage struct {
	LicenseKey  string
	Email       string
	Company     string
	StartsAt    time.Time // License Start Date (zero if blank)
	ExpiresAt   time.Time // License End Date (zero if blank)
	GeneratedAt time.Time
	Days        []DayCount
}

// DayCount is one row of GitLab's usage file.
type DayCount struct {
	Date  time.Time // midnight UTC of the day
	Count int
}

// LooksLikeGitLabUsage reports whether data is a CSV usage file rather
// than Fulfill's JSON one.
func LooksLikeGitLabUsage(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n"), []byte("License Key,"))
}

// ParseGitLabUsage reads license_usage.csv. It refuses a file without a
// license key, without the Date,Active User Count header, with a row that
// is not a date and a whole number ≥ 0, or with more than MaxUsageReports
// rows; at most MaxUsageFileBytes.
func ParseGitLabUsage(data []byte) (*GitLabUsage, error) {
	if len(data) > MaxUsageFileBytes {
		return nil, fmt.Errorf("usage file is larger than %d bytes", MaxUsageFileBytes)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	u := &GitLabUsage{}
	inRows := false
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("usage file: %w", err)
		}
		if len(rec) != 2 {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("usage file line %d: want two columns, got %d", line, len(rec))
		}
		key, val := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if inRows {
			d, err := parseDayCount(key, val)
			if err != nil {
				line, _ := r.FieldPos(0)
				return nil, fmt.Errorf("usage file line %d: %w", line, err)
			}
			if len(u.Days) == MaxUsageReports {
				return nil, fmt.Errorf("usage file has more than %d days", MaxUsageReports)
			}
			u.Days = append(u.Days, d)
			continue
		}
		if err := u.header(key, val); err != nil {
			return nil, err
		}
		inRows = key == "Date"
	}
	switch {
	case strings.TrimSpace(u.LicenseKey) == "":
		return nil, errors.New("usage file has no License Key row")
	case !inRows:
		return nil, errors.New("usage file has no Date,Active User Count header")
	}
	return u, nil
}

func (u *GitLabUsage) header(key, val string) error {
	var err error
	switch key {
	case "License Key":
		u.LicenseKey = val
	case "Email":
		u.Email = val
	case "Company":
		u.Company = val
	case "License Start Date":
		u.StartsAt, err = optionalTime(time.DateOnly, val)
	case "License End Date":
		u.ExpiresAt, err = optionalTime(time.DateOnly, val)
	case "Generated At":
		u.GeneratedAt, err = optionalTime(time.DateTime, val)
	case "Date":
		if val != "Active User Count" {
			return fmt.Errorf("usage file: header Date,%s, want Date,Active User Count", val)
		}
	default:
		return fmt.Errorf("usage file: unknown row %q", key)
	}
	if err != nil {
		return fmt.Errorf("usage file: %s %q is not a date", key, val)
	}
	return nil
}

func optionalTime(layout, val string) (time.Time, error) {
	if val == "" {
		return time.Time{}, nil
	}
	return time.ParseInLocation(layout, val, time.UTC)
}

func parseDayCount(date, count string) (DayCount, error) {
	d, err := time.ParseInLocation(time.DateOnly, date, time.UTC)
	if err != nil {
		return DayCount{}, fmt.Errorf("date %q is not YYYY-MM-DD", date)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		return DayCount{}, fmt.Errorf("active user count %q is not a whole number ≥ 0", count)
	}
	return DayCount{Date: d, Count: n}, nil
}
