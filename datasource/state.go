package datasource

import "time"

// StateTTL is how long a pending authorization state stays usable.
const StateTTL = 10 * time.Minute

// State is a pending authorization-code flow, created when the authorize
// redirect is built and consumed, once, by the callback.
type State struct {
	// Key identifies the state in the store: a hash of the state parameter,
	// so the parameter itself is never stored.
	Key          string
	DatasourceID string
	// Verifier is the PKCE code verifier (RFC 7636), empty without PKCE.
	Verifier Secret
	// Binding is a hash of the browser binding cookie for flows started in a
	// browser, nil for flows started through the API.
	Binding []byte
	// ReturnTo is the relative path the callback redirects to.
	ReturnTo string
	// RedirectURI is the redirect_uri sent on the authorize redirect; the
	// code exchange must repeat it (RFC 6749 §4.1.3).
	RedirectURI string
	// Fingerprint identifies the grant configuration the flow was started
	// for; the callback refuses to store tokens if it changed meanwhile.
	Fingerprint string
	CreatedAt   time.Time
	ExpiresAt   time.Time

	// Connect is set on a connect session (created by the app backend for
	// one end user, opened by that user's browser), not yet an
	// authorization: opening it consumes it and starts one.
	Connect bool
	// EndUserID names the end user a connection is made for; empty for a
	// shared datasource.
	EndUserID string
	// EndUser and ConnectionConfig are what the app backend said of the
	// end user; the connection keeps them.
	EndUser          EndUser
	ConnectionConfig map[string]string
}

// ConnectSessionTTL bounds how long a connect link stays usable.
const ConnectSessionTTL = 30 * time.Minute

// Expired reports whether s can no longer be used at now.
func (s *State) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }
