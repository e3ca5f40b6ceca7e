// Package datasource holds grantd's domain: a Datasource with its OAuth 2.0
// configuration, the token record the engine keeps for it, the pending
// authorization states of browser flows, and the Store interface that
// persists all three.
//
// It imports nothing of grantd and no storage, HTTP or crypto library:
// implementations of Store live in subpackages (datasource/bolt), the engine
// that uses them in package grants.
//
// # Configuration
//
// A datasource declares one grant (RFC 6749 §4.1 authorization code or §4.4
// client credentials), how the client authenticates at the token endpoint
// (§2.3.1 Basic header, form body, or auto-detected), where the access token
// goes on outgoing calls (a header with a prefix, or a query parameter) and
// which scopes it asks for. Scopes are written comma-separated, as low-code
// tools show them, and sent space-delimited as §3.3 requires; see ParseScope.
//
// # Validation
//
// Validate names every problem at once, each with the JSON path of its field
// (auth.accessTokenUrl), so an API can show errors next to their fields.
//
// # Secrets
//
// Client secrets, tokens and PKCE verifiers are of type Secret, which never
// prints or marshals its value. A Store seals them before they touch disk.
package datasource
