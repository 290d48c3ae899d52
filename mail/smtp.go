package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Sender delivers messages.
type Sender interface {
	// Send delivers m, returning an error that [IsPermanent] classifies.
	Send(ctx context.Context, m *Message) error
}

var _ Sender = (*SMTP)(nil)

// TLSMode says how an [SMTP] sender protects the connection.
type TLSMode int

const (
	// TLSOpportunistic upgrades with STARTTLS when the server offers it
	// (the default for smtp:// URLs).
	TLSOpportunistic TLSMode = iota
	// TLSRequired fails unless the server offers STARTTLS (?tls=required).
	TLSRequired
	// TLSImplicit speaks TLS from the first byte (smtps:// URLs).
	TLSImplicit
	// TLSNone never uses TLS (?tls=none); only sensible on localhost.
	TLSNone
)

// DefaultTimeout bounds a whole Send when ctx has no deadline.
const DefaultTimeout = 30 * time.Second

// SMTP sends mail through an SMTP server. Create it with [ParseURL]; the
// exported fields may be adjusted afterwards. The password is kept private
// and never appears in String or in errors.
type SMTP struct {
	// Host and Port locate the server.
	Host string
	Port int
	// Username enables AUTH PLAIN when non-empty. net/smtp only sends
	// credentials over TLS or to localhost.
	Username string
	// TLS selects STARTTLS / implicit TLS / plain.
	TLS TLSMode
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool
	// From is the default sender used when Message.From is empty.
	From string
	// LocalName is the host name sent in EHLO; "localhost" if empty.
	LocalName string
	// Timeout bounds a Send when ctx has no deadline; DefaultTimeout if 0.
	Timeout time.Duration

	password string
}

// ParseURL parses an SMTP URL:
//
//	smtp://user:pass@host:587               STARTTLS when offered (port 25 if omitted)
//	smtp://host:587?tls=required            STARTTLS mandatory
//	smtp://localhost:1025?tls=none          no TLS
//	smtps://user:pass@host:465              implicit TLS (port 465 if omitted)
//
// Query parameters: tls (opportunistic|required|none, smtp only),
// from (default sender address), helo (EHLO host name), timeout (Go
// duration), insecure_skip_verify (bool). Unknown parameters are errors.
// Errors never contain the password.
func ParseURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the raw URL, password included: drop it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("mail: parse SMTP URL: %v", err)
	}
	fail := func(format string, args ...any) (*SMTP, error) {
		return nil, fmt.Errorf("mail: parse SMTP URL %s: "+format, append([]any{u.Redacted()}, args...)...)
	}
	s := &SMTP{}
	switch u.Scheme {
	case "smtp":
		s.Port = 25
	case "smtps":
		s.Port = 465
		s.TLS = TLSImplicit
	default:
		return fail("scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return fail("missing // after scheme")
	}
	if u.Path != "" && u.Path != "/" {
		return fail("unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return fail("unexpected fragment")
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return fail("missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail("invalid port %q", p)
		}
		s.Port = n
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.password, _ = u.User.Password()
		if s.Username == "" {
			return fail("password without username")
		}
		if s.password == "" {
			return fail("username without password")
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("invalid query: %v", err)
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return fail("parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "tls":
			if s.TLS == TLSImplicit {
				return fail("tls parameter is not allowed with smtps (always TLS)")
			}
			switch v {
			case "opportunistic":
				s.TLS = TLSOpportunistic
			case "required":
				s.TLS = TLSRequired
			case "none":
				s.TLS = TLSNone
			default:
				return fail("tls=%q: want opportunistic, required or none", v)
			}
		case "from":
			if _, err := parseAddress("from", v); err != nil {
				return fail("from=%q: invalid address", v)
			}
			s.From = v
		case "helo":
			if v == "" || strings.ContainsAny(v, " \t\r\n") {
				return fail("helo=%q: invalid host name", v)
			}
			s.LocalName = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fail("timeout=%q: want a positive duration like 10s", v)
			}
			s.Timeout = d
		case "insecure_skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fail("insecure_skip_verify=%q: want true or false", v)
			}
			s.InsecureSkipVerify = b
		default:
			return fail("unknown parameter %q", k)
		}
	}
	return s, nil
}

// String returns the sender as a URL with the password redacted.
func (s *SMTP) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}
	if s.TLS == TLSImplicit {
		u.Scheme = "smtps"
	}
	if s.Username != "" {
		if s.password != "" {
			u.User = url.UserPassword(s.Username, "REDACTED")
		} else {
			u.User = url.User(s.Username)
		}
	}
	q := url.Values{}
	switch s.TLS {
	case TLSRequired:
		q.Set("tls", "required")
	case TLSNone:
		q.Set("tls", "none")
	}
	if s.From != "" {
		q.Set("from", s.From)
	}
	if s.LocalName != "" {
		q.Set("helo", s.LocalName)
	}
	if s.Timeout != 0 {
		q.Set("timeout", s.Timeout.String())
	}
	if s.InsecureSkipVerify {
		q.Set("insecure_skip_verify", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// GoString is like String so that %#v does not print the password.
func (s *SMTP) GoString() string { return "mail.SMTP(" + s.String() + ")" }

// SendError describes which step of an SMTP delivery failed.
type SendError struct {
	// Op is the failed step: "dial", "greeting", "hello", "starttls",
	// "auth", "mail from", "rcpt to", "data".
	Op string
	// Addr is the envelope address for "mail from" and "rcpt to".
	Addr string
	// Code is the server's SMTP reply code, or 0 if it gave none
	// (network failure, TLS failure, …).
	Code int
	// Err is the underlying error.
	Err error
}

// Error returns e.g. "mail: smtp rcpt to <bob@example.com>: 550 5.1.1 no such user".
func (e *SendError) Error() string {
	s := "mail: smtp " + e.Op
	if e.Addr != "" {
		s += " <" + e.Addr + ">"
	}
	if te, ok := e.Err.(*textproto.Error); ok {
		return s + ": " + strconv.Itoa(te.Code) + " " + strings.ReplaceAll(te.Msg, "\n", " ")
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// IsPermanent reports whether err will recur on retry: the server replied
// with a 5xx code, or the message itself is invalid ([ErrInvalidMessage]).
// Network errors, timeouts, TLS failures and 4xx replies are temporary.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var se *SendError
	if errors.As(err, &se) && se.Code != 0 {
		return se.Code >= 500 && se.Code < 600
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 500 && te.Code < 600
	}
	return false
}

// Send delivers m. An empty m.From is replaced by s.From (m is not
// modified). The whole exchange is bounded by ctx's deadline, or
// s.Timeout (DefaultTimeout) if ctx has none; cancelling ctx aborts it.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	msg := *m
	if msg.From == "" {
		msg.From = s.From
	}
	if msg.From == "" {
		return invalid("no From address and no default sender")
	}
	from, to, err := msg.envelope()
	if err != nil {
		return err
	}
	data, err := msg.Bytes(time.Now())
	if err != nil {
		return err
	}

	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()

	// wrap annotates a failure with its step and, if ctx ended, its cause.
	wrapAddr := func(op, addr string, err error) error {
		cerr := ctx.Err()
		if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			cerr = context.DeadlineExceeded // conn deadline fired first
		}
		if cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		se := &SendError{Op: op, Addr: addr, Err: err}
		var te *textproto.Error
		if errors.As(err, &te) {
			se.Code = te.Code
		}
		return se
	}
	wrap := func(op string, err error) error { return wrapAddr(op, "", err) }

	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	tlsConf := &tls.Config{ServerName: s.Host, InsecureSkipVerify: s.InsecureSkipVerify}
	var conn net.Conn
	if s.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return wrap("dial", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return wrap("dial", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return wrap("greeting", err)
	}
	defer c.Close()
	localName := s.LocalName
	if localName == "" {
		localName = "localhost"
	}
	if err := c.Hello(localName); err != nil {
		return wrap("hello", err)
	}
	if s.TLS == TLSOpportunistic || s.TLS == TLSRequired {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return wrap("starttls", err)
			}
		} else if s.TLS == TLSRequired {
			return wrap("starttls", errors.New("server does not offer STARTTLS and tls=required"))
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return wrap("auth", errors.New("server does not offer AUTH"))
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.password, s.Host)); err != nil {
			return wrap("auth", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return wrapAddr("mail from", from, err)
	}
	if err := c.Rcpt(to); err != nil {
		return wrapAddr("rcpt to", to, err)
	}
	w, err := c.Data()
	if err != nil {
		return wrap("data", err)
	}
	if _, err := w.Write(data); err != nil {
		return wrap("data", err)
	}
	if err := w.Close(); err != nil {
		return wrap("data", err)
	}
	// The message is accepted; a failed QUIT must not trigger a resend.
	_ = c.Quit()
	return nil
}
