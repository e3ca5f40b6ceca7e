package outbound

import "strings"

// hopByHop headers belong to one connection and are never forwarded
// (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// callerOnly are request headers that are about the caller's request to
// grantd, not the upstream's: its credentials for grantd, what the
// transport sets itself, and who forwarded it.
var callerOnly = []string{"Authorization", "Cookie", "Host", "Content-Length", "Expect", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"}

// DropRequestHeader reports whether a caller's request header named name
// must not go to an upstream: hop-by-hop headers, the caller's
// credentials for grantd (Authorization, Cookie), what the transport sets
// (Host, Content-Length, Expect), forwarding headers (X-Forwarded-*,
// Forwarded), and grantd's own headers (Grantd-*, X-Grantd-*), which
// configure grantd — the end user, a subject token — and are never
// forwarded. The datasource's own token is placed after this filter, so a
// caller cannot send a second one beside it. The proxy and MCP's
// call_datasource both filter with it; a header the request's Connection
// header names is the caller's to drop as well (HopByHop).
func DropRequestHeader(name string) bool {
	return HopByHop(name) || in(name, callerOnly) || hasPrefixFold(name, "Grantd-") || hasPrefixFold(name, "X-Grantd-")
}

// HopByHop reports whether name is a hop-by-hop header.
func HopByHop(name string) bool { return in(name, hopByHop) }

// HopByHopHeaders are the hop-by-hop header names (a copy).
func HopByHopHeaders() []string { return append([]string(nil), hopByHop...) }

func in(name string, list []string) bool {
	for _, l := range list {
		if strings.EqualFold(name, l) {
			return true
		}
	}
	return false
}

func hasPrefixFold(name, prefix string) bool {
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}
