package datasource

import "time"

// Status is where a datasource's authorization stands.
type Status string

const (
	// StatusAuthorized: a usable token is held. A failing background
	// refresh shows in LastError while the token is still valid.
	StatusAuthorized Status = "authorized"
	// StatusUnauthorized: no token yet, e.g. an authorization-code
	// datasource nobody has authorized.
	StatusUnauthorized Status = "unauthorized"
	// StatusNeedsReauthorization: the grant is gone (invalid_grant,
	// revoked); a person must authorize again.
	StatusNeedsReauthorization Status = "needs_reauthorization"
	// StatusError: no usable token and the provider refuses or fails;
	// LastError names the cause.
	StatusError Status = "error"
)

// Statuses lists every Status.
var Statuses = []Status{StatusAuthorized, StatusUnauthorized, StatusNeedsReauthorization, StatusError}

// TokenRecord is what the engine keeps per datasource: the tokens (sealed by
// the Store), their expiry, the granted scope apart from the configured one,
// the status, and the retry schedule, so that a restart resumes where the
// process stopped.
type TokenRecord struct {
	// Generation increases by one each time the token itself changes
	// (not on status-only updates). SaveTokenRecord compares it.
	Generation   uint64
	AccessToken  Secret
	RefreshToken Secret
	TokenType    string
	// Expiry is when the access token stops being valid. Always set when
	// AccessToken is: a token with no known expiry gets the datasource's
	// expiresInDefault.
	Expiry time.Time
	// GrantedScope is the scope the provider granted (space-delimited), or
	// empty if it did not say.
	GrantedScope string
	// Kept holds the fields of the token answer the datasource keeps
	// (auth.tokenResponse.keep), as text; nil when none. They are not
	// secrets: stores keep them in the clear, authenticated with the rest
	// of the record.
	Kept map[string]string

	Status          Status
	LastRefreshedAt time.Time
	LastError       string
	// Failures counts consecutive failed token requests; RetryAt is when
	// the next one may be made (backoff, Retry-After).
	Failures int
	RetryAt  time.Time
	// PermanentFailure is set when the provider refused for good
	// (invalid_grant, invalid_client, …): no automatic retry until the
	// configuration changes, a person re-authorizes, or a refresh is forced.
	PermanentFailure bool
	// LocalFailure is set when the last failure came from grantd's own
	// configuration (the dial guard refused the address, a secret
	// reference did not resolve), not from the provider: such a failure
	// keeps the tokens, and is retried when grantd starts again.
	LocalFailure bool
	// DetectedAuth is the client authentication that worked under "auto".
	DetectedAuth ClientAuth
	// Health is the outcome of the last health check, nil before one.
	Health *Health
	// Credential is the end user's own credential of a connection to a
	// per-user datasource of a static auth type (see AuthType), entered
	// on the connect page; zero otherwise. Stores seal it.
	Credential Credential
}

// HasToken reports whether the record holds an access token.
func (r *TokenRecord) HasToken() bool { return r != nil && !r.AccessToken.IsZero() }

// Authorization is the public view of a TokenRecord: what the API returns
// as "authorization". It never holds a token.
type Authorization struct {
	Status          Status     `json:"status"`
	ExpiresAt       *time.Time `json:"expiresAt"`
	LastRefreshedAt *time.Time `json:"lastRefreshedAt"`
	LastError       string     `json:"lastError"`
	HasRefreshToken bool       `json:"hasRefreshToken"`
	GrantedScope    string     `json:"grantedScope"`
	// Kept are the token answer's fields the datasource keeps
	// (auth.tokenResponse.keep), e.g. Salesforce's instance_url.
	Kept map[string]string `json:"kept,omitempty"`
}

// Authorization returns the public view of r. A nil record is unauthorized.
func (r *TokenRecord) Authorization() Authorization { return r.Schedule().Authorization() }

// Authorization returns the public view of the record s was read from.
func (s Schedule) Authorization() Authorization {
	a := Authorization{
		Status:          s.Status,
		LastError:       s.LastError,
		HasRefreshToken: s.HasRefreshToken,
		GrantedScope:    s.GrantedScope,
		Kept:            s.Kept,
	}
	if a.Status == "" {
		a.Status = StatusUnauthorized
	}
	if s.HasToken && !s.Expiry.IsZero() {
		t := s.Expiry.UTC()
		a.ExpiresAt = &t
	}
	if !s.LastRefreshedAt.IsZero() {
		t := s.LastRefreshedAt.UTC()
		a.LastRefreshedAt = &t
	}
	return a
}

// Schedule is a TokenRecord without its tokens: what the background
// refresher needs to plan and what a status shows, readable without
// unsealing anything.
type Schedule struct {
	// GrantType is the datasource's grant type.
	GrantType        GrantType
	Generation       uint64
	Status           Status
	HasToken         bool
	HasRefreshToken  bool
	Expiry           time.Time
	LastRefreshedAt  time.Time
	RetryAt          time.Time
	Failures         int
	PermanentFailure bool
	LocalFailure     bool
	LastError        string
	GrantedScope     string
	Kept             map[string]string
	Health           *Health
	// HasCredential says the record holds an end user's credential (see
	// TokenRecord.Credential).
	HasCredential bool
	// AuthType is the datasource's auth type, filled in by the store from
	// the datasource record like GrantType.
	AuthType AuthType
	// HealthCheck is the datasource's healthCheck, filled in by the store
	// from the datasource record like GrantType (nil when none).
	HealthCheck *HealthCheck
}

// Schedule returns the planning view of r.
func (r *TokenRecord) Schedule() Schedule {
	if r == nil {
		return Schedule{}
	}
	return Schedule{
		Generation:       r.Generation,
		Status:           r.Status,
		HasToken:         r.HasToken(),
		HasRefreshToken:  !r.RefreshToken.IsZero(),
		Expiry:           r.Expiry,
		LastRefreshedAt:  r.LastRefreshedAt,
		RetryAt:          r.RetryAt,
		Failures:         r.Failures,
		PermanentFailure: r.PermanentFailure,
		LocalFailure:     r.LocalFailure,
		LastError:        r.LastError,
		GrantedScope:     r.GrantedScope,
		Kept:             r.Kept,
		Health:           r.Health,
		HasCredential:    !r.Credential.IsZero(),
	}
}
