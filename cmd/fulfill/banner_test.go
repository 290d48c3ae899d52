package main

import (
	"net"
	"strings"
	"testing"
)

// TestBannerLeadsANewOperatorToTheConsoleAndTheOutbox: the first-run banner
// names the portal, the console, the command that makes its first user and,
// without SMTP, the outbox where mail waits.
func TestBannerLeadsANewOperatorToTheConsoleAndTheOutbox(t *testing.T) {
	t.Parallel()
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	for _, tc := range []struct {
		smtp       string
		wantOutbox bool
	}{{"", true}, {"smtp://mail.example.com:587", false}} {
		var out strings.Builder
		banner(&out, &Config{PublicURL: "http://127.0.0.1:8080", SMTPURL: tc.smtp}, addr, "sqlite", false, "tok", nil)
		got := out.String()
		for _, want := range []string{"http://127.0.0.1:8080/admin", "fulfill admin create-user --email"} {
			if !strings.Contains(got, want) {
				t.Errorf("smtp %q: banner lacks %q:\n%s", tc.smtp, want, got)
			}
		}
		if has := strings.Contains(got, "/admin/emails"); has != tc.wantOutbox {
			t.Errorf("smtp %q: outbox mentioned %v, want %v:\n%s", tc.smtp, has, tc.wantOutbox, got)
		}
	}
}
