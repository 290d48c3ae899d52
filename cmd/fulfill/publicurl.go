package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkPublicURL refuses a --public-url that is not an absolute http(s) URL
// of a host, with at most a path prefix (no user info, query or fragment),
// and a missing one when the server listens beyond loopback: emailed links
// would otherwise have no trustworthy origin.
func checkPublicURL(raw, addr string) error {
	if raw == "" {
		if !isLoopback(addr) {
			return usageError{fmt.Sprintf("--public-url is required when listening on %s (not loopback): emailed links use it, never a request's Host", addr)}
		}
		return nil
	}
	_, err := parsePublicURL(raw)
	return err
}

// resolvePublicURL returns the public URL without a trailing slash, or on
// loopback without one, http://LISTEN_ADDR.
func resolvePublicURL(raw, listenAddr string) (string, error) {
	if raw == "" {
		return "http://" + listenAddr, nil
	}
	return parsePublicURL(raw)
}

func parsePublicURL(raw string) (string, error) {
	bad := func(why string) error {
		return usageError{fmt.Sprintf("--public-url %q: %s; want an http:// or https:// URL like https://billing.example.com or https://example.com/billing", raw, why)}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", bad("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the scheme must be http or https")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", bad("no host")
	case u.User != nil:
		return "", bad("no user info allowed")
	case u.RawQuery != "" || u.ForceQuery:
		return "", bad("no query allowed")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", bad("no fragment allowed")
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return "", bad("bad port")
		}
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// isLoopback reports whether a listen address HOST:PORT only accepts
// connections from this machine. An empty host listens everywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
