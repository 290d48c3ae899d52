package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/store"
)

// Issue 9, item 1: `serve` beyond loopback refuses to start without
// --public-url, with one line, before it opens the database or listens.
func TestServeBeyondLoopbackNeedsPublicURL(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		dir := filepath.Join(t.TempDir(), "data")
		// A server that starts anyway serves until the context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := Main(ctx, []string{"serve", "--data-dir", dir, "--addr", addr}, io.Discard, io.Discard, env(nil))
		cancel()
		if err == nil {
			t.Fatalf("--addr %s without --public-url: serve started", addr)
		}
		if msg := err.Error(); !strings.Contains(msg, "--public-url is required") || strings.Contains(msg, "\n") {
			t.Errorf("--addr %s: error %q, want one line asking for --public-url", addr, msg)
		}
		if exitCode(err) == 0 {
			t.Errorf("--addr %s: exit code 0", addr)
		}
		if _, err := os.Stat(filepath.Join(dir, "fulfill.db")); err == nil {
			t.Errorf("--addr %s: a database was created before refusing", addr)
		}
	}
}

// --public-url is an absolute http(s) URL of a host with at most a path
// prefix; a trailing slash is dropped.
func TestPublicURLValidation(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"https://billing.example.com":           "https://billing.example.com",
		"https://billing.example.com/":          "https://billing.example.com",
		"https://example.com/billing/":          "https://example.com/billing",
		"http://127.0.0.1:8080":                 "http://127.0.0.1:8080",
		"HTTPS://Billing.Example.com:8443/shop": "https://Billing.Example.com:8443/shop",
	}
	for raw, want := range good {
		got, err := parsePublicURL(raw)
		if err != nil || got != want {
			t.Errorf("parsePublicURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"billing.example.com", "ftp://example.com", "https://", "https:///path", "https://user:pw@example.com",
		"https://example.com/?a=1", "https://example.com/?", "https://example.com/#top", "mailto:a@example.com", "https://example.com:99999", "//example.com"} {
		if got, err := parsePublicURL(raw); err == nil {
			t.Errorf("parsePublicURL(%q) = %q, want an error", raw, got)
		}
	}
	if err := checkPublicURL("", "127.0.0.1:8080"); err != nil {
		t.Errorf("loopback without --public-url: %v", err)
	}
	if err := checkPublicURL("", "localhost:8080"); err != nil {
		t.Errorf("localhost without --public-url: %v", err)
	}
	if err := checkPublicURL("", "192.0.2.1:8080"); err == nil {
		t.Error("a public address without --public-url was accepted")
	}
	// On loopback the default is the address actually listened on (port 0
	// resolved), which commerce's mails (dunning) use as well.
	if got, err := resolvePublicURL("", "127.0.0.1:43567"); err != nil || got != "http://127.0.0.1:43567" {
		t.Errorf("resolvePublicURL on loopback = %q, %v", got, err)
	}
	if got, err := resolvePublicURL("https://billing.example.com/", "127.0.0.1:43567"); err != nil || got != "https://billing.example.com" {
		t.Errorf("resolvePublicURL with --public-url = %q, %v", got, err)
	}
}

// ---- a real SMTP server (github.com/emersion/go-smtp) ----

type smtpInbox struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (b *smtpInbox) NewSession(*smtpd.Conn) (smtpd.Session, error) { return &smtpSession{b: b}, nil }

func (b *smtpInbox) messages() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.msgs...)
}

type smtpSession struct{ b *smtpInbox }

func (s *smtpSession) Mail(string, *smtpd.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *smtpd.RcptOptions) error { return nil }
func (s *smtpSession) Reset()                                {}
func (s *smtpSession) Logout() error                         { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, b)
	s.b.mu.Unlock()
	return nil
}

// startSMTP runs an SMTP server on loopback and returns its smtp:// URL.
func startSMTP(t *testing.T) (*smtpInbox, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &smtpInbox{}
	srv := smtpd.NewServer(in)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return in, "smtp://" + l.Addr().String() + "?tls=none"
}

// mailText is the decoded text of a single-part message.
func mailText(t *testing.T, raw []byte) (subject, text string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get("Subject"), string(b)
}

// column is one column of one table.
type column struct{ table, name, typ string }

// allColumns lists every column of every table, River's included.
func allColumns(t *testing.T, db *store.DB) []column {
	t.Helper()
	var q string
	if db.Dialect == store.Postgres {
		q = `SELECT table_name, column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
	} else {
		q = `SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' ORDER BY m.name, p.cid`
	}
	rows, err := db.Read.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

// findInDB returns "table.column" for every column of every table holding
// secret anywhere in its text (bytes included).
func findInDB(t *testing.T, db *store.DB, secret string) []string {
	t.Helper()
	cols := allColumns(t, db)
	tables := map[string]bool{}
	for _, c := range cols {
		tables[c.table] = true
	}
	for _, want := range []string{"emails", "idempotency_keys", "events", "audit_log", "river_job", "web_sessions", "web_tokens", "webhook_deliveries"} {
		if !tables[want] {
			t.Fatalf("table %s not enumerated; tables: %v", want, tables)
		}
	}
	var found []string
	for _, c := range cols {
		var q string
		switch {
		case db.Dialect == store.SQLite:
			q = fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE instr(CAST(%q AS TEXT), $1) > 0 OR instr(CAST(%q AS BLOB), CAST($1 AS BLOB)) > 0`, c.table, c.name, c.name)
		case c.typ == "bytea":
			q = fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE position(convert_to($1, 'UTF8') in %q) > 0`, c.table, c.name)
		default:
			q = fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE strpos(%q::text, $1) > 0`, c.table, c.name)
		}
		var n int
		if err := db.Read.QueryRow(q, secret).Scan(&n); err != nil {
			t.Fatalf("search %s.%s: %v", c.table, c.name, err)
		}
		if n > 0 {
			found = append(found, c.table+"."+c.name)
		}
	}
	if len(cols) < 100 {
		t.Fatalf("only %d columns enumerated", len(cols))
	}
	return found
}

var linkRE = regexp.MustCompile(`(https?://\S+?)(/[a-z/]+)\?token=([A-Za-z0-9_-]+)`)

// Issue 9, acceptance 2: with a real SMTP server, the one-time tokens that
// reached it (sign-up confirmation, sign-in link) are in no column of any
// table once the mails are sent; the activation code of a purchase answer,
// once its jobs have run, is in no column either, yet a retry with the same
// Idempotency-Key gets the same answer, code included.
func TestNoOneTimeSecretAtRest(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dbURL string) {
		inbox, smtpURL := startSMTP(t)
		s := startServer(t, dbURL, "--smtp-url", smtpURL)
		openURL := dbURL
		if !strings.HasPrefix(dbURL, "postgres") {
			openURL = filepath.Join(s.dataDir, "fulfill.db")
		}
		db, err := store.Open(context.Background(), openURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })

		// (a) Sign up and ask for a sign-in link.
		const addr = "ann@example.com"
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(path string, form url.Values) int {
			t.Helper()
			res, err := noRedirect.PostForm(s.addr+path, form)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		if st := post("/signup", url.Values{"name": {"Ann Buyer"}, "email": {addr}, "password": {"correct horse battery staple"}}); st != 200 {
			t.Fatalf("sign-up: %d", st)
		}
		if st := post("/signin/link/request", url.Values{"email": {addr}}); st != 200 {
			t.Fatalf("sign-in link request: %d", st)
		}
		waitFor(t, "two mails at the SMTP server", time.Minute, func() bool { return len(inbox.messages()) >= 2 })
		tokens := map[string]string{} // path -> token
		for _, raw := range inbox.messages() {
			subject, text := mailText(t, raw)
			m := linkRE.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("mail %q has no link:\n%s", subject, text)
			}
			if m[1] != s.addr {
				t.Errorf("mail %q links to %s, want the server's own address %s", subject, m[1], s.addr)
			}
			tokens[m[2]] = m[3]
		}
		if tokens["/confirm"] == "" || tokens["/signin/link"] == "" {
			t.Fatalf("tokens %v, want a confirmation and a sign-in token", tokens)
		}
		waitFor(t, "the auth mails marked sent", time.Minute, func() bool {
			var n int
			if err := db.Read.QueryRow(`SELECT COUNT(*) FROM emails WHERE kind LIKE 'auth.%' AND status = 'sent'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 2
		})
		for path, tok := range tokens {
			if where := findInDB(t, db, tok); len(where) > 0 {
				t.Errorf("the %s token that reached the SMTP server is stored in plain text in %v", path, where)
			}
		}
		// The token was real: it signs in.
		if st := post("/signin/link", url.Values{"token": {tokens["/signin/link"]}}); st != http.StatusSeeOther {
			t.Errorf("signing in with the mailed link: %d, want 303", st)
		}

		// (b) A purchase with an Idempotency-Key.
		var cust struct{ ID string }
		if st := s.call("POST", "/api/v1/customers", map[string]any{"email": "buyer@example.com", "name": "Bo Buyer",
			"company": "Example Inc", "country": "US"}, &cust); st != 201 {
			t.Fatalf("create customer: %d", st)
		}
		const idemKey = "7d1e0b7c-5f0a-4d4e-9a51-2f7f3d0c9b11"
		purchase := func() (int, []byte) {
			t.Helper()
			b, _ := json.Marshal(map[string]any{"customer_id": cust.ID, "plan": "sm-premium", "seats": 5, "payment_method": "pm_card_visa"})
			req, _ := http.NewRequest("POST", s.addr+"/api/v1/subscriptions", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+e2eToken)
			req.Header.Set("Idempotency-Key", idemKey)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, body
		}
		st, first := purchase()
		var ans struct {
			ActivationCode string `json:"activation_code"`
		}
		if err := json.Unmarshal(first, &ans); st != 201 || err != nil || len(ans.ActivationCode) != 24 {
			t.Fatalf("purchase: %d %s", st, first)
		}
		waitFor(t, "the purchase's jobs to run", time.Minute, func() bool {
			var pending, unsent int
			if err := db.Read.QueryRow(`SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')`).Scan(&pending); err != nil {
				t.Fatal(err)
			}
			if err := db.Read.QueryRow(`SELECT COUNT(*) FROM emails WHERE status <> 'sent'`).Scan(&unsent); err != nil {
				t.Fatal(err)
			}
			return pending == 0 && unsent == 0
		})
		for _, secret := range []string{ans.ActivationCode, idemKey} {
			if where := findInDB(t, db, secret); len(where) > 0 {
				t.Errorf("%q from the purchase is stored in plain text in %v", secret, where)
			}
		}
		st, again := purchase()
		if st != 201 || !bytes.Equal(again, first) {
			t.Fatalf("retry with the same Idempotency-Key: %d\n%s\nwant the first answer:\n%s", st, again, first)
		}
	})
}
