// Package outbound is grantd's policy for connections it opens to the
// outside — token endpoints, datasource upstreams, webhook receivers:
//
//   - the dial guard (Dialer): loopback, private, link-local, metadata and
//     other internal addresses are refused unless allowed, checked on the
//     address actually dialled so DNS rebinding cannot slip through;
//   - TLS configuration trusting a datasource's own CA bundle in addition
//     to the system roots (TLSConfig);
//   - one cache of clients per CA bundle (Cache), so connections are
//     reused across calls.
//   - what a forwarded request may carry: a path that stays inside the
//     datasource's base URL (JoinPath) and none of the caller's
//     credentials, hop-by-hop or grantd's own headers (DropRequestHeader).
//
// grants (token requests), api's proxy, mcp and webhook all dial through it, so
// the rules are one set. It imports nothing of grantd's.
package outbound
