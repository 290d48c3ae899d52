package api_test

import (
	"bytes"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"

	smtpd "github.com/emersion/go-smtp"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/jobs"
	fmail "github.com/fulfillhq/fulfill/mail"
)

// smtpSink is a real SMTP server (go-smtp) that keeps what it receives.
type smtpSink struct {
	mu   sync.Mutex
	msgs []sunk
}

type sunk struct {
	from, to string
	data     []byte
}

func (b *smtpSink) NewSession(*smtpd.Conn) (smtpd.Session, error) { return &sinkSession{b: b}, nil }

type sinkSession struct {
	b   *smtpSink
	cur sunk
}

func (s *sinkSession) Mail(from string, _ *smtpd.MailOptions) error { s.cur.from = from; return nil }
func (s *sinkSession) Rcpt(to string, _ *smtpd.RcptOptions) error   { s.cur.to = to; return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }

func startSMTP(t *testing.T) (*smtpSink, string) {
	t.Helper()
	sink := &smtpSink{}
	srv := smtpd.NewServer(sink)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sink, "smtp://" + ln.Addr().String() + "?tls=none"
}

// The license email goes out over SMTP, exactly once, with the license
// attached; a rolled-back purchase sends nothing.
func TestLicenseEmailOverSMTP(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		sink, smtpURL := startSMTP(t)
		sender, err := fmail.ParseURL(smtpURL)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, url, "2026-01-01", func(c *jobs.Config) { c.Mail, c.From = sender, "Fulfill <licenses@vendor.example>" })
		cus := e.customer("US", "")
		var ae apiError
		if c := e.do("POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 3,
			"payment_method": "pm_card_chargeDeclined"}, &ae); c != 402 {
			t.Fatalf("declined purchase: %d", c)
		}
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 3,
			"payment_method": "pm_card_visa"}, &p)
		for _, m := range e.waitEmails() {
			if m.Status != "sent" {
				t.Fatalf("email status %q, want sent", m.Status)
			}
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		var licenses []sunk // the purchase's receipt goes out too
		for _, m := range sink.msgs {
			if !bytes.Contains(m.data, []byte("Subject: Receipt for invoice")) {
				licenses = append(licenses, m)
			}
		}
		if len(licenses) != 1 || len(sink.msgs) != 2 {
			t.Fatalf("SMTP server got %d messages, %d license mails, want 2 and 1", len(sink.msgs), len(licenses))
		}
		got := licenses[0]
		msg, err := mail.ReadMessage(bytes.NewReader(got.data))
		if err != nil {
			t.Fatal(err)
		}
		if got.from != "licenses@vendor.example" || got.to != "buyer@example.com" || msg.Header.Get("Subject") != "Your Premium (self-managed) license (3 seats)" {
			t.Fatalf("envelope %s → %s, subject %q", got.from, got.to, msg.Header.Get("Subject"))
		}
		if !strings.Contains(string(got.data), "attachment; filename=fulfill.license") || !strings.Contains(string(got.data), "Content-Transfer-Encoding: base64") {
			t.Fatalf("no license attachment in:\n%s", got.data)
		}
	})
}

// Seat links: a license that does not verify, an unknown subscription and
// an expired one get clear 4xx answers; a usage file is ingested like
// seat links; a service ping is stored.
func TestSeatLinkErrorsAndUsage(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url, "2026-01-01")
		cus := e.customer("US", "")
		var p purchase
		e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
			"payment_method": "pm_card_visa"}, &p)
		sub := p.Subscription.ID
		_, lic := e.text("/api/v1/subscriptions/" + sub + "/license")
		link := func(key string, billable int) map[string]any {
			return map[string]any{"license_key": key, "timestamp": "2026-01-01T10:00:00Z", "max_historical_user_count": billable,
				"billable_users_count": billable, "instance_id": "inst-1", "hostname": "git.example.com", "version": "18.0"}
		}
		// Change one character of the base64 body (line 3), to another one.
		b := []byte(lic)
		i := strings.Index(lic, "\n") + 70
		b[i] = map[bool]byte{true: 'b', false: 'a'}[b[i] == 'a']
		tampered := string(b)
		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"tampered", link(tampered, 5), 401, "license_invalid"},
			{"garbage", link("hello", 5), 401, "license_invalid"},
			{"missing license", link("", 5), 401, "unauthorized"},
			{"negative users", link(lic, -1), 422, "out_of_range"},
			{"no instance", map[string]any{"license_key": lic, "timestamp": "2026-01-01T10:00:00Z", "max_historical_user_count": 1, "billable_users_count": 1}, 422, "required"},
			{"bad timestamp", map[string]any{"license_key": lic, "timestamp": "yesterday", "max_historical_user_count": 1, "billable_users_count": 1, "instance_id": "i"}, 422, "invalid"},
		}
		for _, c := range cases {
			var ae apiError
			if got := e.do("POST", "/api/v1/seat_links", c.body, &ae); got != c.status || ae.Error.Code != c.code {
				t.Errorf("%s: %d %+v, want %d %s", c.name, got, ae.Error, c.status, c.code)
			}
		}
		var res struct {
			License *string `json:"license"`
			Seats   int64   `json:"seats"`
		}
		e.must(200, "POST", "/api/v1/seat_links", link(lic, 7), &res)
		if res.License != nil || res.Seats != 10 {
			t.Fatalf("seat link = %+v", res)
		}
		// Air-gapped: a usage file with two days.
		file := map[string]any{"format": "fulfill-usage-v1", "license_key": lic, "instance_id": "inst-2", "hostname": "offline.example",
			"version": "18.0", "generated_at": "2026-01-03T00:00:00Z", "reports": []map[string]any{
				{"timestamp": "2026-01-02T00:00:00Z", "max_historical_user_count": 9, "billable_users_count": 8},
				{"timestamp": "2026-01-03T00:00:00Z", "max_historical_user_count": 12, "billable_users_count": 11}}}
		e.advance("2026-01-03")
		var ing struct{ Ingested int }
		e.must(200, "POST", "/api/v1/usage_files", file, &ing)
		if ing.Ingested != 2 {
			t.Fatalf("ingested %d", ing.Ingested)
		}
		var reps struct {
			Data []struct{ MaxUsers, BillableUsers int64 }
		}
		e.must(200, "GET", "/api/v1/subscriptions/"+sub+"/seat_reports", nil, &reps)
		if len(reps.Data) != 3 {
			t.Fatalf("%d seat reports, want 3 (1 link + 2 from the file)", len(reps.Data))
		}
		var ping struct{ ID string }
		e.must(201, "POST", "/api/v1/usage_data", map[string]any{"instance_id": "inst-1", "license_key": lic,
			"payload": map[string]any{"counts": map[string]int{"projects": 12}}}, &ping)
		big := map[string]any{"instance_id": "inst-1", "license_key": lic, "payload": map[string]any{"blob": strings.Repeat("x", 300<<10)}}
		var ae apiError
		if got := e.do("POST", "/api/v1/usage_data", big, &ae); got != 422 || ae.Error.Code != "out_of_range" {
			t.Fatalf("oversized ping: %d %+v", got, ae)
		}
		// Once expired, the instance is told so.
		e.must(200, "POST", "/api/v1/subscriptions/"+sub+"/cancel", map[string]any{"reason": "moving on"}, nil)
		e.advance("2027-01-15") // past the 14 days of cancellation syncs
		var s subscription
		e.must(200, "GET", "/api/v1/subscriptions/"+sub, nil, &s)
		if s.State != "expired" {
			t.Fatalf("state %s, want expired", s.State)
		}
		if got := e.do("POST", "/api/v1/seat_links", link(lic, 7), &ae); got != 410 || ae.Error.Code != "subscription_expired" {
			t.Fatalf("expired: %d %+v", got, ae)
		}
	})
}
