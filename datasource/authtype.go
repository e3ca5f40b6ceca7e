package datasource

import (
	"slices"
	"strings"
)

// AuthType says how calls to a datasource are authenticated: with OAuth
// 2.0 tokens (the default, every field of OAuth2 up to the upstream
// certificate), or with a credential that never changes by itself — the
// ways Appsmith's REST datasource authenticates besides OAuth 2.0. A new
// type is one constant here, its fields in authFields, and one file in
// package grants.
type AuthType string

const (
	// AuthOAuth2 is OAuth 2.0: a grant obtains tokens, which are
	// refreshed. The default.
	AuthOAuth2 AuthType = "oauth2"
	// AuthAPIKey sends APIKey where OAuth 2.0 sends its token:
	// tokenPlacement, headerName, headerPrefix and queryParamName, with
	// the same defaults (Authorization: Bearer <key>).
	AuthAPIKey AuthType = "apiKey"
	// AuthBasic sends Username and Password as HTTP Basic
	// authentication (RFC 7617).
	AuthBasic AuthType = "basic"
	// AuthBearer sends Token as Authorization: Bearer <token> (RFC 6750).
	AuthBearer AuthType = "bearer"
	// AuthAWSSigV4 signs every request with AWS Signature Version 4 for
	// Region and Service, with AccessKeyID, SecretAccessKey and, for
	// temporary credentials, SessionToken.
	AuthAWSSigV4 AuthType = "awsSigV4"
	// AuthNone adds nothing: a public API, or one authenticated by its URL.
	AuthNone AuthType = "none"
)

// AuthTypes lists the auth types Validate accepts.
var AuthTypes = []AuthType{AuthOAuth2, AuthAPIKey, AuthBasic, AuthBearer, AuthAWSSigV4, AuthNone}

// Static reports whether t holds a fixed credential (or none) rather than
// OAuth 2.0 tokens: nothing to obtain, refresh or revoke at a provider.
func (t AuthType) Static() bool { return t != AuthOAuth2 && t != "" }

// Kind returns the auth type, AuthOAuth2 when none is set.
func (a *OAuth2) Kind() AuthType {
	if a.Type == "" {
		return AuthOAuth2
	}
	return a.Type
}

// Credential is the credential of a static auth type: a shared
// datasource's own (the fields of OAuth2), or one end user's, entered on
// the connect page of a per-user datasource and stored sealed with that
// end user's connection. Only the fields of the datasource's type are set.
type Credential struct {
	APIKey          Secret
	Username        string
	Password        Secret
	Token           Secret
	AccessKeyID     Secret
	SecretAccessKey Secret
	SessionToken    Secret
}

// Credential returns a's own credential (a shared datasource's).
func (a *OAuth2) Credential() Credential {
	return Credential{APIKey: a.APIKey, Username: a.Username, Password: a.Password, Token: a.Token,
		AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, SessionToken: a.SessionToken}
}

// IsZero reports whether c holds nothing.
func (c *Credential) IsZero() bool { return *c == Credential{} }

// Equal reports whether c and o hold the same values, comparing secrets
// in constant time.
func (c *Credential) Equal(o *Credential) bool {
	return c.APIKey.Equal(o.APIKey) && c.Username == o.Username && c.Password.Equal(o.Password) && c.Token.Equal(o.Token) &&
		c.AccessKeyID.Equal(o.AccessKeyID) && c.SecretAccessKey.Equal(o.SecretAccessKey) && c.SessionToken.Equal(o.SessionToken)
}

// CredentialField is one field of a Credential, as an end user enters it
// on the connect page of a per-user datasource.
type CredentialField struct {
	// Name is the field's JSON name in auth ("apiKey"), and the form
	// field's.
	Name string
	// Label is what the connect page shows.
	Label string
	// Secret fields are entered as passwords and never shown again.
	Secret bool
	// Optional fields may be left empty.
	Optional bool
}

// credentialFields are the fields of each static type's credential.
var credentialFields = map[AuthType][]CredentialField{
	AuthAPIKey: {{Name: "apiKey", Label: "API key", Secret: true}},
	AuthBasic: {{Name: "username", Label: "Username"},
		{Name: "password", Label: "Password", Secret: true, Optional: true}},
	AuthBearer: {{Name: "token", Label: "Token", Secret: true}},
	AuthAWSSigV4: {{Name: "accessKeyId", Label: "Access key ID", Secret: true},
		{Name: "secretAccessKey", Label: "Secret access key", Secret: true},
		{Name: "sessionToken", Label: "Session token (temporary credentials only)", Secret: true, Optional: true}},
}

// CredentialFields returns the fields of t's credential, in the order a
// form shows them; none for AuthNone and AuthOAuth2.
func CredentialFields(t AuthType) []CredentialField { return credentialFields[t] }

// Field returns the value of the credential field named name ("apiKey";
// see CredentialFields), nil for another name.
func (c *Credential) Field(name string) *Secret {
	switch name {
	case "apiKey":
		return &c.APIKey
	case "password":
		return &c.Password
	case "token":
		return &c.Token
	case "accessKeyId":
		return &c.AccessKeyID
	case "secretAccessKey":
		return &c.SecretAccessKey
	case "sessionToken":
		return &c.SessionToken
	}
	return nil
}

// Limits of credential values.
const (
	maxUsernameLen     = 256
	maxAccessKeyIDLen  = 128
	maxSessionTokenLen = 8192
	maxRegionLen       = 64
)

// checkCredential checks the credential c of type t. Field names are
// prefix + the JSON name ("auth.apiKey"; "apiKey" on the connect page).
// required: the type's fields that are not optional must be set. refs:
// secret fields may be ${env:}/${file:} references (a datasource's, which
// its owner writes); an end user's credential may not hold one.
func checkCredential(v *ValidationError, prefix string, t AuthType, c *Credential, required, refs bool) {
	for _, f := range credentialFields[t] {
		name := prefix + f.Name
		if f.Name == "username" {
			switch u := c.Username; {
			case u == "" && required:
				v.add(name, "is required")
			case len(u) > maxUsernameLen || hasControl(u):
				v.add(name, "must be at most %d printable characters", maxUsernameLen)
			case strings.Contains(u, ":"):
				v.add(name, `must not contain ":" (RFC 7617: it separates the username from the password)`)
			}
			continue
		}
		val := c.Field(f.Name).Reveal()
		_, _, isRef, badRef := ParseSecretRef(val)
		limit := maxValueLen
		switch f.Name {
		case "sessionToken":
			limit = maxSessionTokenLen
		case "accessKeyId":
			limit = maxAccessKeyIDLen
		}
		switch {
		case val == "" && required && !f.Optional:
			v.add(name, "is required")
		case val == "":
		case isRef && !refs:
			v.add(name, "must be the %s itself, not a reference", strings.ToLower(f.Label))
		case isRef && badRef != "":
			v.add(name, "%s", badRef)
		case isRef:
		case len(val) > limit:
			v.add(name, "must be at most %d bytes", limit)
		case hasControl(val):
			v.add(name, "must not contain control characters")
		case f.Name == "accessKeyId" && !alnum(val):
			v.add(name, "must be letters and digits (an AWS access key ID such as AKIA…)")
		}
	}
}

// ValidateCredential checks an end user's credential for a datasource of
// type t, as entered on the connect page: every field the type needs, no
// references (an end user may not read grantd's environment or files).
// The *ValidationError names the fields by their JSON names ("apiKey").
func ValidateCredential(t AuthType, c *Credential) error {
	v := &ValidationError{}
	if !t.Static() || t == AuthNone {
		v.add("type", "a datasource of auth type %q takes no credential from its end users", t)
		return v
	}
	checkCredential(v, "", t, c, true, false)
	if len(v.Errors) == 0 {
		return nil
	}
	return v
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// authField is a field of auth that only some auth types use.
type authField struct {
	name  string
	types []AuthType
	// set reports whether the field holds a value: empty, and a default
	// Normalize fills, are no value.
	set func(a *OAuth2) bool
	// clear empties it.
	clear func(a *OAuth2)
}

var (
	oauth2Only   = []AuthType{AuthOAuth2}
	tokenPlacing = []AuthType{AuthOAuth2, AuthAPIKey}
	// tokenExposing are the types whose credential is a token a caller
	// can use itself: the token endpoint hands it out with exposeToken.
	// A password or an AWS secret key is not handed out: it is not a
	// token, and SigV4 signs rather than sends.
	tokenExposing = []AuthType{AuthOAuth2, AuthAPIKey, AuthBearer}
)

func str(name string, types []AuthType, get func(a *OAuth2) *string) authField {
	return authField{name, types, func(a *OAuth2) bool { return *get(a) != "" }, func(a *OAuth2) { *get(a) = "" }}
}

func sec(name string, types []AuthType, get func(a *OAuth2) *Secret) authField {
	return authField{name, types, func(a *OAuth2) bool { return !get(a).IsZero() }, func(a *OAuth2) { *get(a) = Secret{} }}
}

// orDefault is a string field whose default counts as no value.
func orDefault(name string, types []AuthType, def string, get func(a *OAuth2) *string) authField {
	return authField{name, types, func(a *OAuth2) bool { return *get(a) != "" && *get(a) != def }, func(a *OAuth2) { *get(a) = "" }}
}

// authFields are the fields of auth that not every type uses; the rest
// (type, tlsCACert, upstreamClientCertificate, upstreamPrivateKey) apply
// to every type. A field of another type than the datasource's is refused
// by Validate when it holds a value, and dropped by Normalize when it
// holds only its default (so a GET of an OAuth 2.0 datasource, edited to
// another type and PUT back, names what does not belong instead of
// storing it unused).
var authFields = []authField{
	{"auth.grantType", oauth2Only, func(a *OAuth2) bool { return a.GrantType != "" }, func(a *OAuth2) { a.GrantType = "" }},
	str("auth.accessTokenUrl", oauth2Only, func(a *OAuth2) *string { return &a.AccessTokenURL }),
	str("auth.authorizationUrl", oauth2Only, func(a *OAuth2) *string { return &a.AuthorizationURL }),
	str("auth.clientId", oauth2Only, func(a *OAuth2) *string { return &a.ClientID }),
	sec("auth.clientSecret", oauth2Only, func(a *OAuth2) *Secret { return &a.ClientSecret }),
	str("auth.scope", oauth2Only, func(a *OAuth2) *string { return &a.Scope }),
	{"auth.clientAuthentication", oauth2Only, func(a *OAuth2) bool { return a.ClientAuthentication != "" && a.ClientAuthentication != ClientAuthAuto },
		func(a *OAuth2) { a.ClientAuthentication = "" }},
	str("auth.audience", oauth2Only, func(a *OAuth2) *string { return &a.Audience }),
	str("auth.resource", oauth2Only, func(a *OAuth2) *string { return &a.Resource }),
	{"auth.customAuthParams", oauth2Only, func(a *OAuth2) bool { return len(a.CustomAuthParams) > 0 }, func(a *OAuth2) { a.CustomAuthParams = nil }},
	{"auth.tokenParams", oauth2Only, func(a *OAuth2) bool { return len(a.TokenParams) > 0 }, func(a *OAuth2) { a.TokenParams = nil }},
	{"auth.pkce", oauth2Only, func(a *OAuth2) bool { return a.PKCE != nil && !*a.PKCE }, func(a *OAuth2) { a.PKCE = nil }},
	{"auth.sendScopeOnRefresh", oauth2Only, func(a *OAuth2) bool { return a.SendScopeOnRefresh }, func(a *OAuth2) { a.SendScopeOnRefresh = false }},
	{"auth.refreshClientAuthentication", oauth2Only, func(a *OAuth2) bool { return a.RefreshClientAuthentication != "" },
		func(a *OAuth2) { a.RefreshClientAuthentication = "" }},
	{"auth.expiresInDefault", oauth2Only, func(a *OAuth2) bool { return a.ExpiresInDefault != 0 && a.ExpiresInDefault != DefaultExpiresInSeconds },
		func(a *OAuth2) { a.ExpiresInDefault = 0 }},
	{"auth.exposeToken", tokenExposing, func(a *OAuth2) bool { return a.ExposeToken }, func(a *OAuth2) { a.ExposeToken = false }},
	sec("auth.privateKey", oauth2Only, func(a *OAuth2) *Secret { return &a.PrivateKey }),
	str("auth.clientCertificate", oauth2Only, func(a *OAuth2) *string { return &a.ClientCertificate }),
	str("auth.keyId", oauth2Only, func(a *OAuth2) *string { return &a.KeyID }),
	str("auth.subject", oauth2Only, func(a *OAuth2) *string { return &a.Subject }),
	sec("auth.serviceAccountJson", oauth2Only, func(a *OAuth2) *Secret { return &a.ServiceAccountJSON }),
	str("auth.subjectTokenType", oauth2Only, func(a *OAuth2) *string { return &a.SubjectTokenType }),
	str("auth.requestedTokenType", oauth2Only, func(a *OAuth2) *string { return &a.RequestedTokenType }),
	{"auth.scopeSeparator", oauth2Only, func(a *OAuth2) bool { return a.ScopeSeparator != "" && a.ScopeSeparator != DefaultScopeSeparator },
		func(a *OAuth2) { a.ScopeSeparator = "" }},
	str("auth.scopeParam", oauth2Only, func(a *OAuth2) *string { return &a.ScopeParam }),
	{"auth.tokenResponse", oauth2Only, func(a *OAuth2) bool { return !a.TokenResponse.IsZero() }, func(a *OAuth2) { a.TokenResponse = TokenResponse{} }},
	{"auth.refreshOnStatus", oauth2Only, func(a *OAuth2) bool {
		return len(a.RefreshOnStatus) > 0 && !slices.Equal(a.RefreshOnStatus, DefaultRefreshOnStatus)
	}, func(a *OAuth2) { a.RefreshOnStatus = nil }},

	orDefault("auth.tokenPlacement", tokenPlacing, string(PlacementHeader), func(a *OAuth2) *string { return (*string)(&a.TokenPlacement) }),
	orDefault("auth.headerName", tokenPlacing, DefaultHeaderName, func(a *OAuth2) *string { return &a.HeaderName }),
	{"auth.headerPrefix", tokenPlacing, func(a *OAuth2) bool { return a.HeaderPrefix != nil && *a.HeaderPrefix != DefaultHeaderPrefix },
		func(a *OAuth2) { a.HeaderPrefix = nil }},
	orDefault("auth.queryParamName", tokenPlacing, DefaultQueryParamName, func(a *OAuth2) *string { return &a.QueryParamName }),

	sec("auth.apiKey", []AuthType{AuthAPIKey}, func(a *OAuth2) *Secret { return &a.APIKey }),
	str("auth.username", []AuthType{AuthBasic}, func(a *OAuth2) *string { return &a.Username }),
	sec("auth.password", []AuthType{AuthBasic}, func(a *OAuth2) *Secret { return &a.Password }),
	sec("auth.token", []AuthType{AuthBearer}, func(a *OAuth2) *Secret { return &a.Token }),
	sec("auth.accessKeyId", []AuthType{AuthAWSSigV4}, func(a *OAuth2) *Secret { return &a.AccessKeyID }),
	sec("auth.secretAccessKey", []AuthType{AuthAWSSigV4}, func(a *OAuth2) *Secret { return &a.SecretAccessKey }),
	sec("auth.sessionToken", []AuthType{AuthAWSSigV4}, func(a *OAuth2) *Secret { return &a.SessionToken }),
	str("auth.region", []AuthType{AuthAWSSigV4}, func(a *OAuth2) *string { return &a.Region }),
	str("auth.service", []AuthType{AuthAWSSigV4}, func(a *OAuth2) *string { return &a.Service }),
}

// UsesField reports whether a datasource of type t uses the auth field
// named by its API path ("auth.apiKey"). Fields every type uses (type,
// tlsCACert, the upstream certificate and key) and names of no auth field
// report true.
func UsesField(t AuthType, field string) bool {
	for _, f := range authFields {
		if f.name == field {
			return slices.Contains(f.types, t)
		}
	}
	return true
}

// normalizeType is Normalize for a type other than OAuth 2.0: the fields
// of other types that hold nothing but a default are emptied (a field
// with a value is left for Validate to name), and the type's own defaults
// are filled.
func (a *OAuth2) normalizeType() {
	for _, f := range authFields {
		if !slices.Contains(f.types, a.Type) && !f.set(a) {
			f.clear(a)
		}
	}
	a.Username = strings.TrimSpace(a.Username)
	a.Region = strings.TrimSpace(a.Region)
	a.Service = strings.TrimSpace(a.Service)
	if a.Type == AuthAPIKey {
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
	}
}

// validateAuth checks auth for its type: the type itself, the fields of
// other types (refused when they hold a value), and the type's own.
func (a *OAuth2) validateAuth(v *ValidationError, perUser bool, templated []string) {
	t := a.Kind()
	if !slices.Contains(AuthTypes, t) {
		v.add("auth.type", "must be one of %s", quoteList(AuthTypes))
		return
	}
	for _, f := range authFields {
		if !slices.Contains(f.types, t) && f.set(a) {
			v.add(f.name, "is not used by auth type %q: remove it", t)
		}
	}
	if t == AuthOAuth2 {
		a.validate(v, templated)
		return
	}
	c := a.Credential()
	if perUser {
		// Each end user brings their own, on the connect page.
		for _, f := range credentialFields[t] {
			if (f.Name == "username" && c.Username != "") || (f.Name != "username" && !c.Field(f.Name).IsZero()) {
				v.add("auth."+f.Name, "must be empty for a per-user datasource: each end user enters their own on the connect page")
			}
		}
	} else {
		checkCredential(v, "auth.", t, &c, true, true)
	}
	switch t {
	case AuthAPIKey:
		a.validatePlacement(v)
	case AuthAWSSigV4:
		for _, f := range []struct{ name, val, example string }{{"auth.region", a.Region, "us-east-1"}, {"auth.service", a.Service, "execute-api, s3, es"}} {
			if !awsName(f.val) {
				v.add(f.name, "is required: lower-case letters, digits and - (e.g. %s)", f.example)
			}
		}
	}
	if a.TLSCACert != "" {
		if err := checkPEM(a.TLSCACert); err != nil {
			v.add("auth.tlsCACert", "%v", err)
		}
	}
	a.validateUpstream(v)
}

// awsName reports whether s can be an AWS region or service name in a
// credential scope: 1–64 of a–z, 0–9 and -.
func awsName(s string) bool {
	if s == "" || len(s) > maxRegionLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// SecretBoundToURL reports whether the write-only field (see SecretFields)
// is sent to the datasource's url — a static type's credential, the
// upstream private key — rather than to its token or authorization
// endpoint: moving url to another origin needs it given again.
func SecretBoundToURL(field string) bool {
	switch field {
	case "auth.upstreamPrivateKey", "auth.apiKey", "auth.password", "auth.token", "auth.accessKeyId", "auth.secretAccessKey", "auth.sessionToken":
		return true
	}
	return false
}
