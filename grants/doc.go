// Package grants is grantd's OAuth 2.0 engine: it obtains tokens for
// datasources, keeps them fresh and puts them on outgoing requests.
//
// # Grants
//
// A Grant obtains tokens for one grant type and registers itself in an init
// function: client_credentials (RFC 6749 §4.4), authorization_code (§4.1,
// with PKCE, RFC 7636), jwt_bearer (RFC 7523 §2.1: an assertion signed
// with the datasource's key, Google service accounts) and token_exchange
// (RFC 8693) ship; password or device_code would be one file each. Token
// requests go through golang.org/x/oauth2, which checks the status, parses
// §5.2 error bodies into *oauth2.RetrieveError and accepts JSON or
// form-encoded answers. JWTs are signed with go-jose, live five minutes
// and carry a random jti.
//
// token_exchange is OnDemand: its tokens belong to whoever brings the
// subject token (Target.WithSubjectToken), so they are kept in memory
// only, keyed by the datasource and a SHA-256 of the subject token, never
// past the subject token's own exp, and never stored or logged.
//
// # Client authentication
//
// "basic" is §2.3.1 (form-encode, then Base64), "body" sends client_id and
// client_secret as form fields. "auto" takes the provider's metadata
// (RFC 8414 / OIDC discovery, token_endpoint_auth_methods_supported) as a
// first guess and otherwise starts with Basic; a refused repeatable request
// (client credentials, refresh) tries the other style once and remembers
// what worked, whatever the metadata listed. A single-use authorization
// code is never spent twice: a refused exchange makes the next
// authorization use the other style.
//
// Without a secret: "private_key_jwt" (RFC 7523 §2.2, OpenID Connect Core
// §9) signs a client assertion with the datasource's private key, naming
// its certificate by x5t#S256 and x5t; "tls_client_auth" (RFC 8705)
// presents the certificate in the TLS handshake, from a token-endpoint
// client of the datasource's own. "auto" picks one of them when the
// metadata lists it and the datasource has the key material. Only the
// secret styles fall back to each other.
//
// # Datasources and calls
//
// The Engine owns changes to datasources (Create, Update, Delete), so a
// library user and the server do the same thing. Outgoing calls are
// authenticated in one place: Resolve a datasource, then Target.Send puts
// the token where the datasource says and, after an upstream status of
// auth.refreshOnStatus (401 unless set) for a token older than
// MinAgeForForcedRefresh, refreshes once and resends. The library's Client
// and the server's proxy both use it.
//
// # Providers and templates
//
// A datasource that names a provider is filled from the catalogue
// (package provider) when it is created or replaced; the filled values
// are stored as its own. URL templates are filled where they are used:
// the token and authorization endpoints for each token request, authorize
// redirect and revocation, with a connection's connectionConfig over the
// datasource's; url by Target.URL, which also fills {token.<field>} from
// the fields kept from the token answer. Token answers that nest their
// fields are mapped (auth.tokenResponse) under x/oauth2 by the token
// client's transport, so every grant and the code exchange read them the
// same way; kept fields a refresh answer omits keep their old values.
//
// # Tokens
//
// The Engine caches decrypted tokens in memory. One token request per
// datasource is in flight at a time, shared by every caller and the
// background refresher, with a generation check: a caller that saw token
// generation g refreshes only if the token is still g. A new token, and a
// rotated refresh token with it, is committed to the store before the
// access token is handed out; a response without a refresh token keeps the
// old one. Expiry comes from expires_in, else a JWT's exp, else the
// datasource's expiresInDefault: a token is never valid forever.
//
// # Background refresh
//
// A timer and a min-heap (no scan) refresh each token ahead of expiry with
// jitter, on a bounded worker pool. Failures back off exponentially with
// jitter and honour Retry-After for every token request of the datasource,
// whoever triggers it, except an explicit Refresh. invalid_grant and
// invalid_client are permanent: status needs_reauthorization or error and
// no retry loop. A still-valid token keeps being served during an outage.
// Idle refresh tokens are refreshed at least every KeepAlive.
//
// # Network safety
//
// Outgoing connections go through an outbound.Dialer that refuses
// loopback, private, link-local and metadata addresses unless allowed,
// checking the address it actually dials (no DNS rebinding). A failure
// the guard causes is grantd's own (Local): the tokens are kept and the
// request is tried again when the engine starts.
package grants
