package provider

import (
	"maps"
	"slices"

	"github.com/grantd/grantd/datasource"
)

// Entry is what the catalogue knows about one provider: everything a
// datasource needs from it, in grantd's field vocabulary. An empty field
// means "the catalogue has nothing to say": the datasource's own value, or
// grantd's default, applies.
//
// Entries returned by Lookup and All are copies; changing one does not
// change the catalogue.
type Entry struct {
	// Name is the catalogue key: lower case, the value of a datasource's
	// "provider" field ("salesforce").
	Name string `json:"name"`
	// Aliases are other names Lookup accepts ("entra" for "microsoft").
	Aliases []string `json:"aliases,omitempty"`
	// Title is the provider's name as people write it ("Salesforce").
	Title string `json:"title"`
	// Description says in one line what the API is.
	Description string `json:"description"`
	// Docs is the provider's OAuth documentation the entry was checked
	// against. Every URL and parameter in the entry comes from it or from
	// References.
	Docs string `json:"docs"`
	// References are further pages of the provider's documentation the
	// entry relies on.
	References []string `json:"references,omitempty"`

	// AuthType is the auth type of the datasources the entry fills: empty
	// for OAuth 2.0 (every OAuth field below applies), or a static type
	// ("apiKey", "bearer", …) for an API authenticated by a fixed
	// credential, whose entry fills only URL and, for apiKey, where the
	// key goes (TokenPlacement, HeaderName, HeaderPrefix); its OAuth fields
	// stay empty. The credential is never the catalogue's: the owner (or,
	// per user, each end user) brings it.
	AuthType datasource.AuthType `json:"authType,omitempty"`

	// GrantTypes the provider supports, the default first (OAuth 2.0
	// entries only).
	GrantTypes []datasource.GrantType `json:"grantTypes,omitempty"`
	// AuthorizationURL is the authorize endpoint (authorization code only).
	AuthorizationURL string `json:"authorizationUrl,omitempty"`
	// AccessTokenURL is the token endpoint.
	AccessTokenURL string `json:"accessTokenUrl,omitempty"`
	// RevocationURL is an RFC 7009 style revocation endpoint (the token in
	// a form field named token), when the provider documents one. A
	// provider whose revocation is another kind of call leaves it empty and
	// says how in Notes.
	RevocationURL string `json:"revocationUrl,omitempty"`
	// URL is the base URL of the API the proxy forwards to. Empty when the
	// provider is an authorization server for the customer's own APIs
	// (Okta, Auth0, Cognito): the datasource names its API itself.
	URL string `json:"url,omitempty"`

	// ConnectionConfig declares the {placeholders} used in the URL
	// templates, so a form can ask for them. Every placeholder used is
	// declared and every declared one is used; {token.…} placeholders are
	// not declared here: they come from TokenResponse.Keep.
	ConnectionConfig []ConfigField `json:"connectionConfig,omitempty"`

	// ScopeSeparator joins scopes on the wire: " " (RFC 6749 §3.3) unless
	// the provider documents another one ("," for Slack, Shopify, Linear).
	ScopeSeparator string `json:"scopeSeparator,omitempty"`
	// ScopeParam is the authorize query parameter that carries the scopes
	// when it is not "scope" (Slack user tokens: "user_scope").
	ScopeParam string `json:"scopeParam,omitempty"`
	// DefaultScopes is a sensible minimal set; it may be empty.
	DefaultScopes []string `json:"defaultScopes,omitempty"`
	// ClientAuthentication is the style the provider documents for its
	// token endpoint: "basic" or "body".
	ClientAuthentication datasource.ClientAuth `json:"clientAuthentication,omitempty"`
	// PKCE says what the provider documents about RFC 7636.
	PKCE PKCE `json:"pkce,omitempty"`
	// CustomAuthParams are added to the authorize redirect's query.
	CustomAuthParams map[string]string `json:"customAuthParams,omitempty"`
	// TokenParams are extra form fields on every token request.
	TokenParams map[string]string `json:"tokenParams,omitempty"`

	// TokenResponse says where the token answer keeps its fields when not
	// at the top level, and which fields must survive refreshes.
	TokenResponse TokenResponse `json:"tokenResponse,omitzero"`
	// RefreshOnStatus lists the upstream statuses that mean "token
	// expired", when the provider documents others than 401. Nil keeps
	// grantd's default.
	RefreshOnStatus []int `json:"refreshOnStatus,omitempty"`
	// ExpiresInDefault (seconds) is the lifetime to assume when the token
	// answer carries no expires_in. Zero keeps grantd's default.
	ExpiresInDefault int64 `json:"expiresInDefault,omitempty"`
	// RefreshTokenRotates is true when a refresh answer carries a new
	// refresh token that must replace the stored one (the old one stops
	// working, or may).
	RefreshTokenRotates bool `json:"refreshTokenRotates,omitempty"`
	// NoRefreshTokenOnRefresh is true when a refresh answer carries no
	// refresh token: the stored one stays in use.
	NoRefreshTokenOnRefresh bool `json:"noRefreshTokenOnRefresh,omitempty"`

	// TokenPlacement, HeaderName and HeaderPrefix say where the access
	// token goes on API calls when not "Authorization: Bearer <token>".
	// HeaderPrefix follows datasource.OAuth2: nil means Bearer, a pointer
	// to "" the raw token.
	TokenPlacement datasource.Placement `json:"tokenPlacement,omitempty"`
	HeaderName     string               `json:"headerName,omitempty"`
	HeaderPrefix   *string              `json:"headerPrefix,omitempty"`

	// Notes are quirks a person setting the provider up should know, and
	// what the documentation left open.
	Notes []string `json:"notes,omitempty"`
}

// ConfigField declares one {placeholder} of an entry's URL templates.
type ConfigField struct {
	// Name is the placeholder's name, without braces.
	Name string `json:"name"`
	// Description tells a person where to find the value.
	Description string `json:"description"`
	// Example is a value of the right shape; the tests build URLs with it.
	Example string `json:"example"`
	// Required is true when no URL can be built without it.
	Required bool `json:"required"`
}

// TokenResponse maps a provider's token answer to grantd's fields. Paths
// are JSON Pointers (RFC 6901); empty means the top-level standard field.
// Keep names top-level fields of the token answer that must survive
// refreshes (a refresh that omits one keeps the old value); URL templates
// use them as {token.<name>}. It is the datasource's own type: an entry's
// value is what a datasource gets.
type TokenResponse = datasource.TokenResponse

// PKCE is what a provider documents about RFC 7636.
type PKCE string

const (
	// PKCEUnknown: the documentation does not say; grantd's default stays.
	PKCEUnknown PKCE = ""
	// PKCESupported: the provider accepts a code challenge.
	PKCESupported PKCE = "supported"
	// PKCERequired: the provider refuses an authorization without one.
	PKCERequired PKCE = "required"
	// PKCEUnsupported: the provider rejects or ignores a code challenge.
	PKCEUnsupported PKCE = "unsupported"
)

// OAuth2 reports whether the entry is an OAuth 2.0 provider's (AuthType
// empty or oauth2) rather than a fixed credential's.
func (e *Entry) OAuth2() bool { return !e.AuthType.Static() }

// Placeholders returns the names of the {placeholders} in the entry's URL
// templates (authorization, token, revocation and API URL), each once, in
// order of first use. {token.…} placeholders, filled from the token
// answer, are left out.
func (e *Entry) Placeholders() []string {
	var out []string
	for _, t := range e.templates() {
		names, _ := placeholders(t)
		for _, n := range names {
			if !isTokenPlaceholder(n) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// templates returns the entry's non-empty URL templates.
func (e *Entry) templates() []string {
	var out []string
	for _, t := range []string{e.AuthorizationURL, e.AccessTokenURL, e.RevocationURL, e.URL} {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// clone returns a deep copy of e.
func (e *Entry) clone() *Entry {
	c := *e
	c.Aliases = slices.Clone(e.Aliases)
	c.References = slices.Clone(e.References)
	c.GrantTypes = slices.Clone(e.GrantTypes)
	c.ConnectionConfig = slices.Clone(e.ConnectionConfig)
	c.DefaultScopes = slices.Clone(e.DefaultScopes)
	c.CustomAuthParams = maps.Clone(e.CustomAuthParams)
	c.TokenParams = maps.Clone(e.TokenParams)
	c.TokenResponse.Keep = slices.Clone(e.TokenResponse.Keep)
	c.RefreshOnStatus = slices.Clone(e.RefreshOnStatus)
	c.Notes = slices.Clone(e.Notes)
	if e.HeaderPrefix != nil {
		c.HeaderPrefix = datasource.Ptr(*e.HeaderPrefix)
	}
	return &c
}
