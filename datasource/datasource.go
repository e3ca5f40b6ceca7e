package datasource

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Datasource is a remote API that app builders call through grantd, together
// with how grantd authenticates those calls.
type Datasource struct {
	// ID is assigned by the server and opaque ("ds_…").
	ID string `json:"id"`
	// Name is unique among datasources, 1–100 characters.
	Name string `json:"name"`
	// URL is the absolute http(s) base URL the proxy forwards to.
	URL string `json:"url"`
	// Description says what the datasource is, for people and for agents
	// choosing a tool (MCP).
	Description string `json:"description,omitempty"`
	// Provider names the catalogue entry (package provider) the
	// datasource was filled from when it was created or last changed;
	// empty for a datasource configured by hand. The entry's values are
	// stored in the datasource's own fields, so this is a record of where
	// they came from, not a reference read at each use.
	Provider string `json:"provider,omitempty"`
	// ConnectionMode is Shared (one token) or PerUser (one connection per
	// end user); empty means Shared.
	ConnectionMode ConnectionMode `json:"connectionMode"`
	// ConnectionConfig holds shared values for {placeholders}; a
	// connection's own values win.
	ConnectionConfig map[string]string `json:"connectionConfig,omitempty"`
	// HealthCheck optionally probes whether a connection works.
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// Auth is how calls are authenticated: the OAuth 2.0 configuration,
	// or another auth type's (see OAuth2.Type).
	Auth OAuth2 `json:"auth"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// GrantType is the OAuth 2.0 grant a datasource uses to obtain tokens.
type GrantType string

// The grant types grantd knows. A new grant is one constant here (so
// validation accepts it) and one file in package grants.
const (
	// ClientCredentials is RFC 6749 §4.4: the client authenticates as itself,
	// no person is involved.
	ClientCredentials GrantType = "client_credentials"
	// AuthorizationCode is RFC 6749 §4.1: a person authorizes in a browser,
	// the provider redirects back with a code that is exchanged for tokens.
	AuthorizationCode GrantType = "authorization_code"
	// JWTBearer is RFC 7523 §2.1: grantd signs an assertion with the
	// datasource's private key and trades it for a token (Google service
	// accounts, domain-wide delegation).
	JWTBearer GrantType = "jwt_bearer"
	// TokenExchange is RFC 8693: the caller brings a token of its own (the
	// signed-in user's SSO token) with each request, and grantd trades it
	// for a token of the datasource's API. Those tokens live in memory
	// only, per subject token.
	TokenExchange GrantType = "token_exchange"
)

// GrantTypes lists the grant types Validate accepts.
var GrantTypes = []GrantType{ClientCredentials, AuthorizationCode, JWTBearer, TokenExchange}

// ClientAuth says how the client authenticates at the token endpoint.
type ClientAuth string

const (
	// ClientAuthAuto uses the provider's metadata (RFC 8414 / OIDC
	// discovery) when it has any, else Basic; on requests that can be
	// repeated it may fall back to Body and remember what worked.
	ClientAuthAuto ClientAuth = "auto"
	// ClientAuthBasic is an HTTP Basic header, RFC 6749 §2.3.1: client id
	// and secret form-encoded, then Base64.
	ClientAuthBasic ClientAuth = "basic"
	// ClientAuthBody sends client_id and client_secret as form fields.
	ClientAuthBody ClientAuth = "body"
	// ClientAuthPrivateKeyJWT signs a client assertion with PrivateKey
	// (RFC 7523 §2.2, OpenID Connect Core §9 private_key_jwt).
	ClientAuthPrivateKeyJWT ClientAuth = "private_key_jwt"
	// ClientAuthTLS presents ClientCertificate and PrivateKey in the TLS
	// handshake with the token endpoint (RFC 8705 tls_client_auth or
	// self_signed_tls_client_auth; the client side is the same).
	ClientAuthTLS ClientAuth = "tls_client_auth"
)

// ClientAuths lists the client authentications Validate accepts.
var ClientAuths = []ClientAuth{ClientAuthAuto, ClientAuthBasic, ClientAuthBody, ClientAuthPrivateKeyJWT, ClientAuthTLS}

// The token types of RFC 8693 §3 that token_exchange datasources name.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
)

// Placement says where the access token goes on outgoing calls.
type Placement string

const (
	// PlacementHeader sets HeaderName to "HeaderPrefix token".
	PlacementHeader Placement = "header"
	// PlacementQuery sets the query parameter QueryParamName to the token.
	PlacementQuery Placement = "query"
)

// Defaults applied by Normalize.
const (
	DefaultScopeSeparator   = " "
	DefaultHeaderName       = "Authorization"
	DefaultHeaderPrefix     = "Bearer"
	DefaultQueryParamName   = "access_token"
	DefaultExpiresInSeconds = 3600
)

// OAuth2 is the auth configuration of a datasource: OAuth 2.0 (the
// default), or one of the other auth types (Type; see authtype.go), whose
// fields are at the end. The JSON names are the API's (see
// api/openapi.json).
type OAuth2 struct {
	// Type is the auth type; empty means AuthOAuth2. Normalize fills it.
	Type             AuthType  `json:"type"`
	GrantType        GrantType `json:"grantType"`
	AccessTokenURL   string    `json:"accessTokenUrl"`
	AuthorizationURL string    `json:"authorizationUrl"`
	ClientID         string    `json:"clientId"`
	// ClientSecret is write-only: responses omit it.
	ClientSecret Secret `json:"clientSecret,omitzero"`
	// Scope is comma- or space-separated, as the user wrote it; Scopes
	// parses it.
	Scope string `json:"scope"`
	// ScopeSeparator joins the scopes on the wire: " " (RFC 6749 §3.3,
	// the default) or "," for providers that want commas (Slack, Shopify,
	// Linear). WireScope applies it.
	ScopeSeparator string `json:"scopeSeparator"`
	// ScopeParam is the authorize parameter that carries the scopes when
	// it is not "scope" (Slack user tokens: "user_scope"); empty means
	// "scope".
	ScopeParam           string     `json:"scopeParam,omitempty"`
	ClientAuthentication ClientAuth `json:"clientAuthentication"`
	TokenPlacement       Placement  `json:"tokenPlacement"`
	HeaderName           string     `json:"headerName"`
	// HeaderPrefix goes before the token, separated by a space: nil
	// (omitted) means "Bearer", a pointer to "" the raw token with no
	// prefix (X-Api-Key: <token>). Prefix reads it.
	HeaderPrefix   *string `json:"headerPrefix,omitempty"`
	QueryParamName string  `json:"queryParamName"`
	// Audience and Resource (RFC 8707) are sent on the authorize redirect
	// and on token requests when set.
	Audience string `json:"audience"`
	Resource string `json:"resource"`
	// CustomAuthParams are added to the authorize redirect's query.
	CustomAuthParams map[string]string `json:"customAuthParams"`
	// TokenParams are extra form fields on every token request.
	TokenParams map[string]string `json:"tokenParams"`
	// PKCE enables RFC 7636 S256 for authorization code; nil means true.
	PKCE               *bool `json:"pkce,omitempty"`
	SendScopeOnRefresh bool  `json:"sendScopeOnRefresh"`
	// RefreshClientAuthentication overrides ClientAuthentication for
	// refresh requests; empty means the same.
	RefreshClientAuthentication ClientAuth `json:"refreshClientAuthentication"`
	// TLSCACert is an optional PEM bundle trusted, in addition to the system
	// roots, for token, code and proxy calls.
	TLSCACert string `json:"tlsCACert"`
	// ExpiresInDefault (seconds) is the lifetime assumed when neither
	// expires_in nor a JWT exp claim says; 0 means 3600.
	ExpiresInDefault int64 `json:"expiresInDefault"`
	// ExposeToken allows the token endpoint to hand the raw access token out.
	ExposeToken bool `json:"exposeToken"`
	// TokenResponse says where a token answer that is not RFC 6749 §5.1
	// shaped keeps its fields, and which other fields to keep.
	TokenResponse TokenResponse `json:"tokenResponse"`
	// RefreshOnStatus lists the upstream statuses that mean "the token
	// has expired": one of them forces the one refresh-and-retry of a
	// proxied call. Normalize makes an empty list [401].
	RefreshOnStatus []int `json:"refreshOnStatus"`

	// PrivateKey is write-only: a PEM private key (RSA of at least 2048
	// bits, or ECDSA P-256) that signs jwt_bearer assertions and
	// private_key_jwt client assertions, and is the key of
	// ClientCertificate for tls_client_auth. Responses omit it; they say
	// privateKeySet and privateKeyFingerprint.
	PrivateKey Secret `json:"privateKey,omitzero"`
	// ClientCertificate is the PEM certificate of PrivateKey (leaf first,
	// then any chain): presented to the token endpoint for
	// tls_client_auth, and named in private_key_jwt headers (x5t#S256,
	// x5t) as Microsoft Entra wants. Not secret.
	ClientCertificate string `json:"clientCertificate"`
	// KeyID goes into the JWT header as kid.
	KeyID string `json:"keyId"`
	// Subject is the sub claim of jwt_bearer assertions; empty means the
	// client id (the service account itself). A per-user datasource uses
	// the end user instead.
	Subject string `json:"subject"`
	// ServiceAccountJSON is write-only: a Google service-account key file
	// as downloaded. It stands in for PrivateKey and fills the empty
	// ClientID (client_email), KeyID (private_key_id) and AccessTokenURL
	// (token_uri); see Normalize.
	ServiceAccountJSON Secret `json:"serviceAccountJson,omitzero"`
	// SubjectTokenType is the RFC 8693 type of the subject tokens callers
	// bring to a token_exchange datasource; empty means
	// TokenTypeAccessToken (see SubjectType).
	SubjectTokenType string `json:"subjectTokenType"`
	// RequestedTokenType is sent as requested_token_type when set.
	RequestedTokenType string `json:"requestedTokenType"`
	// UpstreamClientCertificate and UpstreamPrivateKey (write-only) are
	// presented to the datasource's own URL: mutual TLS for the proxied
	// calls themselves.
	UpstreamClientCertificate string `json:"upstreamClientCertificate"`
	UpstreamPrivateKey        Secret `json:"upstreamPrivateKey,omitzero"`

	// The fields of the other auth types (see AuthType). The secrets are
	// write-only, like ClientSecret; each may be a reference.
	APIKey          Secret `json:"apiKey,omitzero"`          // apiKey, placed like a token
	Username        string `json:"username,omitempty"`       // basic
	Password        Secret `json:"password,omitzero"`        // basic
	Token           Secret `json:"token,omitzero"`           // bearer
	AccessKeyID     Secret `json:"accessKeyId,omitzero"`     // awsSigV4
	SecretAccessKey Secret `json:"secretAccessKey,omitzero"` // awsSigV4
	SessionToken    Secret `json:"sessionToken,omitzero"`    // awsSigV4, optional
	Region          string `json:"region,omitempty"`         // awsSigV4
	Service         string `json:"service,omitempty"`        // awsSigV4
}

// Normalize fills defaults in place: client authentication auto, header
// placement, header name Authorization, prefix Bearer, query parameter
// access_token, PKCE on, expiresInDefault 3600, empty (not nil) maps, and
// trims white space around URLs and names. It is idempotent.
func (d *Datasource) Normalize() {
	d.Name = strings.TrimSpace(d.Name)
	d.URL = strings.TrimSpace(d.URL)
	d.Description = strings.TrimSpace(d.Description)
	d.Provider = strings.TrimSpace(d.Provider)
	if d.ConnectionMode == "" {
		d.ConnectionMode = Shared
	}
	if len(d.ConnectionConfig) == 0 {
		d.ConnectionConfig = nil // as the store reads it back
	}
	if h := d.HealthCheck; h != nil {
		h.Method = strings.ToUpper(strings.TrimSpace(h.Method))
		if h.Method == "" {
			h.Method = "GET"
		}
	}
	d.Auth.Normalize()
}

// PerUser reports whether d holds one connection per end user.
func (d *Datasource) PerUser() bool { return d.ConnectionMode == PerUser }

// Normalize fills the defaults of the OAuth 2.0 configuration; see
// Datasource.Normalize. For another auth type it fills that type's
// defaults and empties the fields of other types that hold only a default
// (see normalizeType).
func (a *OAuth2) Normalize() {
	if a.Type == "" {
		a.Type = AuthOAuth2
	}
	if a.Type != AuthOAuth2 {
		a.normalizeType()
		return
	}
	a.AccessTokenURL = strings.TrimSpace(a.AccessTokenURL)
	a.AuthorizationURL = strings.TrimSpace(a.AuthorizationURL)
	a.ClientID = strings.TrimSpace(a.ClientID)
	a.Scope = strings.TrimSpace(a.Scope)
	if a.ClientAuthentication == "" {
		a.ClientAuthentication = ClientAuthAuto
	}
	if a.ScopeSeparator == "" {
		a.ScopeSeparator = DefaultScopeSeparator
	}
	a.ScopeParam = strings.TrimSpace(a.ScopeParam)
	a.RefreshOnStatus = normalStatuses(a.RefreshOnStatus)
	a.TokenResponse.normalize()
	if a.TokenPlacement == "" {
		a.TokenPlacement = PlacementHeader
	}
	if a.HeaderName == "" {
		a.HeaderName = DefaultHeaderName
	}
	if a.HeaderPrefix == nil {
		a.HeaderPrefix = Ptr(DefaultHeaderPrefix)
	} else if t := strings.TrimSpace(*a.HeaderPrefix); t != *a.HeaderPrefix {
		a.HeaderPrefix = &t
	}
	if a.QueryParamName == "" {
		a.QueryParamName = DefaultQueryParamName
	}
	if a.PKCE == nil {
		t := true
		a.PKCE = &t
	}
	if a.ExpiresInDefault == 0 {
		a.ExpiresInDefault = DefaultExpiresInSeconds
	}
	if a.CustomAuthParams == nil {
		a.CustomAuthParams = map[string]string{}
	}
	if a.TokenParams == nil {
		a.TokenParams = map[string]string{}
	}
	a.KeyID = strings.TrimSpace(a.KeyID)
	a.Subject = strings.TrimSpace(a.Subject)
	a.SubjectTokenType = strings.TrimSpace(a.SubjectTokenType)
	a.RequestedTokenType = strings.TrimSpace(a.RequestedTokenType)
	a.fillFromServiceAccount()
}

// SubjectType returns the RFC 8693 type of the subject tokens of a
// token_exchange datasource: SubjectTokenType, else TokenTypeAccessToken.
func (a *OAuth2) SubjectType() string {
	if a.SubjectTokenType != "" {
		return a.SubjectTokenType
	}
	return TokenTypeAccessToken
}

// DefaultRefreshOnStatus is the refreshOnStatus of a datasource that
// names none: an upstream 401 (RFC 6750 §3.1 invalid_token).
var DefaultRefreshOnStatus = []int{401}

// normalStatuses returns s without duplicates, in the order given, or a
// copy of DefaultRefreshOnStatus when s is empty.
func normalStatuses(s []int) []int {
	if len(s) == 0 {
		return slices.Clone(DefaultRefreshOnStatus)
	}
	out := make([]int, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// RefreshesOn reports whether an upstream answering status to a call
// with this datasource's token should force a refresh (see
// RefreshOnStatus).
func (a *OAuth2) RefreshesOn(status int) bool {
	if len(a.RefreshOnStatus) == 0 {
		return status == 401
	}
	return slices.Contains(a.RefreshOnStatus, status)
}

// WireScope returns the configured scopes as the provider wants them on
// the wire: joined by ScopeSeparator (a space unless set).
func (a *OAuth2) WireScope() string {
	sep := a.ScopeSeparator
	if sep == "" {
		sep = DefaultScopeSeparator
	}
	return strings.Join(a.Scopes(), sep)
}

// Prefix returns the header prefix: "Bearer" when none is configured, ""
// for the raw token.
func (a *OAuth2) Prefix() string {
	if a.HeaderPrefix == nil {
		return DefaultHeaderPrefix
	}
	return *a.HeaderPrefix
}

// Ptr returns a pointer to v, for the optional fields (HeaderPrefix, PKCE).
func Ptr[T any](v T) *T { return &v }

// PKCEEnabled reports whether PKCE is on (the default).
func (a *OAuth2) PKCEEnabled() bool { return a.PKCE == nil || *a.PKCE }

// Scopes returns the configured scopes, parsed as ParseScope does.
func (a *OAuth2) Scopes() []string { return ParseScope(a.Scope) }

// RefreshAuth returns the client authentication style for refresh requests.
func (a *OAuth2) RefreshAuth() ClientAuth {
	if a.RefreshClientAuthentication != "" {
		return a.RefreshClientAuthentication
	}
	return a.ClientAuthentication
}

// ExpiresIn returns the default token lifetime.
func (a *OAuth2) ExpiresIn() time.Duration {
	if a.ExpiresInDefault <= 0 {
		return DefaultExpiresInSeconds * time.Second
	}
	return time.Duration(a.ExpiresInDefault) * time.Second
}

// SameGrant reports whether a token obtained under a is still the right
// token under b: same grant type, endpoints, client, scopes, audience,
// resource, parameters and trust. When it is false, the token is erased.
// Placement and naming changes keep the token.
func (a *OAuth2) SameGrant(b *OAuth2) bool {
	return a.GrantType == b.GrantType &&
		a.AccessTokenURL == b.AccessTokenURL &&
		a.AuthorizationURL == b.AuthorizationURL &&
		a.ClientID == b.ClientID &&
		a.ClientSecret.Equal(b.ClientSecret) &&
		sameScopes(a.Scopes(), b.Scopes()) &&
		a.Audience == b.Audience &&
		a.Resource == b.Resource &&
		equalMaps(a.TokenParams, b.TokenParams) &&
		equalMaps(a.CustomAuthParams, b.CustomAuthParams) &&
		a.TLSCACert == b.TLSCACert &&
		a.PrivateKey.Equal(b.PrivateKey) &&
		a.ServiceAccountJSON.Equal(b.ServiceAccountJSON) &&
		a.ClientCertificate == b.ClientCertificate &&
		a.KeyID == b.KeyID &&
		a.Subject == b.Subject &&
		a.SubjectTokenType == b.SubjectTokenType &&
		a.RequestedTokenType == b.RequestedTokenType &&
		a.TokenResponse.samePaths(b.TokenResponse)
}

// KeepsTokens reports whether the tokens held for d stay right when d is
// replaced by n: the grant is the same (OAuth2.SameGrant), its endpoints
// are the same once the datasource's connectionConfig fills their
// templates (another {tenant} is another grant) and, for a grant that
// holds a person's tokens (user-delegated: authorization code), the
// origin of url is the same too — a user's token does not follow the
// datasource to another host. For the other auth types (whose "tokens"
// are the end users' credentials of a per-user datasource, and the status
// of a shared one) it is the same auth type and the same origin of url.
func (d *Datasource) KeepsTokens(n *Datasource) bool {
	if d.Auth.Kind() != n.Auth.Kind() {
		return false
	}
	if d.Auth.Kind().Static() {
		// An end user's credential is for the host they gave it for.
		return Origin(d.URL) == Origin(n.URL)
	}
	if !d.Auth.SameGrant(&n.Auth) ||
		fillShared(d.Auth.AccessTokenURL, d.ConnectionConfig) != fillShared(n.Auth.AccessTokenURL, n.ConnectionConfig) ||
		fillShared(d.Auth.AuthorizationURL, d.ConnectionConfig) != fillShared(n.Auth.AuthorizationURL, n.ConnectionConfig) {
		return false
	}
	return !d.Auth.GrantType.UserDelegated() || TemplateOrigin(d.URL, d.ConnectionConfig) == TemplateOrigin(n.URL, n.ConnectionConfig)
}

// UserDelegated reports whether tokens of grant type g act for a person
// (authorization code, token exchange) rather than for the client itself.
func (g GrantType) UserDelegated() bool { return g == AuthorizationCode || g == TokenExchange }

// Origin returns the scheme://host[:port] of a URL, lower-cased, with the
// scheme's default port left out; "" when raw does not parse.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// Fingerprint returns a digest of what SameGrant compares but the client
// secret (a digest of a secret could be guessed offline): two
// configurations with the same fingerprint are the same grant.
func (a *OAuth2) Fingerprint() string {
	h := sha256.New()
	w := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	w(string(a.GrantType))
	w(a.AccessTokenURL)
	w(a.AuthorizationURL)
	w(a.ClientID)
	sc := slices.Clone(a.Scopes())
	slices.Sort(sc)
	w(strings.Join(sc, " "))
	w(a.Audience)
	w(a.Resource)
	for _, m := range []map[string]string{a.TokenParams, a.CustomAuthParams} {
		keys := slices.Sorted(maps.Keys(m))
		for _, k := range keys {
			w(k)
			w(m[k])
		}
		w("|")
	}
	w(a.TLSCACert)
	// Appended, so that configurations without them keep their digest.
	if a.ClientCertificate != "" || a.KeyID != "" || a.Subject != "" || a.SubjectTokenType != "" || a.RequestedTokenType != "" {
		w(a.ClientCertificate)
		w(a.KeyID)
		w(a.Subject)
		w(a.SubjectTokenType)
		w(a.RequestedTokenType)
	}
	if t := a.TokenResponse; t.AccessTokenPath != "" || t.RefreshTokenPath != "" || t.ExpiresInPath != "" {
		w("tokenResponse")
		w(t.AccessTokenPath)
		w(t.RefreshTokenPath)
		w(t.ExpiresInPath)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sameScopes(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// NameKey is the form of a name that uniqueness and lookups by name use:
// names differ only when they differ in more than case ("Vectara" and
// "vectara" are one name, as a person typing it at the CLI expects).
func NameKey(name string) string { return strings.ToLower(name) }

// Clone returns a deep copy of d.
func (d *Datasource) Clone() *Datasource {
	c := *d
	c.ConnectionConfig = cloneMap(d.ConnectionConfig)
	if d.HealthCheck != nil {
		h := *d.HealthCheck
		h.ExpectStatus = slices.Clone(h.ExpectStatus)
		c.HealthCheck = &h
	}
	c.Auth.CustomAuthParams = cloneMap(d.Auth.CustomAuthParams)
	c.Auth.TokenParams = cloneMap(d.Auth.TokenParams)
	c.Auth.TokenResponse.Keep = slices.Clone(d.Auth.TokenResponse.Keep)
	c.Auth.RefreshOnStatus = slices.Clone(d.Auth.RefreshOnStatus)
	if d.Auth.PKCE != nil {
		c.Auth.PKCE = Ptr(*d.Auth.PKCE)
	}
	if d.Auth.HeaderPrefix != nil {
		c.Auth.HeaderPrefix = Ptr(*d.Auth.HeaderPrefix)
	}
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func unmarshalString(b []byte, s *string) error { return json.Unmarshal(b, s) }
