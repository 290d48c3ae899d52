// Package clientip tells the address of the client behind a request. The
// peer address is the client unless the peer is one of the configured
// trusted proxies; only then is X-Forwarded-For read, from the right, and
// the first address that is not itself a trusted proxy is the client. A
// client cannot choose its address by sending the header itself.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses. The zero value trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// Parse reads a comma-separated list of CIDR prefixes or single addresses
// ("10.0.0.0/8,192.0.2.7"); an empty list trusts no proxy.
func Parse(list string) (*Resolver, error) {
	r := &Resolver{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", f)
			}
			r.trusted = append(r.trusted, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Trusted lists the trusted proxy prefixes.
func (r *Resolver) Trusted() []netip.Prefix {
	if r == nil {
		return nil
	}
	return r.trusted
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the request's peer address, or the zero Addr.
func peer(req *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Addr is the client's address: the peer, or, when the peer is a trusted
// proxy, the rightmost X-Forwarded-For entry that is not a trusted proxy.
// A malformed entry ends the walk at the last good address.
func (r *Resolver) Addr(req *http.Request) netip.Addr {
	a := peer(req)
	if !a.IsValid() || !r.isTrusted(a) {
		return a
	}
	hops := req.Header.Values("X-Forwarded-For")
	var all []string
	for _, h := range hops {
		all = append(all, strings.Split(h, ",")...)
	}
	for i := len(all) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(all[i]))
		if err != nil {
			return a
		}
		a = h.Unmap()
		if !r.isTrusted(a) {
			return a
		}
	}
	return a
}

// String is the client's address as text ("" when the peer is not an IP,
// as in some tests).
func (r *Resolver) String(req *http.Request) string {
	a := r.Addr(req)
	if !a.IsValid() {
		return req.RemoteAddr
	}
	return a.String()
}

// Handler sets each request's RemoteAddr to the client's address (without
// a port) before h sees it, when proxies are trusted; otherwise requests
// pass unchanged. Throttles, sessions and audit rows then name the client,
// never a proxy or a forged header.
func (r *Resolver) Handler(h http.Handler) http.Handler {
	if len(r.Trusted()) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req2 := *req
		req2.RemoteAddr = r.String(req)
		h.ServeHTTP(w, &req2)
	})
}
