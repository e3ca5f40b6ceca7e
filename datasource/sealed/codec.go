// Package sealed encodes datasource records for storage with every secret
// sealed and every record authenticated.
//
// # Secrets
//
// Client secrets, private keys, service-account key files, the
// credentials of the other auth types (API keys, passwords, bearer tokens,
// AWS keys — a datasource's, and an end user's on a connection's token
// record), access and refresh tokens and PKCE verifiers are
// encrypted with associated data naming the record kind, the record id and
// the field ("grantd/v1/token/ds_123/refresh_token"), so a ciphertext copied
// into another record or field does not open.
//
// # Records
//
// Everything else a record holds (a datasource's URLs and flags, a token
// record's status and schedule, a state's return path, events, webhook
// deliveries, meta values) is plain text, and is authenticated: the stored
// form is an envelope with a tag over the kind, the key the record is
// stored under and the record's bytes (see Codec.Wrap). A record changed
// outside grantd, or copied under another key, is refused with a
// *RecordError (datasource.ErrTampered) and logged; other records are not
// affected. The partial readers (GrantType, DecodeSchedule,
// TokenGeneration, StateExpiry, StateDatasource) check the tag too, and
// still unseal nothing.
//
// Store implementations (datasource/bolt, datasource/etcd) share this
// encoding, so their files hold the same records for the same data.
package sealed

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/grantd/grantd/datasource"
)

// Sealer encrypts and decrypts with associated data. *crypto.Keyset is one.
// It must not keep the slices it is given past the call.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// Codec encodes and decodes records. It is safe for concurrent use when its
// Sealer and Log are.
type Codec struct {
	// Sealer seals secrets and tags records.
	Sealer Sealer
	// Log gets one line per record refused because it does not
	// authenticate (its kind and key, never its content); nil is
	// slog.Default().
	Log *slog.Logger
}

// Version is the record format version written into every record.
const Version = 1

// ErrFormat is returned for an authentic record that is not in a format
// this version of grantd reads.
var ErrFormat = errors.New("sealed: unreadable record")

func aad(kind, id, field string) []byte {
	return []byte("grantd/v1/" + kind + "/" + id + "/" + field)
}

func (c Codec) seal(s datasource.Secret, kind, id, field string) ([]byte, error) {
	if s.IsZero() {
		return nil, nil
	}
	b, err := c.Sealer.Seal([]byte(s.Reveal()), aad(kind, id, field))
	if err != nil {
		return nil, fmt.Errorf("sealed: %s %s: %w", kind, field, err)
	}
	return b, nil
}

func (c Codec) open(b []byte, kind, id, field string) (datasource.Secret, error) {
	if len(b) == 0 {
		return datasource.Secret{}, nil
	}
	p, err := c.Sealer.Open(b, aad(kind, id, field))
	if err != nil {
		return datasource.Secret{}, fmt.Errorf("sealed: %s %s of %s: %w", kind, field, id, err)
	}
	return datasource.NewSecret(string(p)), nil
}

// datasourceRecord is the stored form of a datasource: empty fields and
// the defaults Normalize restores are left out, which halves the record
// (100,000 datasources are a file of a couple of hundred MiB, mapped into
// memory, so bytes here are resident bytes).
type datasourceRecord struct {
	V                int                       `json:"v"`
	ID               string                    `json:"id"`
	Name             string                    `json:"name"`
	URL              string                    `json:"url"`
	Description      string                    `json:"description,omitempty"`
	Provider         string                    `json:"provider,omitempty"`
	ConnectionMode   datasource.ConnectionMode `json:"connectionMode,omitempty"`
	ConnectionConfig map[string]string         `json:"connectionConfig,omitempty"`
	HealthCheck      *datasource.HealthCheck   `json:"healthCheck,omitempty"`
	Auth             storedAuth                `json:"auth"`
	CreatedAt        time.Time                 `json:"createdAt"`
	UpdatedAt        time.Time                 `json:"updatedAt"`
	ClientSecret     []byte                    `json:"sealedClientSecret,omitempty"`
	// Key material, sealed like the client secret; absent in records of
	// datasources without it (and in every record older than it).
	PrivateKey         []byte `json:"sealedPrivateKey,omitempty"`
	ServiceAccountJSON []byte `json:"sealedServiceAccountJson,omitempty"`
	UpstreamPrivateKey []byte `json:"sealedUpstreamPrivateKey,omitempty"`
	// The credentials of the other auth types, sealed likewise.
	APIKey          []byte `json:"sealedApiKey,omitempty"`
	Password        []byte `json:"sealedPassword,omitempty"`
	Token           []byte `json:"sealedToken,omitempty"`
	AccessKeyID     []byte `json:"sealedAccessKeyId,omitempty"`
	SecretAccessKey []byte `json:"sealedSecretAccessKey,omitempty"`
	SessionToken    []byte `json:"sealedSessionToken,omitempty"`
}

type storedAuth struct {
	Type                        datasource.AuthType       `json:"type,omitempty"`
	GrantType                   datasource.GrantType      `json:"grantType"`
	AccessTokenURL              string                    `json:"accessTokenUrl"`
	AuthorizationURL            string                    `json:"authorizationUrl,omitempty"`
	ClientID                    string                    `json:"clientId"`
	Scope                       string                    `json:"scope,omitempty"`
	ClientAuthentication        datasource.ClientAuth     `json:"clientAuthentication,omitempty"`
	TokenPlacement              datasource.Placement      `json:"tokenPlacement,omitempty"`
	HeaderName                  string                    `json:"headerName,omitempty"`
	HeaderPrefix                *string                   `json:"headerPrefix,omitempty"`
	QueryParamName              string                    `json:"queryParamName,omitempty"`
	Audience                    string                    `json:"audience,omitempty"`
	Resource                    string                    `json:"resource,omitempty"`
	CustomAuthParams            map[string]string         `json:"customAuthParams,omitempty"`
	TokenParams                 map[string]string         `json:"tokenParams,omitempty"`
	PKCE                        *bool                     `json:"pkce,omitempty"`
	SendScopeOnRefresh          bool                      `json:"sendScopeOnRefresh,omitempty"`
	RefreshClientAuthentication datasource.ClientAuth     `json:"refreshClientAuthentication,omitempty"`
	TLSCACert                   string                    `json:"tlsCACert,omitempty"`
	ExpiresInDefault            int64                     `json:"expiresInDefault,omitempty"`
	ExposeToken                 bool                      `json:"exposeToken,omitempty"`
	ClientCertificate           string                    `json:"clientCertificate,omitempty"`
	KeyID                       string                    `json:"keyId,omitempty"`
	Subject                     string                    `json:"subject,omitempty"`
	SubjectTokenType            string                    `json:"subjectTokenType,omitempty"`
	RequestedTokenType          string                    `json:"requestedTokenType,omitempty"`
	UpstreamClientCertificate   string                    `json:"upstreamClientCertificate,omitempty"`
	Username                    string                    `json:"username,omitempty"`
	Region                      string                    `json:"region,omitempty"`
	Service                     string                    `json:"service,omitempty"`
	ScopeSeparator              string                    `json:"scopeSeparator,omitempty"`
	ScopeParam                  string                    `json:"scopeParam,omitempty"`
	TokenResponse               *datasource.TokenResponse `json:"tokenResponse,omitempty"`
	RefreshOnStatus             []int                     `json:"refreshOnStatus,omitempty"`
}

func toStored(a *datasource.OAuth2) storedAuth {
	s := storedAuth{
		GrantType: a.GrantType, AccessTokenURL: a.AccessTokenURL, AuthorizationURL: a.AuthorizationURL,
		ClientID: a.ClientID, Scope: a.Scope, ClientAuthentication: a.ClientAuthentication,
		TokenPlacement: a.TokenPlacement, HeaderName: a.HeaderName, HeaderPrefix: a.HeaderPrefix,
		QueryParamName: a.QueryParamName, Audience: a.Audience, Resource: a.Resource,
		CustomAuthParams: a.CustomAuthParams, TokenParams: a.TokenParams, PKCE: a.PKCE,
		SendScopeOnRefresh: a.SendScopeOnRefresh, RefreshClientAuthentication: a.RefreshClientAuthentication,
		TLSCACert: a.TLSCACert, ExpiresInDefault: a.ExpiresInDefault, ExposeToken: a.ExposeToken,
		ClientCertificate: a.ClientCertificate, KeyID: a.KeyID, Subject: a.Subject,
		SubjectTokenType: a.SubjectTokenType, RequestedTokenType: a.RequestedTokenType,
		UpstreamClientCertificate: a.UpstreamClientCertificate,
		ScopeSeparator:            a.ScopeSeparator, ScopeParam: a.ScopeParam, RefreshOnStatus: a.RefreshOnStatus,
		Type: a.Type, Username: a.Username, Region: a.Region, Service: a.Service,
	}
	if !a.TokenResponse.IsZero() {
		tr := a.TokenResponse
		s.TokenResponse = &tr
	}
	// Defaults are restored by Normalize when the record is read.
	if s.Type == datasource.AuthOAuth2 {
		s.Type = "" // records written before auth types stay as they were
	}
	if s.ScopeSeparator == datasource.DefaultScopeSeparator {
		s.ScopeSeparator = ""
	}
	if slices.Equal(s.RefreshOnStatus, datasource.DefaultRefreshOnStatus) {
		s.RefreshOnStatus = nil
	}
	if s.ClientAuthentication == datasource.ClientAuthAuto {
		s.ClientAuthentication = ""
	}
	if s.TokenPlacement == datasource.PlacementHeader {
		s.TokenPlacement = ""
	}
	if s.HeaderName == datasource.DefaultHeaderName {
		s.HeaderName = ""
	}
	if s.HeaderPrefix != nil && *s.HeaderPrefix == datasource.DefaultHeaderPrefix {
		s.HeaderPrefix = nil // "" (no prefix) is kept: it is not the default
	}
	if s.QueryParamName == datasource.DefaultQueryParamName {
		s.QueryParamName = ""
	}
	if s.PKCE != nil && *s.PKCE {
		s.PKCE = nil
	}
	if s.ExpiresInDefault == datasource.DefaultExpiresInSeconds {
		s.ExpiresInDefault = 0
	}
	return s
}

func (s *storedAuth) oauth2() datasource.OAuth2 {
	a := datasource.OAuth2{
		GrantType: s.GrantType, AccessTokenURL: s.AccessTokenURL, AuthorizationURL: s.AuthorizationURL,
		ClientID: s.ClientID, Scope: s.Scope, ClientAuthentication: s.ClientAuthentication,
		TokenPlacement: s.TokenPlacement, HeaderName: s.HeaderName, HeaderPrefix: s.HeaderPrefix,
		QueryParamName: s.QueryParamName, Audience: s.Audience, Resource: s.Resource,
		CustomAuthParams: s.CustomAuthParams, TokenParams: s.TokenParams, PKCE: s.PKCE,
		SendScopeOnRefresh: s.SendScopeOnRefresh, RefreshClientAuthentication: s.RefreshClientAuthentication,
		TLSCACert: s.TLSCACert, ExpiresInDefault: s.ExpiresInDefault, ExposeToken: s.ExposeToken,
		ClientCertificate: s.ClientCertificate, KeyID: s.KeyID, Subject: s.Subject,
		SubjectTokenType: s.SubjectTokenType, RequestedTokenType: s.RequestedTokenType,
		UpstreamClientCertificate: s.UpstreamClientCertificate,
		ScopeSeparator:            s.ScopeSeparator, ScopeParam: s.ScopeParam, RefreshOnStatus: s.RefreshOnStatus,
		Type: s.Type, Username: s.Username, Region: s.Region, Service: s.Service,
	}
	if s.TokenResponse != nil {
		a.TokenResponse = *s.TokenResponse
	}
	return a
}

// sealedFields are the write-only fields besides the client secret, with
// the name each is sealed under (the last part of its associated data).
var sealedFields = []struct {
	aad string
	get func(*datasource.OAuth2) *datasource.Secret
	rec func(*datasourceRecord) *[]byte
}{
	{"private_key", func(a *datasource.OAuth2) *datasource.Secret { return &a.PrivateKey }, func(r *datasourceRecord) *[]byte { return &r.PrivateKey }},
	{"service_account_json", func(a *datasource.OAuth2) *datasource.Secret { return &a.ServiceAccountJSON }, func(r *datasourceRecord) *[]byte { return &r.ServiceAccountJSON }},
	{"upstream_private_key", func(a *datasource.OAuth2) *datasource.Secret { return &a.UpstreamPrivateKey }, func(r *datasourceRecord) *[]byte { return &r.UpstreamPrivateKey }},
	{"api_key", func(a *datasource.OAuth2) *datasource.Secret { return &a.APIKey }, func(r *datasourceRecord) *[]byte { return &r.APIKey }},
	{"password", func(a *datasource.OAuth2) *datasource.Secret { return &a.Password }, func(r *datasourceRecord) *[]byte { return &r.Password }},
	{"token", func(a *datasource.OAuth2) *datasource.Secret { return &a.Token }, func(r *datasourceRecord) *[]byte { return &r.Token }},
	{"access_key_id", func(a *datasource.OAuth2) *datasource.Secret { return &a.AccessKeyID }, func(r *datasourceRecord) *[]byte { return &r.AccessKeyID }},
	{"secret_access_key", func(a *datasource.OAuth2) *datasource.Secret { return &a.SecretAccessKey }, func(r *datasourceRecord) *[]byte { return &r.SecretAccessKey }},
	{"session_token", func(a *datasource.OAuth2) *datasource.Secret { return &a.SessionToken }, func(r *datasourceRecord) *[]byte { return &r.SessionToken }},
}

// EncodeDatasource returns the stored form of d, stored under d.ID.
func (c Codec) EncodeDatasource(d *datasource.Datasource) ([]byte, error) {
	sec, err := c.seal(d.Auth.ClientSecret, "datasource", d.ID, "client_secret")
	if err != nil {
		return nil, err
	}
	mode := d.ConnectionMode
	if mode == datasource.Shared {
		mode = "" // the default, restored by Normalize
	}
	r := &datasourceRecord{V: Version, ID: d.ID, Name: d.Name, URL: d.URL, Description: d.Description, Provider: d.Provider,
		ConnectionMode: mode, ConnectionConfig: d.ConnectionConfig, HealthCheck: d.HealthCheck, Auth: toStored(&d.Auth),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, ClientSecret: sec}
	for _, f := range sealedFields {
		b, err := c.seal(*f.get(&d.Auth), "datasource", d.ID, f.aad)
		if err != nil {
			return nil, err
		}
		*f.rec(r) = b
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindDatasource, d.ID, b)
}

// DecodeDatasource reads the datasource stored under id. It returns a
// *RecordError for a record that does not authenticate.
func (c Codec) DecodeDatasource(id string, b []byte) (*datasource.Datasource, error) {
	rec, err := c.Unwrap(KindDatasource, id, b)
	if err != nil {
		return nil, err
	}
	var r datasourceRecord
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version || r.ID != id {
		return nil, fmt.Errorf("%w: datasource", ErrFormat)
	}
	sec, err := c.open(r.ClientSecret, "datasource", r.ID, "client_secret")
	if err != nil {
		return nil, err
	}
	d := &datasource.Datasource{ID: r.ID, Name: r.Name, URL: r.URL, Description: r.Description, Provider: r.Provider, ConnectionMode: r.ConnectionMode,
		ConnectionConfig: r.ConnectionConfig, HealthCheck: r.HealthCheck, Auth: r.Auth.oauth2(), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	d.Auth.ClientSecret = sec
	for _, f := range sealedFields {
		s, err := c.open(*f.rec(&r), "datasource", r.ID, f.aad)
		if err != nil {
			return nil, err
		}
		*f.get(&d.Auth) = s
	}
	d.Normalize()
	return d, nil
}

type tokenRecord struct {
	V               int                   `json:"v"`
	Generation      uint64                `json:"generation"`
	AccessToken     []byte                `json:"sealedAccessToken,omitempty"`
	RefreshToken    []byte                `json:"sealedRefreshToken,omitempty"`
	TokenType       string                `json:"tokenType,omitempty"`
	Expiry          time.Time             `json:"expiry,omitzero"`
	GrantedScope    string                `json:"grantedScope,omitempty"`
	Kept            map[string]string     `json:"kept,omitempty"`
	Status          datasource.Status     `json:"status"`
	LastRefreshedAt time.Time             `json:"lastRefreshedAt,omitzero"`
	LastError       string                `json:"lastError,omitempty"`
	Failures        int                   `json:"failures,omitempty"`
	RetryAt         time.Time             `json:"retryAt,omitzero"`
	Permanent       bool                  `json:"permanentFailure,omitempty"`
	Local           bool                  `json:"localFailure,omitempty"`
	DetectedAuth    datasource.ClientAuth `json:"detectedAuth,omitempty"`
	Health          *datasource.Health    `json:"health,omitempty"`
	Credential      []byte                `json:"sealedCredential,omitempty"`
}

// EncodeToken returns the stored form of the token record of k. A shared
// datasource's key (k.String() is its id) keeps the format of records
// written before connections existed.
func (c Codec) EncodeToken(k datasource.Key, t *datasource.TokenRecord) ([]byte, error) {
	id := k.String()
	at, err := c.seal(t.AccessToken, "token", id, "access_token")
	if err != nil {
		return nil, err
	}
	rt, err := c.seal(t.RefreshToken, "token", id, "refresh_token")
	if err != nil {
		return nil, err
	}
	cred, err := c.sealCredential(&t.Credential, id)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(&tokenRecord{
		V: Version, Generation: t.Generation, AccessToken: at, RefreshToken: rt,
		TokenType: t.TokenType, Expiry: t.Expiry, GrantedScope: t.GrantedScope, Kept: t.Kept,
		Status: t.Status, LastRefreshedAt: t.LastRefreshedAt, LastError: t.LastError,
		Failures: t.Failures, RetryAt: t.RetryAt, Permanent: t.PermanentFailure, Local: t.LocalFailure, DetectedAuth: t.DetectedAuth,
		Health: t.Health, Credential: cred,
	})
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindToken, id, b)
}

// DecodeToken reads the token record of k. It returns a *RecordError for a
// record that does not authenticate.
func (c Codec) DecodeToken(k datasource.Key, b []byte) (*datasource.TokenRecord, error) {
	id := k.String()
	rec, err := c.Unwrap(KindToken, id, b)
	if err != nil {
		return nil, err
	}
	var r tokenRecord
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version {
		return nil, fmt.Errorf("%w: token", ErrFormat)
	}
	at, err := c.open(r.AccessToken, "token", id, "access_token")
	if err != nil {
		return nil, err
	}
	rt, err := c.open(r.RefreshToken, "token", id, "refresh_token")
	if err != nil {
		return nil, err
	}
	cred, err := c.openCredential(r.Credential, id)
	if err != nil {
		return nil, err
	}
	return &datasource.TokenRecord{
		Generation: r.Generation, AccessToken: at, RefreshToken: rt,
		TokenType: r.TokenType, Expiry: r.Expiry, GrantedScope: r.GrantedScope, Kept: r.Kept,
		Status: r.Status, LastRefreshedAt: r.LastRefreshedAt, LastError: r.LastError,
		Failures: r.Failures, RetryAt: r.RetryAt, PermanentFailure: r.Permanent, LocalFailure: r.Local, DetectedAuth: r.DetectedAuth,
		Health: r.Health, Credential: cred,
	}, nil
}

// scheduleRecord is tokenRecord without the sealed fields' contents:
// decoding it does not copy or unseal tokens.
type scheduleRecord struct {
	V               int                `json:"v"`
	Generation      uint64             `json:"generation"`
	AccessToken     json.RawMessage    `json:"sealedAccessToken"`
	RefreshToken    json.RawMessage    `json:"sealedRefreshToken"`
	Expiry          time.Time          `json:"expiry"`
	Status          datasource.Status  `json:"status"`
	LastRefreshedAt time.Time          `json:"lastRefreshedAt"`
	Failures        int                `json:"failures"`
	RetryAt         time.Time          `json:"retryAt"`
	Permanent       bool               `json:"permanentFailure"`
	Local           bool               `json:"localFailure"`
	LastError       string             `json:"lastError"`
	GrantedScope    string             `json:"grantedScope"`
	Kept            map[string]string  `json:"kept"`
	Health          *datasource.Health `json:"health"`
	Credential      json.RawMessage    `json:"sealedCredential"`
}

// Head is what the planning of a datasource's token records needs of the
// datasource itself.
type Head struct {
	AuthType       datasource.AuthType
	GrantType      datasource.GrantType
	ConnectionMode datasource.ConnectionMode
	HealthCheck    *datasource.HealthCheck
}

// Fill copies the head into a schedule view.
func (h Head) Fill(sc *datasource.Schedule) {
	sc.GrantType, sc.HealthCheck = h.GrantType, h.HealthCheck
	sc.AuthType = h.AuthType
	if sc.AuthType == "" {
		sc.AuthType = datasource.AuthOAuth2
	}
}

// PerUser reports whether the datasource holds one connection per end user.
func (h Head) PerUser() bool { return h.ConnectionMode == datasource.PerUser }

// DatasourceHead reads only the head of the datasource stored under id,
// after checking the record's tag; it unseals nothing.
func (c Codec) DatasourceHead(id string, b []byte) (Head, error) {
	rec, err := c.Unwrap(KindDatasource, id, b)
	if err != nil {
		return Head{}, err
	}
	var r struct {
		V              int                       `json:"v"`
		ConnectionMode datasource.ConnectionMode `json:"connectionMode"`
		HealthCheck    *datasource.HealthCheck   `json:"healthCheck"`
		Auth           struct {
			Type      datasource.AuthType  `json:"type"`
			GrantType datasource.GrantType `json:"grantType"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version {
		return Head{}, fmt.Errorf("%w: datasource", ErrFormat)
	}
	return Head{AuthType: r.Auth.Type, GrantType: r.Auth.GrantType, ConnectionMode: r.ConnectionMode, HealthCheck: r.HealthCheck}, nil
}

// GrantType reads only the grant type of the datasource stored under id,
// after checking the record's tag; it unseals nothing.
func (c Codec) GrantType(id string, b []byte) (datasource.GrantType, error) {
	h, err := c.DatasourceHead(id, b)
	return h.GrantType, err
}

// DecodeSchedule reads the planning view of the token record of k, after
// checking the record's tag; it unseals nothing.
func (c Codec) DecodeSchedule(k datasource.Key, b []byte) (datasource.Schedule, error) {
	id := k.String()
	rec, err := c.Unwrap(KindToken, id, b)
	if err != nil {
		return datasource.Schedule{}, err
	}
	var r scheduleRecord
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version {
		return datasource.Schedule{}, fmt.Errorf("%w: token", ErrFormat)
	}
	return datasource.Schedule{
		Generation: r.Generation, Status: r.Status,
		HasToken: len(r.AccessToken) > 0, HasRefreshToken: len(r.RefreshToken) > 0,
		Expiry: r.Expiry, LastRefreshedAt: r.LastRefreshedAt, RetryAt: r.RetryAt, Failures: r.Failures,
		PermanentFailure: r.Permanent, LocalFailure: r.Local, LastError: r.LastError, GrantedScope: r.GrantedScope,
		Kept: r.Kept, Health: r.Health, HasCredential: len(r.Credential) > 0,
	}, nil
}

// TokenGeneration reads only the generation of the token record of k,
// after checking the record's tag.
func (c Codec) TokenGeneration(k datasource.Key, b []byte) (uint64, error) {
	id := k.String()
	rec, err := c.Unwrap(KindToken, id, b)
	if err != nil {
		return 0, err
	}
	var r struct {
		V          int    `json:"v"`
		Generation uint64 `json:"generation"`
	}
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version {
		return 0, fmt.Errorf("%w: token", ErrFormat)
	}
	return r.Generation, nil
}

type stateRecord struct {
	V            int       `json:"v"`
	DatasourceID string    `json:"datasourceId"`
	Verifier     []byte    `json:"sealedVerifier,omitempty"`
	Binding      []byte    `json:"binding,omitempty"`
	ReturnTo     string    `json:"returnTo,omitempty"`
	RedirectURI  string    `json:"redirectUri"`
	Fingerprint  string    `json:"fingerprint,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	ExpiresAt    time.Time `json:"expiresAt"`

	Connect          bool               `json:"connect,omitempty"`
	EndUserID        string             `json:"endUserId,omitempty"`
	EndUser          datasource.EndUser `json:"endUser,omitzero"`
	ConnectionConfig map[string]string  `json:"connectionConfig,omitempty"`
}

// EncodeState returns the stored form of s, stored under s.Key.
func (c Codec) EncodeState(s *datasource.State) ([]byte, error) {
	v, err := c.seal(s.Verifier, "state", s.Key, "code_verifier")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(&stateRecord{
		V: Version, DatasourceID: s.DatasourceID, Verifier: v, Binding: s.Binding,
		ReturnTo: s.ReturnTo, RedirectURI: s.RedirectURI, Fingerprint: s.Fingerprint, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
		Connect: s.Connect, EndUserID: s.EndUserID, EndUser: s.EndUser, ConnectionConfig: s.ConnectionConfig,
	})
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindState, s.Key, b)
}

// DecodeState reads a state stored under key. It returns a *RecordError
// for a record that does not authenticate.
func (c Codec) DecodeState(key string, b []byte) (*datasource.State, error) {
	rec, err := c.Unwrap(KindState, key, b)
	if err != nil {
		return nil, err
	}
	var r stateRecord
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version {
		return nil, fmt.Errorf("%w: state", ErrFormat)
	}
	v, err := c.open(r.Verifier, "state", key, "code_verifier")
	if err != nil {
		return nil, err
	}
	return &datasource.State{
		Key: key, DatasourceID: r.DatasourceID, Verifier: v, Binding: r.Binding,
		ReturnTo: r.ReturnTo, RedirectURI: r.RedirectURI, Fingerprint: r.Fingerprint, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		Connect: r.Connect, EndUserID: r.EndUserID, EndUser: r.EndUser, ConnectionConfig: r.ConnectionConfig,
	}, nil
}

// StateExpiry reads only the expiry of the state stored under key, after
// checking the record's tag; it unseals nothing.
func (c Codec) StateExpiry(key string, b []byte) (time.Time, error) {
	r, err := c.stateHead(key, b)
	return r.ExpiresAt, err
}

// StateDatasource reads only the datasource id of the state stored under
// key, after checking the record's tag; it unseals nothing.
func (c Codec) StateDatasource(key string, b []byte) (string, error) {
	r, err := c.stateHead(key, b)
	return r.DatasourceID, err
}

type stateHead struct {
	V            int       `json:"v"`
	DatasourceID string    `json:"datasourceId"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

func (c Codec) stateHead(key string, b []byte) (stateHead, error) {
	var r stateHead
	rec, err := c.Unwrap(KindState, key, b)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version {
		return stateHead{}, fmt.Errorf("%w: state", ErrFormat)
	}
	return r, nil
}

type connectionRecord struct {
	V                int                `json:"v"`
	DatasourceID     string             `json:"datasourceId"`
	EndUserID        string             `json:"endUserId"`
	EndUser          datasource.EndUser `json:"endUser,omitzero"`
	ConnectionConfig map[string]string  `json:"connectionConfig,omitempty"`
	CreatedAt        time.Time          `json:"createdAt"`
	UpdatedAt        time.Time          `json:"updatedAt"`
}

// EncodeConnection returns the stored form of cn, stored under its key.
func (c Codec) EncodeConnection(cn *datasource.Connection) ([]byte, error) {
	b, err := json.Marshal(&connectionRecord{V: Version, DatasourceID: cn.DatasourceID, EndUserID: cn.EndUserID, EndUser: cn.EndUser,
		ConnectionConfig: cn.Config, CreatedAt: cn.CreatedAt, UpdatedAt: cn.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindConnection, cn.Key().String(), b)
}

// DecodeConnection reads the connection stored under k. It returns a
// *RecordError for a record that does not authenticate.
func (c Codec) DecodeConnection(k datasource.Key, b []byte) (*datasource.Connection, error) {
	rec, err := c.Unwrap(KindConnection, k.String(), b)
	if err != nil {
		return nil, err
	}
	var r connectionRecord
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version || r.DatasourceID != k.Datasource || r.EndUserID != k.EndUser {
		return nil, fmt.Errorf("%w: connection", ErrFormat)
	}
	return &datasource.Connection{DatasourceID: r.DatasourceID, EndUserID: r.EndUserID, EndUser: r.EndUser, Config: r.ConnectionConfig,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

type apiKeyRecord struct {
	V           int                     `json:"v"`
	ID          string                  `json:"id"`
	Name        string                  `json:"name"`
	Permissions []datasource.Permission `json:"permissions"`
	Datasources []string                `json:"datasources,omitempty"`
	Hash        []byte                  `json:"sha256"`
	CreatedAt   time.Time               `json:"createdAt"`
	CreatedBy   string                  `json:"createdBy,omitempty"`
	LastUsedAt  time.Time               `json:"lastUsedAt,omitzero"`
}

// EncodeAPIKey returns the stored form of k, stored under its id. The key
// itself is not in it, only its hash — authenticated like every record,
// so a hash written behind grantd's back is refused.
func (c Codec) EncodeAPIKey(k *datasource.APIKey) ([]byte, error) {
	b, err := json.Marshal(&apiKeyRecord{V: Version, ID: k.ID, Name: k.Name, Permissions: k.Permissions, Datasources: k.Datasources,
		Hash: k.Hash[:], CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, LastUsedAt: k.LastUsedAt})
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindAPIKey, k.ID, b)
}

// DecodeAPIKey reads the API key stored under id. It returns a
// *RecordError for a record that does not authenticate.
func (c Codec) DecodeAPIKey(id string, b []byte) (*datasource.APIKey, error) {
	rec, err := c.Unwrap(KindAPIKey, id, b)
	if err != nil {
		return nil, err
	}
	var r apiKeyRecord
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version || r.ID != id || len(r.Hash) != sha256.Size {
		return nil, fmt.Errorf("%w: apikey", ErrFormat)
	}
	return &datasource.APIKey{ID: r.ID, Name: r.Name, Permissions: r.Permissions, Datasources: r.Datasources, Hash: [sha256.Size]byte(r.Hash),
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, LastUsedAt: r.LastUsedAt}, nil
}
