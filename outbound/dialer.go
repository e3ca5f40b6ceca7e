package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ErrForbiddenAddress is returned (wrapped) when an outgoing connection
// would reach a loopback, private, link-local, metadata or otherwise
// internal address and private networks are not allowed.
var ErrForbiddenAddress = errors.New("outbound: refusing to connect to a private, loopback or link-local address")

// Dialer opens outgoing connections for token requests and the proxy. It
// resolves the host itself, refuses internal addresses unless
// AllowPrivate is set, and dials the address it checked, so a DNS answer
// that changes between check and connect (rebinding) cannot slip through.
// It is safe for concurrent use.
type Dialer struct {
	// AllowPrivate allows loopback, private and link-local addresses.
	AllowPrivate bool
	// Timeout bounds connection set-up; default 10s.
	Timeout time.Duration
	// RefusalHint tells the operator how to allow a refused address (the
	// server says "set GRANTD_ALLOW_PRIVATE_NETWORKS=true"); it is carried
	// by RefusedError into status messages.
	RefusalHint string
	// LookupIP resolves a host name; default net.DefaultResolver. Tests
	// replace it to simulate DNS answers.
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
}

// forbiddenPrefixes are ranges netip's predicates do not cover.
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),     // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),       // reserved
	netip.MustParsePrefix("fd00:ec2::254/128"), // AWS metadata over IPv6
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64 can reach IPv4 internals
}

// Forbidden reports whether a is an address outgoing calls may not reach
// when private networks are not allowed.
func Forbidden(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// RefusedError is the dial guard's refusal of an address. It matches
// ErrForbiddenAddress with errors.Is.
type RefusedError struct {
	Host string
	Addr netip.Addr
	// Hint is the Dialer's RefusalHint.
	Hint string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v: %s resolves to %s", ErrForbiddenAddress, e.Host, e.Addr)
}

// Is makes errors.Is(err, ErrForbiddenAddress) true.
func (e *RefusedError) Is(target error) bool { return target == ErrForbiddenAddress }

// DialContext connects to addr ("host:port") on network.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	var firstErr error
	for _, a := range addrs {
		if !d.AllowPrivate && Forbidden(a) {
			if firstErr == nil {
				firstErr = &RefusedError{Host: host, Addr: a, Hint: d.RefusalHint}
			}
			continue
		}
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil || errors.Is(firstErr, ErrForbiddenAddress) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("outbound: no address for %s", host)
	}
	return nil, firstErr
}

func (d *Dialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	if d.LookupIP != nil {
		return d.LookupIP(ctx, host)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	return ips, nil
}
