// Package outboundtest helps test code that dials through outbound.Dialer.
package outboundtest

import (
	"context"
	"fmt"
	"net/netip"
)

// Rebinding names host names as a DNS-rebinding attacker would make them
// resolve: each to an address the dial guard must refuse.
var Rebinding = map[string]string{
	"rebind.test":   "127.0.0.1",       // loopback
	"metadata.test": "169.254.169.254", // cloud metadata
	"compat.test":   "::127.0.0.1",     // IPv4-compatible IPv6 of the loopback
	"6to4.test":     "2002:7f00:1::1",  // 6to4 of the loopback
}

// Resolver returns an outbound.Dialer LookupIP that answers hosts from
// names (host → address) and fails for any other host.
func Resolver(names map[string]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		a, ok := names[host]
		if !ok {
			return nil, fmt.Errorf("no such host %s", host)
		}
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
}
