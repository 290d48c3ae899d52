package commerce

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"github.com/fulfillhq/fulfill"
)

// GitLabNormalized is a license file as GitLab's License#normalized_data
// has it before digesting it (ee/app/models/license.rb: data.gsub("\r\n",
// "\n").gsub(/\n+$/, ”) + "\n"): line ends as LF; every run of newlines
// followed by more text shrinks to one newline (Ruby's $ matches before
// each "\n", so the regexp takes all but the last of the run); a run at the
// end goes; then one "\n".
func GitLabNormalized(data string) string {
	data = strings.ReplaceAll(data, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(data) + 1)
	for i := 0; i < len(data); {
		if data[i] != '\n' {
			b.WriteByte(data[i])
			i++
			continue
		}
		j := i
		for j < len(data) && data[j] == '\n' {
			j++
		}
		if j < len(data) {
			b.WriteByte('\n') // the last newline of the run stays
		}
		i = j
	}
	b.WriteByte('\n')
	return b.String()
}

// GitLabDigests are the license_md5 and license_sha256 a GitLab instance
// puts in its Service Ping (License#md5, License#sha256: hex digests of
// the normalized data).
func GitLabDigests(file string) (md5Hex, sha256Hex string) {
	n := []byte(GitLabNormalized(file))
	m, s := md5.Sum(n), sha256.Sum256(n)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

// LicenseOfPing finds the license a raw Service Ping names only by digest:
// GitLab's payload carries license_sha256 and license_md5 (no md5 under
// FIPS), never the license itself. The candidates are the licenses of the
// subscriptions the instance activated with, so an unknown instance or a
// digest of no license it holds is refused alike. SHA-256 is preferred;
// MD5 is accepted only when no SHA-256 is sent.
func (s *Service) LicenseOfPing(ctx context.Context, instanceID, sha256Hex, md5Hex string) (string, error) {
	want, useSHA := strings.ToLower(strings.TrimSpace(sha256Hex)), true
	if want == "" {
		want, useSHA = strings.ToLower(strings.TrimSpace(md5Hex)), false
	}
	refused := fulfill.FieldError(fulfill.EUnauthorized, "license_key",
		"Send the instance's license as license_key, or its license_sha256 from an instance that has activated.")
	if want == "" || strings.TrimSpace(instanceID) == "" || fulfill.TextLen(instanceID) > 255 {
		return "", refused
	}
	files, err := s.DB.LicenseFilesOfInstance(ctx, instanceID)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		m, sh := GitLabDigests(f)
		got := m
		if useSHA {
			got = sh
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return f, nil
		}
	}
	return "", refused
}
