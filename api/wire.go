package api

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/datasource"
)

// The JSON answers of the API, exported so that clients (package
// api/client, the CLI) decode into the types the server encodes from
// instead of declaring their own. openapi.json describes each one; the
// tests in this package check the answers against it.
//
// Several of these replaced a map: their fields are in the map's (sorted)
// key order, so the answers stayed byte-for-byte the same. Keep that
// order when adding a field, or say in the commit that the order changed.

// DatasourceView is a datasource as the API returns it (GET, POST, PUT
// /api/v1/datasources…): no client secret, but whether one is set, and
// the authorization status.
type DatasourceView struct {
	ID               string                    `json:"id"`
	Name             string                    `json:"name"`
	URL              string                    `json:"url"`
	Description      string                    `json:"description"`
	Provider         string                    `json:"provider,omitempty"`
	ConnectionMode   datasource.ConnectionMode `json:"connectionMode"`
	ConnectionConfig map[string]string         `json:"connectionConfig"`
	HealthCheck      *datasource.HealthCheck   `json:"healthCheck"`
	Auth             AuthView                  `json:"auth"`
	CreatedAt        time.Time                 `json:"createdAt"`
	UpdatedAt        time.Time                 `json:"updatedAt"`
	Authorization    datasource.Authorization  `json:"authorization"`
	Health           *datasource.Health        `json:"health"`
	// Connections counts a per-user datasource's connections by status
	// (lists only; absent for a shared datasource, {} for a per-user one
	// with none yet).
	Connections *map[datasource.Status]int `json:"connections,omitempty"`
}

// AuthView is the auth object of a DatasourceView: the OAuth 2.0
// configuration with its write-only fields (client secret, private keys,
// service-account file) always empty, and so omitted.
type AuthView struct {
	datasource.OAuth2
	// ClientSecretSet says whether a client secret is stored.
	ClientSecretSet bool `json:"clientSecretSet"`
	// ClientSecretRef is the reference (${env:NAME}, ${file:/path}) when
	// the secret is one: a reference is not secret.
	ClientSecretRef string `json:"clientSecretRef,omitempty"`
	// PrivateKeySet says whether a private key is stored, and
	// PrivateKeyRef is it when it is a reference.
	PrivateKeySet bool   `json:"privateKeySet"`
	PrivateKeyRef string `json:"privateKeyRef,omitempty"`
	// PrivateKeyFingerprint is the lower-case hex SHA-256 of the public
	// key (DER SubjectPublicKeyInfo) of the key that signs: the private
	// key, else the service account's. Empty for a reference.
	PrivateKeyFingerprint string `json:"privateKeyFingerprint,omitempty"`
	// ClientCertificateExpiresAt is the clientCertificate's notAfter.
	ClientCertificateExpiresAt *time.Time `json:"clientCertificateExpiresAt,omitempty"`
	// ServiceAccountJSONSet says whether a service-account key file is
	// stored, ServiceAccountJSONRef is it when it is a reference.
	ServiceAccountJSONSet bool   `json:"serviceAccountJsonSet"`
	ServiceAccountJSONRef string `json:"serviceAccountJsonRef,omitempty"`
	// The same for the pair presented to the datasource's own URL.
	UpstreamPrivateKeySet              bool       `json:"upstreamPrivateKeySet"`
	UpstreamPrivateKeyRef              string     `json:"upstreamPrivateKeyRef,omitempty"`
	UpstreamPrivateKeyFingerprint      string     `json:"upstreamPrivateKeyFingerprint,omitempty"`
	UpstreamClientCertificateExpiresAt *time.Time `json:"upstreamClientCertificateExpiresAt,omitempty"`
	credentialView
}

// credentialView says, for the write-only credential fields of a static
// auth type (apiKey, password, token, accessKeyId, secretAccessKey,
// sessionToken), whether each is stored and its reference when it is one.
// A field the datasource's type does not use is absent; a per-user
// datasource's are false (each end user's credential is on their
// connection, never shown).
type credentialView struct {
	APIKeySet          *bool  `json:"apiKeySet,omitempty"`
	APIKeyRef          string `json:"apiKeyRef,omitempty"`
	PasswordSet        *bool  `json:"passwordSet,omitempty"`
	PasswordRef        string `json:"passwordRef,omitempty"`
	TokenSet           *bool  `json:"tokenSet,omitempty"`
	TokenRef           string `json:"tokenRef,omitempty"`
	AccessKeyIDSet     *bool  `json:"accessKeyIdSet,omitempty"`
	AccessKeyIDRef     string `json:"accessKeyIdRef,omitempty"`
	SecretAccessKeySet *bool  `json:"secretAccessKeySet,omitempty"`
	SecretAccessKeyRef string `json:"secretAccessKeyRef,omitempty"`
	SessionTokenSet    *bool  `json:"sessionTokenSet,omitempty"`
	SessionTokenRef    string `json:"sessionTokenRef,omitempty"`
}

// MarshalJSON writes the fields of the datasource's auth type only: an
// API key datasource has no grantType or clientId to show, an OAuth 2.0
// one no apiKeySet.
func (v AuthView) MarshalJSON() ([]byte, error) {
	type plain AuthView // without this method
	b, err := json.Marshal(plain(v))
	if err != nil {
		return nil, err
	}
	t := v.Kind()
	if t == datasource.AuthOAuth2 {
		return b, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k := range m {
		if !datasource.UsesField(t, "auth."+strings.TrimSuffix(strings.TrimSuffix(k, "Set"), "Ref")) {
			delete(m, k)
		}
	}
	return json.Marshal(m)
}

// DatasourceList is the answer of GET /api/v1/datasources, sorted by name.
type DatasourceList struct {
	Datasources []DatasourceView `json:"datasources"`
}

// RevokeAnswer is the answer of POST /api/v1/datasources/{id}/revoke: the
// new authorization status (the fields of datasource.Authorization) and
// what happened at the provider.
type RevokeAnswer struct {
	ExpiresAt       *time.Time `json:"expiresAt"`
	GrantedScope    string     `json:"grantedScope"`
	HasRefreshToken bool       `json:"hasRefreshToken"`
	LastError       string     `json:"lastError"`
	LastRefreshedAt *time.Time `json:"lastRefreshedAt"`
	// ProviderError describes a failed revocation request; the tokens
	// were erased anyway.
	ProviderError string `json:"providerError"`
	// RevokedAtProvider is true when the provider has a revocation
	// endpoint (RFC 7009) and accepted the request.
	RevokedAtProvider bool              `json:"revokedAtProvider"`
	Status            datasource.Status `json:"status"`
}

// TokenAnswer is the answer of POST /api/v1/datasources/{id}/token, shaped
// like an RFC 6749 section 5.1 token response. AccessToken is the
// credential itself: String, GoString and LogValue leave it out, but
// anything that marshals the answer (that is its job) prints it.
type TokenAnswer struct {
	AccessToken string `json:"access_token"`
	// ExpiresIn is the number of seconds the token is still valid for,
	// counted when the answer was made; absent (0) for a bearer token or
	// an API key, which do not expire.
	ExpiresIn int64  `json:"expires_in,omitempty"`
	TokenType string `json:"token_type"`
}

// String describes t without its access token.
func (t TokenAnswer) String() string {
	return "{access_token:[redacted] token_type:" + t.TokenType + " expires_in:" + strconv.FormatInt(t.ExpiresIn, 10) + "}"
}

// GoString is String, so %#v does not print the token either.
func (t TokenAnswer) GoString() string { return t.String() }

// LogValue keeps the access token out of slog records.
func (t TokenAnswer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_token", "[redacted]"), slog.String("token_type", t.TokenType), slog.Int64("expires_in", t.ExpiresIn))
}

// AuthorizeRequest is the body of POST /api/v1/datasources/{id}/authorize;
// it may be empty.
type AuthorizeRequest struct {
	// ReturnTo is a relative path grantd sends the person to after the
	// callback, with the outcome in its query.
	ReturnTo string `json:"returnTo"`
}

// AuthorizeAnswer is the answer of POST /api/v1/datasources/{id}/authorize.
type AuthorizeAnswer struct {
	// AuthorizeURL is the provider URL to send the person to. It carries
	// a one-time state that expires in 10 minutes.
	AuthorizeURL string `json:"authorizeUrl"`
}

// ServerInfo is the answer of GET /api/v1/config: what a client or the UI
// needs to know about this grantd.
type ServerInfo struct {
	// PublicURL is where users and providers reach grantd.
	PublicURL string `json:"publicUrl"`
	// RedirectURI is the callback to register at providers.
	RedirectURI string `json:"redirectUri"`
	Version     string `json:"version"`
}

// Health is the answer of GET /healthz, which answers anyone.
type Health struct {
	Status  string `json:"status"` // "ok"
	Version string `json:"version"`
}
