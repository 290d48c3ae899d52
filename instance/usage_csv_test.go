package instance

import (
	"strings"
	"testing"
)

func TestParseGitLabUsageRefusesWhatIsNotGitLabsLayout(t *testing.T) {
	t.Parallel()
	good := "License Key,abc\nEmail,a@example.com\nLicense Start Date,2026-01-01\nLicense End Date,2027-01-01\nCompany,X\n" +
		"Generated At,2026-01-05 10:00:00\n\nDate,Active User Count\n2026-01-02,5\n"
	u, err := ParseGitLabUsage([]byte(good))
	if err != nil || u.LicenseKey != "abc" || len(u.Days) != 1 || u.Days[0].Count != 5 || u.GeneratedAt.Hour() != 10 {
		t.Fatalf("good file: %+v %v", u, err)
	}
	if !LooksLikeGitLabUsage([]byte("\ufeff"+good)) || LooksLikeGitLabUsage([]byte(`{"format":"x"}`)) {
		t.Fatal("LooksLikeGitLabUsage misjudges")
	}
	for name, f := range map[string]string{
		"no license":    strings.Replace(good, "License Key,abc", "License Key,", 1),
		"no header":     strings.Replace(good, "Date,Active User Count\n", "", 1),
		"bad header":    strings.Replace(good, "Active User Count", "Users", 1),
		"bad date":      strings.Replace(good, "2026-01-02,5", "02/01/2026,5", 1),
		"negative":      strings.Replace(good, "2026-01-02,5", "2026-01-02,-5", 1),
		"three columns": strings.Replace(good, "2026-01-02,5", "2026-01-02,5,6", 1),
		"unknown row":   strings.Replace(good, "Company,X", "Colour,X", 1),
		"bad generated": strings.Replace(good, "2026-01-05 10:00:00", "yesterday", 1),
		"too many days": good + strings.Repeat("2026-01-03,1\n", MaxUsageReports),
	} {
		if _, err := ParseGitLabUsage([]byte(f)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
