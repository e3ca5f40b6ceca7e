// Package mcp serves grantd's datasources to agents over the Model
// Context Protocol (https://modelcontextprotocol.io), so that an agent can
// call every datasource it is allowed to without ever seeing a token. It
// is an adapter beside package api: it calls the engine (package grants)
// directly, never the API.
//
// # Transport
//
// Handler is a net/http handler for the streamable HTTP transport of the
// official Go SDK (github.com/modelcontextprotocol/go-sdk), stateless and
// answering application/json: every POST is one self-contained exchange,
// authenticated on its own, so any replica can answer any request and
// nothing is kept between them. Stateless is also what the SDK needs to
// speak its latest protocol revision (2026-07-28); older clients
// (2025-11-25 and before) are answered too. GET (the standalone server
// stream) answers 405: the server sends no notifications of its own.
//
// # Authentication
//
// A request carries "Authorization: Bearer" with either
//   - an API key holding the mcp permission (access.Keys): it calls the
//     datasources the key covers; the end user of a per-user datasource is
//     named by the Grantd-End-User header, which the MCP client's
//     configuration sets (never a tool argument: the model cannot choose
//     whose account it uses);
//   - or an agent session token (access.AgentSessions): it is bound to one
//     end user and a set of datasources, whatever the request says, and
//     ends when it expires or is revoked.
//
// The admin token and the UI's session cookie are not accepted.
//
// # Tools
//
//   - list_datasources: the datasources the caller may call, with their
//     description, base URL and status for this end user.
//   - call_datasource {datasource, method, path, query, headers, body}:
//     one HTTP request to the datasource, authenticated by grantd. It
//     follows the proxy's rules: the path stays inside the datasource's
//     base URL (outbound.JoinPath), no caller credential nor Grantd-*
//     header is forwarded (outbound.DropRequestHeader), outgoing
//     connections go through the dial guard, and the token is placed and,
//     after an upstream 401, refreshed once and the call retried through
//     grants.Target.Send. The answer is the status, selected headers
//     (SelectedResponseHeaders) and a text body cut at MaxText bytes with
//     "truncated": true; a body that is not text is described (content
//     type, size), not included. Redirects are answered, not followed.
//
// An end user with no usable connection to a per-user datasource gets a
// tool error (isError) carrying a fresh connectUrl: the agent asks the
// person to open it, and the same call succeeds once they have connected.
//
// # Audit and metrics
//
// Every tool call is an audit event (datasource.EventMCPToolCall) naming
// the key or session, the datasource, the end user, the method, the path
// without its query and the upstream's status — never a body, a query or
// a token — and is counted in Metrics.
package mcp
