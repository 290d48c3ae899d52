package mail

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testDate = time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))

func TestMessageBytesExact(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{
			name: "plain",
			msg: Message{
				From: "Fulfill <noreply@example.com>", To: "bob@example.com", ReplyTo: "Support <help@example.com>",
				Subject: "Your order", Text: "Hi Bob,\nthanks!\n", MessageID: "order-42@example.com",
				Headers: map[string]string{"X-Order-ID": "42", "Auto-Submitted": "auto-generated"},
			},
			want: "From: \"Fulfill\" <noreply@example.com>\r\n" +
				"To: <bob@example.com>\r\n" +
				"Reply-To: \"Support\" <help@example.com>\r\n" +
				"Subject: Your order\r\n" +
				"Date: Sat, 14 Mar 2026 15:09:26 +0100\r\n" +
				"Message-ID: <order-42@example.com>\r\n" +
				"MIME-Version: 1.0\r\n" +
				"Auto-Submitted: auto-generated\r\n" +
				"X-Order-ID: 42\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\n" +
				"Content-Transfer-Encoding: quoted-printable\r\n" +
				"\r\n" +
				"Hi Bob,\r\nthanks!\r\n",
		},
		{
			name: "non-ASCII subject, name and body",
			msg: Message{
				From: "Jürgen <j@example.com>", To: "Zoë <zoe@example.com>",
				Subject: "Grüße", Text: "Grüße = 1", MessageID: "<x@example.com>",
			},
			want: "From: =?utf-8?q?J=C3=BCrgen?= <j@example.com>\r\n" +
				"To: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\n" +
				"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
				"Date: Sat, 14 Mar 2026 15:09:26 +0100\r\n" +
				"Message-ID: <x@example.com>\r\n" +
				"MIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\n" +
				"Content-Transfer-Encoding: quoted-printable\r\n" +
				"\r\n" +
				"Gr=C3=BC=C3=9Fe =3D 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.msg.Bytes(testDate)
			if err != nil {
				t.Fatalf("Bytes: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestMessageBytesRoundTrip(t *testing.T) {
	long := strings.Repeat("Größenänderung ", 12) + "Ende"
	tests := []struct {
		name, subject string
	}{
		{"ascii", "Hello world"},
		{"umlauts", "Bestätigung Ihrer Bestellung"},
		{"emoji and cjk", "📦 発送しました"},
		{"long folded", long},
		{"long ascii folded", strings.Repeat("word ", 30) + "end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Message{From: "a@example.com", To: "b@example.com", Subject: tt.subject, Text: "x",
				Attachments: []Attachment{{Name: "a.txt", Data: []byte("attached")}}}
			data, err := m.Bytes(testDate)
			if err != nil {
				t.Fatal(err)
			}
			hdr, p := parse(t, data)
			if p.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", p.Subject, tt.subject)
			}
			if got := hdr.Header.Get("Mime-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			if p.Text != "x" || len(p.Attachments) != 1 || string(p.Attachments[0].Data) != "attached" {
				t.Errorf("parsed = %+v", p)
			}
			for _, line := range strings.Split(string(data), "\r\n") {
				if len(line) > 78 {
					t.Errorf("line longer than 78: %q", line)
				}
			}
		})
	}
}

func TestMessageBytesGeneratesMessageID(t *testing.T) {
	m := Message{From: "Shop <shop@example.com>", To: "b@example.com"}
	data, err := m.Bytes(testDate)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := parse(t, data)
	id := hdr.Header.Get("Message-Id")
	if len(id) != len("<@example.com>")+32 || !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID = %q", id)
	}
}

func TestMessageBytesInvalid(t *testing.T) {
	ok := Message{From: "a@example.com", To: "b@example.com", Subject: "s", Text: "t"}
	tests := []struct {
		name string
		edit func(m *Message)
		err  string
	}{
		{"subject CRLF", func(m *Message) { m.Subject = "hi\r\nBcc: victim@example.com" }, "Subject contains CR or LF"},
		{"subject LF", func(m *Message) { m.Subject = "hi\nBcc: victim@example.com" }, "Subject contains CR or LF"},
		{"subject CR", func(m *Message) { m.Subject = "hi\rBcc: victim@example.com" }, "Subject contains CR or LF"},
		{"to injection", func(m *Message) { m.To = "b@example.com\r\nBcc: victim@example.com" }, "To contains CR or LF"},
		{"from injection", func(m *Message) { m.From = "a@example.com\nBcc: victim@example.com" }, "From contains CR or LF"},
		{"reply-to injection", func(m *Message) { m.ReplyTo = "r@example.com\r\nBcc: v@example.com" }, "Reply-To contains CR or LF"},
		{"message-id injection", func(m *Message) { m.MessageID = "<x@y>\r\nBcc: v@example.com" }, "Message-ID contains CR or LF"},
		{"extra header value", func(m *Message) { m.Headers = map[string]string{"X-Tag": "a\r\nBcc: v@example.com"} }, "header X-Tag contains CR or LF"},
		{"extra header name", func(m *Message) { m.Headers = map[string]string{"X-Tag\r\nBcc": "v"} }, `header name "X-Tag\r\nBcc" is invalid`},
		{"extra header name colon", func(m *Message) { m.Headers = map[string]string{"X:Y": "v"} }, `header name "X:Y" is invalid`},
		{"extra header reserved", func(m *Message) { m.Headers = map[string]string{"bcc": "v@example.com"} }, `header "bcc" is set by the message and cannot be overridden`},
		{"extra header duplicate", func(m *Message) { m.Headers = map[string]string{"X-A": "1", "x-a": "2"} }, `header "X-A" given twice (names are case-insensitive)`},
		{"attachment name injection", func(m *Message) { m.Attachments = []Attachment{{Name: "a.txt\r\nX: y"}} }, "attachment 0 name contains CR or LF"},
		{"attachment name empty", func(m *Message) { m.Attachments = []Attachment{{Name: ""}} }, "attachment 0 name is empty"},
		{"attachment content type", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentType: "text/plain; ="}} }, `attachment 0 content type "text/plain; =": mime: invalid media parameter`},
		{"attachment content type injection", func(m *Message) {
			m.Attachments = []Attachment{{Name: "a", ContentType: "text/plain\r\nX: y"}}
		}, "attachment 0 content type contains CR or LF"},
		{"bad from", func(m *Message) { m.From = "not an address" }, `From address "not an address": mail: no angle-addr`},
		{"empty to", func(m *Message) { m.To = "" }, "To address is empty"},
		{"two recipients", func(m *Message) { m.To = "a@example.com, b@example.com" }, `To address "a@example.com, b@example.com": mail: expected single address, got ", b@example.com"`},
		{"bad reply-to", func(m *Message) { m.ReplyTo = "@@" }, `Reply-To address "@@": mail: missing word in phrase: mail: invalid string`},
		{"bad message-id", func(m *Message) { m.MessageID = "no-at-sign" }, `Message-ID "no-at-sign" is not of the form <left@right>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.edit(&m)
			_, err := m.Bytes(testDate)
			if err == nil {
				t.Fatal("Bytes succeeded, want error")
			}
			if !errors.Is(err, ErrInvalidMessage) || !IsPermanent(err) {
				t.Errorf("error %v: want ErrInvalidMessage, permanent", err)
			}
			want := "mail: invalid message: " + tt.err
			if got := err.Error(); got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
		})
	}
}
