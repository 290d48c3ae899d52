package integrations

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/fulfillhq/fulfill"
)

// Webhook targets are chosen by whoever registers an endpoint, so the
// server must not be made to call what only it can reach: link-local
// addresses, where clouds serve instance metadata and credentials. They are
// refused at registration (a literal address, or a host that resolves to
// one) and again when a request dials, on the address actually connected
// to, so a name that resolves elsewhere at registration and to a refused
// address later (DNS rebinding) is refused too. Loopback and private
// addresses stay allowed: local receivers and tests use them, and the
// operator, not a customer, registers endpoints.

// ErrRefusedAddress says a request would have gone to a link-local or
// cloud-metadata address.
var ErrRefusedAddress = errors.New("link-local and cloud-metadata addresses are never webhook or provisioning targets")

var (
	linkLocal4 = netip.MustParsePrefix("169.254.0.0/16")
	linkLocal6 = netip.MustParsePrefix("fe80::/10")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	// metadataAddrs are cloud metadata services outside the link-local
	// ranges: AWS over IPv6, Alibaba Cloud.
	metadataAddrs = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}
)

// RefusedIP reports whether ip is a link-local or cloud-metadata address,
// also written as an IPv4-mapped or NAT64 IPv6 address.
func RefusedIP(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return true
		}
	}
	return linkLocal4.Contains(ip) || linkLocal6.Contains(ip)
}

// Resolver looks up the addresses of a host; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

func (s *Service) resolver() Resolver {
	if s.Resolver != nil {
		return s.Resolver
	}
	return net.DefaultResolver
}

// registrationLookupTimeout bounds the DNS lookup of a new endpoint's host.
const registrationLookupTimeout = 3 * time.Second

// checkTarget refuses a URL whose host is, or resolves to, a refused
// address. A host that does not resolve now is accepted: it may exist by
// the first delivery, and the dialer checks again then.
func (s *Service) checkTarget(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fulfill.FieldError(fulfill.EInvalid, "url", "url must be an absolute http:// or https:// URL.")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if RefusedIP(ip) {
			return refusedURL(ip)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, registrationLookupTimeout)
	defer cancel()
	ips, err := s.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if RefusedIP(ip) {
			return refusedURL(ip)
		}
	}
	return nil
}

func refusedURL(ip netip.Addr) error {
	return fulfill.FieldError(fulfill.EInvalid, "url",
		"url must not point at %s: link-local and cloud-metadata addresses are never webhook targets.", ip)
}

// guardedClient is an HTTP client that dials only allowed addresses, uses
// no proxy (the dialer must see the real target) and follows no redirects.
func guardedClient(r Resolver) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         guardedDialer(r),
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// defaultClient serves every Service without its own client or resolver,
// so connections are reused across deliveries.
var defaultClient = guardedClient(net.DefaultResolver)

// guardedDialer resolves the host itself and refuses it if any address is
// refused; the dialer's Control checks the address of the socket again,
// whatever resolved it.
func guardedDialer(r Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: refuseControl}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if ips, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if RefusedIP(ip) {
				return nil, fmt.Errorf("%s resolves to %s: %w", host, ip, ErrRefusedAddress)
			}
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
		return nil, errors.Join(errs...)
	}
}

// refuseControl runs before each socket connects, on the numeric address.
func refuseControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, ErrRefusedAddress)
	}
	if RefusedIP(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", ap.Addr(), ErrRefusedAddress)
	}
	return nil
}
