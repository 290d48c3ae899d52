// Package mail builds RFC 5322 email messages and sends them over SMTP.
//
// Messages are built with [Message.Bytes] and delivered by a [Sender]; the
// [SMTP] sender is configured from a URL with [ParseURL]. Delivery errors are
// classified with [IsPermanent] so that a retrying job can give up on
// failures that will never succeed (5xx replies, invalid messages).
package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"sort"
	"strings"
	"time"
)

// ErrInvalidMessage is wrapped by every error caused by a message that
// cannot be built (bad address, header injection, …). Such errors are
// permanent: retrying cannot fix them.
var ErrInvalidMessage = errors.New("mail: invalid message")

// Message is an email with a plain-text body and optional attachments.
type Message struct {
	// From is the author address, e.g. "Fulfill <noreply@example.com>".
	// When empty, [SMTP.Send] uses the sender's default From.
	From string
	// To is the single recipient address.
	To string
	// ReplyTo is an optional Reply-To address.
	ReplyTo string
	// Subject is the subject line; non-ASCII text is RFC 2047 encoded.
	Subject string
	// Text is the UTF-8 plain-text body. Line endings are sent as CRLF.
	Text string
	// HTML is an optional HTML version of Text: the two are then sent as
	// the parts of a multipart/alternative body, the plain text first.
	HTML string
	// Attachments are appended as base64 parts of a multipart/mixed body.
	Attachments []Attachment
	// MessageID is the Message-ID, with or without angle brackets. When
	// empty a random one is generated in the domain of From.
	MessageID string
	// Headers are extra header fields (e.g. "X-Job-ID"). They may not
	// replace the fields set by Bytes.
	Headers map[string]string
}

// Attachment is a file attached to a [Message].
type Attachment struct {
	// Name is the file name offered to the recipient.
	Name string
	// ContentType is the MIME type; "application/octet-stream" if empty.
	ContentType string
	// Data is the file content.
	Data []byte
}

// reservedHeaders are set by Bytes and may not appear in Message.Headers.
var reservedHeaders = map[string]bool{
	"From": true, "To": true, "Reply-To": true, "Subject": true, "Date": true,
	"Message-Id": true, "Mime-Version": true, "Content-Type": true,
	"Content-Transfer-Encoding": true, "Content-Disposition": true,
	"Cc": true, "Bcc": true, "Sender": true,
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMessage}, args...)...)
}

// checkValue rejects header values that would allow header injection.
func checkValue(field, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return invalid("%s contains CR or LF", field)
	}
	return nil
}

// parseAddress validates a single address for the named field.
func parseAddress(field, v string) (*mail.Address, error) {
	if err := checkValue(field, v); err != nil {
		return nil, err
	}
	if strings.TrimSpace(v) == "" {
		return nil, invalid("%s address is empty", field)
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		return nil, invalid("%s address %q: %v", field, v, err)
	}
	return a, nil
}

// envelope returns the bare sender and recipient addresses of m.
func (m *Message) envelope() (from, to string, err error) {
	f, err := parseAddress("From", m.From)
	if err != nil {
		return "", "", err
	}
	t, err := parseAddress("To", m.To)
	if err != nil {
		return "", "", err
	}
	return f.Address, t.Address, nil
}

// Bytes renders m as an RFC 5322 message dated date (the current time if
// date is zero). It returns an error wrapping [ErrInvalidMessage] for an
// invalid address, a CR or LF in any header value, or a bad extra header.
func (m *Message) Bytes(date time.Time) ([]byte, error) {
	from, err := parseAddress("From", m.From)
	if err != nil {
		return nil, err
	}
	to, err := parseAddress("To", m.To)
	if err != nil {
		return nil, err
	}
	var replyTo *mail.Address
	if m.ReplyTo != "" {
		if replyTo, err = parseAddress("Reply-To", m.ReplyTo); err != nil {
			return nil, err
		}
	}
	if err := checkValue("Subject", m.Subject); err != nil {
		return nil, err
	}
	msgID, err := m.messageID(from.Address)
	if err != nil {
		return nil, err
	}
	extra, err := m.extraHeaders()
	if err != nil {
		return nil, err
	}
	for i, a := range m.Attachments {
		if err := a.check(i); err != nil {
			return nil, err
		}
	}
	if date.IsZero() {
		date = time.Now()
	}

	var b bytes.Buffer
	writeHeader(&b, "From", from.String())
	writeHeader(&b, "To", to.String())
	if replyTo != nil {
		writeHeader(&b, "Reply-To", replyTo.String())
	}
	writeHeader(&b, "Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	writeHeader(&b, "Date", date.Format(time.RFC1123Z))
	writeHeader(&b, "Message-ID", msgID)
	writeHeader(&b, "MIME-Version", "1.0")
	for _, h := range extra {
		writeHeader(&b, h[0], h[1])
	}

	if len(m.Attachments) == 0 && m.HTML != "" {
		aw := multipart.NewWriter(&b)
		writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": aw.Boundary()}))
		b.WriteString("\r\n")
		if err := m.writeAlternatives(aw); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	if len(m.Attachments) == 0 {
		writeHeader(&b, "Content-Type", "text/plain; charset=utf-8")
		writeHeader(&b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	mw := multipart.NewWriter(&b)
	writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	if m.HTML != "" {
		aw := multipart.NewWriter(nil)
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": aw.Boundary()})}})
		if err != nil {
			return nil, err
		}
		inner := multipart.NewWriter(pw)
		if err := inner.SetBoundary(aw.Boundary()); err != nil {
			return nil, err
		}
		if err := m.writeAlternatives(inner); err != nil {
			return nil, err
		}
	} else {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {"text/plain; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(pw, m.Text); err != nil {
			return nil, err
		}
	}
	for _, a := range m.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {ct},
			"Content-Transfer-Encoding": {"base64"},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
		})
		if err != nil {
			return nil, err
		}
		writeBase64(pw, a.Data)
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeAlternatives writes the plain text and the HTML version as the
// parts of a multipart/alternative body, and closes it.
func (m *Message) writeAlternatives(aw *multipart.Writer) error {
	for _, p := range []struct{ ct, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		pw, err := aw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ct}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return err
		}
		if err := writeQP(pw, p.body); err != nil {
			return err
		}
	}
	return aw.Close()
}

func (a *Attachment) check(i int) error {
	field := fmt.Sprintf("attachment %d name", i)
	if err := checkValue(field, a.Name); err != nil {
		return err
	}
	if a.Name == "" {
		return invalid("%s is empty", field)
	}
	if err := checkValue(fmt.Sprintf("attachment %d content type", i), a.ContentType); err != nil {
		return err
	}
	if a.ContentType != "" {
		if _, _, err := mime.ParseMediaType(a.ContentType); err != nil {
			return invalid("attachment %d content type %q: %v", i, a.ContentType, err)
		}
	}
	return nil
}

// messageID returns m.MessageID in angle brackets, or a random one.
func (m *Message) messageID(fromAddr string) (string, error) {
	if m.MessageID == "" {
		var r [16]byte
		_, _ = rand.Read(r[:])
		domain := fromAddr[strings.LastIndexByte(fromAddr, '@')+1:]
		return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
	}
	if err := checkValue("Message-ID", m.MessageID); err != nil {
		return "", err
	}
	id := strings.TrimSuffix(strings.TrimPrefix(m.MessageID, "<"), ">")
	at := strings.IndexByte(id, '@')
	if at <= 0 || at == len(id)-1 || strings.ContainsAny(id, " \t<>") || !isASCII(id) {
		return "", invalid("Message-ID %q is not of the form <left@right>", m.MessageID)
	}
	return "<" + id + ">", nil
}

// extraHeaders validates m.Headers and returns them sorted by name.
func (m *Message) extraHeaders() ([][2]string, error) {
	out := make([][2]string, 0, len(m.Headers))
	seen := make(map[string]bool, len(m.Headers))
	for k, v := range m.Headers {
		if !validFieldName(k) {
			return nil, invalid("header name %q is invalid", k)
		}
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if reservedHeaders[ck] {
			return nil, invalid("header %q is set by the message and cannot be overridden", k)
		}
		if seen[ck] {
			return nil, invalid("header %q given twice (names are case-insensitive)", ck)
		}
		seen[ck] = true
		if err := checkValue("header "+k, v); err != nil {
			return nil, err
		}
		out = append(out, [2]string{k, mime.QEncoding.Encode("utf-8", v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, nil
}

// validFieldName reports whether k is an RFC 5322 field name.
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeHeader writes "name: value\r\n", folding at single spaces (also
// before the first word) so that lines stay within 78 characters where
// possible. RFC 2047 encoded words are at most 75 characters long.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name + ":")
	lineLen := len(name) + 1
	prevEmpty := false
	for _, w := range strings.Split(value, " ") {
		// Fold only before a non-empty word that follows a non-empty
		// word (or the colon): unfolding then restores exactly one space.
		if w != "" && !prevEmpty && lineLen+1+len(w) > 78 {
			b.WriteString("\r\n")
			lineLen = 0
		}
		b.WriteByte(' ')
		b.WriteString(w)
		lineLen += 1 + len(w)
		prevEmpty = w == ""
	}
	b.WriteString("\r\n")
}

type writer interface{ Write([]byte) (int, error) }

// writeQP writes text quoted-printable encoded with CRLF line endings.
func writeQP(w writer, text string) error {
	qw := quotedprintable.NewWriter(w)
	if _, err := qw.Write([]byte(text)); err != nil {
		return err
	}
	return qw.Close()
}

// writeBase64 writes data base64 encoded in 76-character CRLF lines.
func writeBase64(w writer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		_, _ = w.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	if enc != "" {
		_, _ = w.Write([]byte(enc + "\r\n"))
	}
}
