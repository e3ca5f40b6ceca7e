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
	netip.MustParsePrefix("fec0::/10"),         // site-local (RFC 3879 deprecated it; stacks may still route it)
	netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use NAT64 (RFC 8215): local by definition
}

// Transition forms that carry an IPv4 address inside an IPv6 one: the
// IPv4 address is what the packets finally reach, so it is checked too.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: IPv4 in the last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: IPv4 in bits 16–47
	teredo    = netip.MustParsePrefix("2001::/32")    // RFC 4380: server IPv4 in bits 32–63, client IPv4 inverted in the last 32
	v4compat  = netip.MustParsePrefix("::/96")        // IPv4-compatible (RFC 4291 §2.5.5.1, deprecated)
)

// Forbidden reports whether a is an address outgoing calls may not reach
// when private networks are not allowed: loopback, private, link-local,
// multicast, unspecified, the ranges above, and any IPv6 transition
// address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) whose
// embedded IPv4 address is one of those.
func Forbidden(a netip.Addr) bool {
	a = a.Unmap()
	if forbiddenDirect(a) {
		return true
	}
	for _, v4 := range embeddedIPv4(a) {
		if forbiddenDirect(v4) {
			return true
		}
	}
	return false
}

func forbiddenDirect(a netip.Addr) bool {
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

// embeddedIPv4 returns the IPv4 addresses an IPv6 transition address
// leads to.
func embeddedIPv4(a netip.Addr) []netip.Addr {
	if !a.Is6() {
		return nil
	}
	b := a.As16()
	v4 := func(p []byte) netip.Addr { return netip.AddrFrom4([4]byte(p)) }
	switch {
	case nat64.Contains(a), v4compat.Contains(a):
		return []netip.Addr{v4(b[12:16])}
	case sixToFour.Contains(a):
		return []netip.Addr{v4(b[2:6])}
	case teredo.Contains(a):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return []netip.Addr{v4(b[4:8]), netip.AddrFrom4(client)}
	}
	return nil
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
