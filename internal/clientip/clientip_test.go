package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestAddr(t *testing.T) {
	t.Parallel()
	r, err := Parse("10.0.0.0/8, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	none, _ := Parse("")
	cases := []struct {
		name   string
		res    *Resolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxy trusted: header ignored", none, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer: header ignored", r, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted peer, one hop", r, "10.1.2.3:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"spoofed left entries are skipped", r, "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies", r, "10.1.2.3:80", []string{"198.51.100.9, 192.0.2.7", "10.9.9.9"}, "198.51.100.9"},
		{"trusted peer without header", r, "10.1.2.3:80", nil, "10.1.2.3"},
		{"garbage entry stops the walk", r, "10.1.2.3:80", []string{"198.51.100.9, junk"}, "10.1.2.3"},
		{"IPv6 peer", r, "[2001:db8::1]:443", []string{"1.2.3.4"}, "2001:db8::1"},
		{"IPv4-mapped trusted peer", r, "[::ffff:10.0.0.1]:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"nil resolver", nil, "203.0.113.5:1", []string{"1.2.3.4"}, "203.0.113.5"},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		for _, h := range c.xff {
			req.Header.Add("X-Forwarded-For", h)
		}
		if got := c.res.String(req); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestParseRefusesJunk(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/x"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}
