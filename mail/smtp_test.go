package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtpd "github.com/emersion/go-smtp"
)

// ---- test SMTP server (github.com/emersion/go-smtp) ----

type received struct {
	From, To string // envelope
	Data     []byte
	User     string // authenticated user, "" if none
	TLS      bool
	Helo     string
}

type backend struct {
	user, pass string           // when set, AUTH PLAIN is required
	rcptErr    *smtpd.SMTPError // returned from RCPT TO when set

	mu   sync.Mutex
	msgs []received
}

func (b *backend) NewSession(c *smtpd.Conn) (smtpd.Session, error) {
	return &session{b: b, c: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b    *backend
	c    *smtpd.Conn
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.user || password != s.b.pass {
			return &smtpd.SMTPError{Code: 535, EnhancedCode: smtpd.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtpd.MailOptions) error {
	if s.b.user != "" && s.user == "" {
		return &smtpd.SMTPError{Code: 530, EnhancedCode: smtpd.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.cur = received{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtpd.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.cur.To = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	s.cur.User = s.user
	_, s.cur.TLS = s.c.TLSConnectionState()
	s.cur.Helo = s.c.Hostname()
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

type serverOpts struct {
	startTLS *tls.Config // offer STARTTLS with this config
	implicit *tls.Config // wrap the listener in TLS (smtps)
}

// startServer runs a real SMTP server on 127.0.0.1:0 and returns its port.
func startServer(t *testing.T, b *backend, o serverOpts) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if o.implicit != nil {
		l = tls.NewListener(l, o.implicit)
	}
	srv := smtpd.NewServer(b)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.TLSConfig = o.startTLS
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return port
}

// selfSigned returns a server TLS config with a fresh self-signed cert.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func mustParseURL(t *testing.T, raw string) *SMTP {
	t.Helper()
	s, err := ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ---- parsing helpers ----

type parsed struct {
	Subject     string
	Text        string
	Attachments []Attachment
}

// parse decodes a received message with net/mail and mime/multipart.
func parse(t *testing.T, data []byte) (*mail.Message, parsed) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	var p parsed
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	if mt == "text/plain" {
		p.Text = readQP(t, msg.Body)
		return msg, p
	}
	if mt != "multipart/mixed" {
		t.Fatalf("Content-Type = %q", mt)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		if i == 0 {
			// multipart.Reader decodes quoted-printable itself.
			if ct := part.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("text part Content-Type = %q", ct)
			}
			b, _ := io.ReadAll(part)
			p.Text = string(b)
			continue
		}
		if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
			t.Fatalf("attachment Content-Transfer-Encoding = %q", cte)
		}
		if d, _, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition")); d != "attachment" {
			t.Fatalf("Content-Disposition = %q", part.Header.Get("Content-Disposition"))
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatalf("base64: %v", err)
		}
		p.Attachments = append(p.Attachments, Attachment{Name: part.FileName(), ContentType: part.Header.Get("Content-Type"), Data: b})
	}
	return msg, p
}

func readQP(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---- tests ----

const licenseText = `-----BEGIN FULFILL LICENSE-----
Product: Fulfill Pro
Licensee: Grüße GmbH <ops@example.com>
Seats: 25
Expires: 2027-01-31
.this line starts with a dot
trailing space here   
equals = sign and a very long line that goes past seventy-six characters for sure, yes it does
-----END FULFILL LICENSE-----
`

func TestSendDelivers(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	text := "Hi Bob,\n\nyour license is attached.\n.\nA line with a lone dot above (dot-stuffing).\nGrüße, =Fulfill=\n"
	tests := []struct {
		name    string
		url     string
		msg     Message
		from    string // expected MAIL FROM
		subject string
		atts    []Attachment
	}{
		{
			name: "attachment",
			url:  "smtp://127.0.0.1:%d?tls=none",
			msg: Message{
				From: "Fulfill <noreply@example.com>", To: "Bob <bob@example.com>", Subject: "Your license",
				Text: text,
				Attachments: []Attachment{
					{Name: "license.txt", ContentType: "text/plain; charset=utf-8", Data: []byte(licenseText)},
					{Name: "blob.bin", Data: binary},
				},
			},
			from: "noreply@example.com", subject: "Your license",
			atts: []Attachment{
				{Name: "license.txt", ContentType: "text/plain; charset=utf-8", Data: []byte(licenseText)},
				{Name: "blob.bin", ContentType: "application/octet-stream", Data: binary},
			},
		},
		{
			name:    "non-ASCII subject, default from, no attachment",
			url:     "smtp://127.0.0.1:%d?tls=none&from=shop%%40example.com&helo=mailer.example.com",
			msg:     Message{To: "bob@example.com", Subject: "Ihre Bestellung – Größe 42 ✓ " + strings.Repeat("lang ", 20), Text: text},
			from:    "shop@example.com",
			subject: "Ihre Bestellung – Größe 42 ✓ " + strings.Repeat("lang ", 20),
		},
		{
			name: "non-ASCII attachment name",
			url:  "smtp://127.0.0.1:%d?tls=none",
			msg: Message{From: "noreply@example.com", To: "bob@example.com", Subject: "Rechnung",
				Text: text, Attachments: []Attachment{{Name: "Rechnung März.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4\n")}}},
			from: "noreply@example.com", subject: "Rechnung",
			atts: []Attachment{{Name: "Rechnung März.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4\n")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &backend{}
			s := mustParseURL(t, fmt.Sprintf(tt.url, startServer(t, b, serverOpts{})))
			orig := tt.msg
			if err := s.Send(context.Background(), &tt.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := b.messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			if got[0].From != tt.from || got[0].To != "bob@example.com" {
				t.Errorf("envelope = MAIL FROM %q RCPT TO %q, want %q, %q", got[0].From, got[0].To, tt.from, "bob@example.com")
			}
			if want := s.LocalName; want != "" && got[0].Helo != want {
				t.Errorf("EHLO %q, want %q", got[0].Helo, want)
			}
			hdr, p := parse(t, got[0].Data)
			if p.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", p.Subject, tt.subject)
			}
			if want := strings.ReplaceAll(text, "\n", "\r\n"); p.Text != want {
				t.Errorf("text = %q, want %q", p.Text, want)
			}
			if len(p.Attachments) != len(tt.atts) {
				t.Fatalf("%d attachments, want %d", len(p.Attachments), len(tt.atts))
			}
			for i, a := range p.Attachments {
				w := tt.atts[i]
				if a.Name != w.Name || a.ContentType != w.ContentType || !bytes.Equal(a.Data, w.Data) {
					t.Errorf("attachment %d = %q %q %q, want %q %q %q", i, a.Name, a.ContentType, a.Data, w.Name, w.ContentType, w.Data)
				}
			}
			for _, h := range []string{"Date", "Message-Id", "From", "To"} {
				if hdr.Header.Get(h) == "" {
					t.Errorf("missing header %s", h)
				}
			}
			if _, err := hdr.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if tt.msg.From != orig.From {
				t.Errorf("Send modified Message.From to %q", tt.msg.From)
			}
			for _, line := range bytes.Split(got[0].Data, []byte("\r\n")) {
				if len(line) > 78 {
					t.Errorf("line longer than 78: %q", line)
				}
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		be        *backend
		url       string // %d = server port
		msg       Message
		op        string
		code      int
		errText   string
		permanent bool
	}{
		{
			name: "rcpt 550", be: &backend{rcptErr: &smtpd.SMTPError{Code: 550, EnhancedCode: smtpd.EnhancedCode{5, 1, 1}, Message: "no such user"}},
			url: "smtp://127.0.0.1:%d?tls=none", msg: Message{From: "a@example.com", To: "nobody@example.com"},
			op: "rcpt to", code: 550, permanent: true,
			errText: "mail: smtp rcpt to <nobody@example.com>: 550 5.1.1 no such user",
		},
		{
			name: "rcpt 451", be: &backend{rcptErr: &smtpd.SMTPError{Code: 451, EnhancedCode: smtpd.EnhancedCode{4, 3, 0}, Message: "try again later"}},
			url: "smtp://127.0.0.1:%d?tls=none", msg: Message{From: "a@example.com", To: "bob@example.com"},
			op: "rcpt to", code: 451, permanent: false,
			errText: "mail: smtp rcpt to <bob@example.com>: 451 4.3.0 try again later",
		},
		{
			name: "wrong password", be: &backend{user: "alice", pass: "right"},
			url: "smtp://alice:s3cret@127.0.0.1:%d", msg: Message{From: "a@example.com", To: "bob@example.com"},
			op: "auth", code: 535, permanent: true,
			errText: "mail: smtp auth: 535 5.7.8 bad credentials",
		},
		{
			name: "auth required but no credentials", be: &backend{user: "alice", pass: "right"},
			url: "smtp://127.0.0.1:%d", msg: Message{From: "a@example.com", To: "bob@example.com"},
			op: "mail from", code: 530, permanent: true,
			errText: "mail: smtp mail from <a@example.com>: 530 5.7.0 authentication required",
		},
		{
			name: "tls required but not offered", be: &backend{},
			url: "smtp://127.0.0.1:%d?tls=required", msg: Message{From: "a@example.com", To: "bob@example.com"},
			op: "starttls", permanent: false,
			errText: "mail: smtp starttls: server does not offer STARTTLS and tls=required",
		},
		{
			name: "header injection", be: &backend{},
			url: "smtp://127.0.0.1:%d?tls=none", msg: Message{From: "a@example.com", To: "bob@example.com", Subject: "hi\r\nBcc: victim@example.com"},
			permanent: true,
			errText:   "mail: invalid message: Subject contains CR or LF",
		},
		{
			name: "no from anywhere", be: &backend{},
			url: "smtp://127.0.0.1:%d?tls=none", msg: Message{To: "bob@example.com"},
			permanent: true,
			errText:   "mail: invalid message: no From address and no default sender",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParseURL(t, fmt.Sprintf(tt.url, startServer(t, tt.be, serverOpts{})))
			err := s.Send(context.Background(), &tt.msg)
			if err == nil {
				t.Fatal("Send succeeded, want error")
			}
			if err.Error() != tt.errText {
				t.Errorf("error = %q, want %q", err, tt.errText)
			}
			if got := IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tt.permanent)
			}
			var se *SendError
			if tt.op != "" {
				if !errors.As(err, &se) || se.Op != tt.op || se.Code != tt.code {
					t.Errorf("SendError = %+v, want Op %q Code %d", se, tt.op, tt.code)
				}
			} else if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("error %v does not wrap ErrInvalidMessage", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks password: %v", err)
			}
			if n := len(tt.be.messages()); n != 0 {
				t.Errorf("server received %d messages, want 0", n)
			}
		})
	}
}

func TestSendAuthPlain(t *testing.T) {
	b := &backend{user: "alice", pass: "s3cret p@ss"}
	s := mustParseURL(t, fmt.Sprintf("smtp://alice:s3cret%%20p%%40ss@127.0.0.1:%d?from=noreply%%40example.com", startServer(t, b, serverOpts{})))
	if err := s.Send(context.Background(), &Message{To: "bob@example.com", Subject: "hi", Text: "hello"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := b.messages()
	if len(got) != 1 || got[0].User != "alice" || got[0].TLS {
		t.Fatalf("received %+v, want one message from user alice without TLS", got)
	}
}

func TestSendTLS(t *testing.T) {
	tests := []struct {
		name    string
		opts    serverOpts
		url     string
		wantTLS bool
		errText string // "" = success
	}{
		{name: "starttls opportunistic", opts: serverOpts{startTLS: selfSigned(t)}, url: "smtp://alice:pw@127.0.0.1:%d?insecure_skip_verify=true", wantTLS: true},
		{name: "starttls required", opts: serverOpts{startTLS: selfSigned(t)}, url: "smtp://alice:pw@127.0.0.1:%d?tls=required&insecure_skip_verify=true", wantTLS: true},
		{name: "tls=none ignores STARTTLS", opts: serverOpts{startTLS: selfSigned(t)}, url: "smtp://alice:pw@127.0.0.1:%d?tls=none", wantTLS: false},
		{name: "implicit tls", opts: serverOpts{implicit: selfSigned(t)}, url: "smtps://alice:pw@127.0.0.1:%d?insecure_skip_verify=true", wantTLS: true},
		{
			name: "self-signed cert rejected without insecure_skip_verify", opts: serverOpts{startTLS: selfSigned(t)},
			url:     "smtp://alice:pw@127.0.0.1:%d?tls=required",
			errText: "mail: smtp starttls: tls: failed to verify certificate: x509: certificate signed by unknown authority",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &backend{user: "alice", pass: "pw"}
			s := mustParseURL(t, fmt.Sprintf(tt.url, startServer(t, b, tt.opts)))
			err := s.Send(context.Background(), &Message{From: "a@example.com", To: "bob@example.com", Subject: "tls", Text: "secret"})
			if tt.errText != "" {
				if err == nil || err.Error() != tt.errText {
					t.Fatalf("error = %v, want %q", err, tt.errText)
				}
				if IsPermanent(err) {
					t.Error("TLS failure classified permanent")
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := b.messages()
			if len(got) != 1 || got[0].TLS != tt.wantTLS || got[0].User != "alice" {
				t.Fatalf("received %+v, want TLS=%v user alice", got, tt.wantTLS)
			}
		})
	}
}

func TestSendNetworkErrors(t *testing.T) {
	// A server that accepts connections but never greets.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	// A port with nothing listening.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	tests := []struct {
		name    string
		url     string
		ctx     func() (context.Context, context.CancelFunc)
		op      string
		ctxErr  error
		timeout bool
	}{
		{
			name: "ctx deadline while waiting for greeting",
			url:  fmt.Sprintf("smtp://127.0.0.1:%d", silent.Addr().(*net.TCPAddr).Port),
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			op: "greeting", ctxErr: context.DeadlineExceeded,
		},
		{
			name: "url timeout while waiting for greeting",
			url:  fmt.Sprintf("smtp://127.0.0.1:%d?timeout=200ms", silent.Addr().(*net.TCPAddr).Port),
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			op:   "greeting", ctxErr: context.DeadlineExceeded,
		},
		{
			name: "connection refused",
			url:  fmt.Sprintf("smtp://127.0.0.1:%d", closedPort),
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			op:   "dial",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			err := mustParseURL(t, tt.url).Send(ctx, &Message{From: "a@example.com", To: "b@example.com"})
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("Send took %v", el)
			}
			var se *SendError
			if !errors.As(err, &se) || se.Op != tt.op || se.Code != 0 {
				t.Fatalf("error = %#v (%v), want SendError Op %q", err, err, tt.op)
			}
			if tt.ctxErr != nil && !errors.Is(err, tt.ctxErr) {
				t.Errorf("error %v is not %v", err, tt.ctxErr)
			}
			if IsPermanent(err) {
				t.Error("network error classified permanent")
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		want SMTP
	}{
		{"smtp://user:pass@mail.example.com:587", SMTP{Host: "mail.example.com", Port: 587, Username: "user", password: "pass", TLS: TLSOpportunistic}},
		{"smtp://mail.example.com", SMTP{Host: "mail.example.com", Port: 25}},
		{"smtp://mail.example.com:587/?tls=required", SMTP{Host: "mail.example.com", Port: 587, TLS: TLSRequired}},
		{"smtp://mail.example.com:587?tls=opportunistic", SMTP{Host: "mail.example.com", Port: 587, TLS: TLSOpportunistic}},
		{"smtps://u%40x.com:p%3Aw%2F@smtp.example.com", SMTP{Host: "smtp.example.com", Port: 465, Username: "u@x.com", password: "p:w/", TLS: TLSImplicit}},
		{"smtps://smtp.example.com:2465", SMTP{Host: "smtp.example.com", Port: 2465, TLS: TLSImplicit}},
		{"smtp://localhost:25?tls=none", SMTP{Host: "localhost", Port: 25, TLS: TLSNone}},
		{"smtp://[::1]:1025?tls=none&from=noreply@example.com", SMTP{Host: "::1", Port: 1025, TLS: TLSNone, From: "noreply@example.com"}},
		{
			"smtp://127.0.0.1:2525?from=Shop+%3Cshop%40example.com%3E&insecure_skip_verify=true&helo=mx.example.com&timeout=5s",
			SMTP{Host: "127.0.0.1", Port: 2525, From: "Shop <shop@example.com>", InsecureSkipVerify: true, LocalName: "mx.example.com", Timeout: 5 * time.Second},
		},
	}
	for _, tt := range good {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if *got != tt.want {
				t.Errorf("got %#v\nwant %#v", *got, tt.want)
			}
		})
	}

	bad := []struct{ url, err string }{
		{"http://mail.example.com", `mail: parse SMTP URL http://mail.example.com: scheme "http" is not smtp or smtps`},
		{"mail.example.com:25", `mail: parse SMTP URL mail.example.com:25: scheme "mail.example.com" is not smtp or smtps`},
		{"smtp:mail.example.com", `mail: parse SMTP URL smtp:mail.example.com: missing // after scheme`},
		{"smtp://", `mail: parse SMTP URL smtp:: missing host`},
		{"smtp://:25", `mail: parse SMTP URL smtp://:25: missing host`},
		{"smtp://user:s3cret@host:abc", `mail: parse SMTP URL: invalid port ":abc" after host`},
		{"smtp://user:s3cret@host:0", `mail: parse SMTP URL smtp://user:xxxxx@host:0: invalid port "0"`},
		{"smtp://user:s3cret@host:70000", `mail: parse SMTP URL smtp://user:xxxxx@host:70000: invalid port "70000"`},
		{"smtp://host/path", `mail: parse SMTP URL smtp://host/path: unexpected path "/path"`},
		{"smtp://host#frag", `mail: parse SMTP URL smtp://host#frag: unexpected fragment`},
		{"smtp://user@host", `mail: parse SMTP URL smtp://user@host: username without password`},
		{"smtp://:s3cret@host", `mail: parse SMTP URL smtp://:xxxxx@host: password without username`},
		{"smtp://host?tls=yes", `mail: parse SMTP URL smtp://host?tls=yes: tls="yes": want opportunistic, required or none`},
		{"smtps://host?tls=none", `mail: parse SMTP URL smtps://host?tls=none: tls parameter is not allowed with smtps (always TLS)`},
		{"smtp://host?from=not-an-address", `mail: parse SMTP URL smtp://host?from=not-an-address: from="not-an-address": invalid address`},
		{"smtp://host?insecure_skip_verify=maybe", `mail: parse SMTP URL smtp://host?insecure_skip_verify=maybe: insecure_skip_verify="maybe": want true or false`},
		{"smtp://host?timeout=-1s", `mail: parse SMTP URL smtp://host?timeout=-1s: timeout="-1s": want a positive duration like 10s`},
		{"smtp://host?helo=", `mail: parse SMTP URL smtp://host?helo=: helo="": invalid host name`},
		{"smtp://host?tls=none&tls=required", `mail: parse SMTP URL smtp://host?tls=none&tls=required: parameter "tls" given 2 times`},
		{"smtp://host?port=25", `mail: parse SMTP URL smtp://host?port=25: unknown parameter "port"`},
		{"smtp://host?a=%zz", `mail: parse SMTP URL smtp://host?a=%zz: invalid query: invalid URL escape "%zz"`},
	}
	for _, tt := range bad {
		t.Run(tt.url, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error = %v\nwant    %s", err, tt.err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks password")
			}
		})
	}
}

func TestSMTPStringRedactsPassword(t *testing.T) {
	s := mustParseURL(t, "smtp://user:s3cret@mail.example.com:587?tls=required&from=noreply%40example.com")
	const want = "smtp://user:REDACTED@mail.example.com:587?from=noreply%40example.com&tls=required"
	if got := s.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, s); strings.Contains(out, "s3cret") {
			t.Errorf("Sprintf(%q) leaks password: %s", f, out)
		}
	}
	if got := mustParseURL(t, "smtps://h").String(); got != "smtps://h:465" {
		t.Errorf("String() = %q", got)
	}
}
