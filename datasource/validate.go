package datasource

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError is one problem with one field, named by its JSON path
// (auth.accessTokenUrl, auth.customAuthParams.state).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a datasource. Validate
// returns it as error; use errors.As to reach the list.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + ": " + f.Message
	}
	return "datasource: invalid: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Limits on field sizes. They keep records small and error messages short.
const (
	MaxNameLen     = 100
	maxURLLen      = 2048
	maxValueLen    = 4096
	maxParams      = 50
	maxCACertLen   = 64 << 10
	maxExpiresIn   = 365 * 24 * 3600
	maxHeaderValue = 256
)

// Parameters a user may not set through customAuthParams or tokenParams:
// grantd owns them, and letting them through would break or subvert the
// flow (a custom redirect_uri or state, say).
var (
	reservedAuthParams  = []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope"}
	reservedTokenParams = []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret", "scope", "client_assertion", "client_assertion_type",
		"assertion", "subject_token", "subject_token_type", "requested_token_type", "actor_token", "actor_token_type"}
	// Headers the token may not be placed in: they frame the request.
	forbiddenHeaders = []string{"host", "content-length", "transfer-encoding", "connection", "cookie", "te", "trailer", "upgrade", "keep-alive", "proxy-authorization", "proxy-connection"}
)

// Validate checks d after Normalize and returns a *ValidationError naming
// every problem, or nil. It does not check that the name is unique; the
// Store does.
func (d *Datasource) Validate() error {
	v := &ValidationError{}
	switch n := utf8.RuneCountInString(d.Name); {
	case d.Name == "":
		v.add("name", "is required")
	case n > MaxNameLen:
		v.add("name", "must be at most %d characters (got %d)", MaxNameLen, n)
	case !utf8.ValidString(d.Name) || strings.IndexFunc(d.Name, unicode.IsControl) >= 0:
		v.add("name", "must not contain control characters")
	}
	checked := d.checkTemplates(v)
	if !slices.Contains(checked, "url") {
		checkURL(v, "url", d.URL, true, false)
	}
	if len(d.Provider) > 64 || d.Provider != "" && !validConfigName(d.Provider) {
		v.add("provider", "must be a provider name from GET /api/v1/providers (letters, digits, _ and -)")
	}
	if n := utf8.RuneCountInString(d.Description); n > MaxDescriptionLen || !utf8.ValidString(d.Description) || hasControlExceptNewline(d.Description) {
		v.add("description", "must be at most %d characters without control characters", MaxDescriptionLen)
	}
	switch {
	case !slices.Contains(ConnectionModes, d.ConnectionMode):
		v.add("connectionMode", `must be "shared" or "perUser"`)
	case d.ConnectionMode == PerUser && d.Auth.Kind() == AuthOAuth2 && d.Auth.GrantType == ClientCredentials:
		v.add("connectionMode", "client_credentials acts for the client itself, not for an end user: it can only be shared")
	case d.ConnectionMode == PerUser && d.Auth.Kind() == AuthNone:
		v.add("connectionMode", `auth type "none" has no credential for end users to bring: it can only be shared`)
	}
	checkConfig(v, "connectionConfig", d.ConnectionConfig)
	d.HealthCheck.validate(v)
	d.Auth.validateAuth(v, d.PerUser(), checked)
	if len(v.Errors) == 0 {
		return nil
	}
	return v
}

// MaxDescriptionLen bounds a datasource's description.
const MaxDescriptionLen = 2000

// checkConfig checks connectionConfig: names like identifiers, values
// short and printable (they fill URL templates, which check them again
// for the place they go).
func checkConfig(v *ValidationError, field string, m map[string]string) {
	if len(m) > maxParams {
		v.add(field, "must have at most %d entries", maxParams)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !validConfigName(k) {
			v.add(field, "name %q must be 1–64 letters, digits, _ or -, starting with a letter", truncate(k, 40))
			continue
		}
		if val := m[k]; len(val) > maxURLLen || hasControl(val) {
			v.add(field+"."+k, "must be at most %d printable characters", maxURLLen)
		}
	}
}

// validConfigName reports whether n can name a connectionConfig value.
func validConfigName(n string) bool {
	if n == "" || len(n) > 64 || !(n[0] >= 'a' && n[0] <= 'z' || n[0] >= 'A' && n[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func hasControlExceptNewline(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0
}

func (h *HealthCheck) validate(v *ValidationError) {
	if h == nil {
		return
	}
	switch h.Method {
	case "GET", "HEAD", "POST", "OPTIONS":
	default:
		v.add("healthCheck.method", `must be GET, HEAD, POST or OPTIONS`)
	}
	if !strings.HasPrefix(h.Path, "/") || len(h.Path) > maxURLLen || hasControl(h.Path) || strings.ContainsAny(h.Path, " #\\") {
		v.add("healthCheck.path", `must be a path starting with "/", relative to the datasource's url`)
	}
	if len(h.ExpectStatus) > 20 {
		v.add("healthCheck.expectStatus", "must list at most 20 statuses")
	}
	for _, s := range h.ExpectStatus {
		if s < 100 || s > 599 {
			v.add("healthCheck.expectStatus", "must hold HTTP statuses (100–599)")
			break
		}
	}
	if h.IntervalSeconds != 0 && (h.IntervalSeconds < int(MinHealthInterval.Seconds()) || h.IntervalSeconds > maxExpiresIn) {
		v.add("healthCheck.intervalSeconds", "must be between %d and %d seconds", int(MinHealthInterval.Seconds()), maxExpiresIn)
	}
}

// validate checks the OAuth 2.0 configuration; templated is the URL
// fields checkTemplates checked already.
func (a *OAuth2) validate(v *ValidationError, templated []string) {
	switch {
	case a.GrantType == "":
		v.add("auth.grantType", "is required (one of %s)", quoteList(GrantTypes))
	case !slices.Contains(GrantTypes, a.GrantType):
		v.add("auth.grantType", "must be one of %s", quoteList(GrantTypes))
	}
	if !slices.Contains(templated, "auth.accessTokenUrl") {
		checkURL(v, "auth.accessTokenUrl", a.AccessTokenURL, true, true)
	}
	if !slices.Contains(templated, "auth.authorizationUrl") {
		if a.GrantType == AuthorizationCode {
			checkURL(v, "auth.authorizationUrl", a.AuthorizationURL, true, true)
		} else if a.AuthorizationURL != "" {
			checkURL(v, "auth.authorizationUrl", a.AuthorizationURL, false, true)
		}
		checkQueryReserved(v, "auth.authorizationUrl", a.AuthorizationURL, reservedAuthParams)
	}
	switch {
	case a.ClientID == "":
		v.add("auth.clientId", "is required")
	case len(a.ClientID) > maxValueLen:
		v.add("auth.clientId", "must be at most %d bytes", maxValueLen)
	case hasControl(a.ClientID):
		v.add("auth.clientId", "must not contain control characters")
	}
	_, _, isRef, badRef := ParseSecretRef(a.ClientSecret.Reveal())
	switch {
	case a.ClientSecret.IsZero() && a.GrantType == ClientCredentials && !a.keyAuthenticates():
		v.add("auth.clientSecret", "is required for client_credentials (or a privateKey with clientAuthentication private_key_jwt or tls_client_auth)")
	case isRef && badRef != "":
		v.add("auth.clientSecret", "%s", badRef)
	case len(a.ClientSecret.Reveal()) > maxValueLen:
		v.add("auth.clientSecret", "must be at most %d bytes", maxValueLen)
	case hasControl(a.ClientSecret.Reveal()):
		v.add("auth.clientSecret", "must not contain control characters")
	}
	if len(a.Scope) > maxValueLen {
		v.add("auth.scope", "must be at most %d bytes", maxValueLen)
	} else {
		for _, s := range ParseScope(a.Scope) {
			if !validScopeToken(s) {
				v.add("auth.scope", "scope %q has characters RFC 6749 §3.3 does not allow", s)
				break
			}
		}
	}
	switch a.ScopeSeparator {
	case " ", ",":
	default:
		v.add("auth.scopeSeparator", `must be " " (a space, RFC 6749 §3.3) or ","`)
	}
	if p := a.ScopeParam; p != "" {
		if len(p) > 64 || !allBytes(p, isTokenChar) {
			v.add("auth.scopeParam", "must be a query parameter name of at most 64 characters")
		} else if slices.Contains(reservedAuthParams, strings.ToLower(p)) && p != "scope" {
			v.add("auth.scopeParam", "cannot be %q: grantd sets it", p)
		} else if _, ok := a.CustomAuthParams[p]; ok {
			v.add("auth.scopeParam", "is also set in customAuthParams")
		}
	}
	checkClientAuth(v, "auth.clientAuthentication", a.ClientAuthentication, false)
	checkClientAuth(v, "auth.refreshClientAuthentication", a.RefreshClientAuthentication, true)
	a.validateKeys(v)
	a.validatePlacement(v)
	if len(a.Audience) > maxValueLen || hasControl(a.Audience) {
		v.add("auth.audience", "must be at most %d printable characters", maxValueLen)
	}
	if a.Resource != "" {
		// RFC 8707 §2: an absolute URI without a fragment.
		checkURL(v, "auth.resource", a.Resource, false, false)
	}
	checkParams(v, "auth.customAuthParams", a.CustomAuthParams, reservedAuthParams)
	checkParams(v, "auth.tokenParams", a.TokenParams, reservedTokenParams)
	if a.TLSCACert != "" {
		if err := checkPEM(a.TLSCACert); err != nil {
			v.add("auth.tlsCACert", "%v", err)
		}
	}
	a.TokenResponse.validate(v)
	if len(a.RefreshOnStatus) > 10 {
		v.add("auth.refreshOnStatus", "must list at most 10 statuses")
	}
	for _, s := range a.RefreshOnStatus {
		if s < 400 || s > 599 {
			v.add("auth.refreshOnStatus", "must hold HTTP error statuses (400–599); got %d", s)
			break
		}
	}
	if a.ExpiresInDefault < 0 || a.ExpiresInDefault > maxExpiresIn {
		v.add("auth.expiresInDefault", "must be between 0 and %d seconds", maxExpiresIn)
	}
	if a.PKCE != nil && !*a.PKCE && a.GrantType == AuthorizationCode && a.ClientSecret.IsZero() && !a.keyAuthenticates() {
		v.add("auth.pkce", "cannot be off for a public client (no clientSecret): nothing would protect the code")
	}
}

// validatePlacement checks where the token (or API key) goes.
func (a *OAuth2) validatePlacement(v *ValidationError) {
	switch a.TokenPlacement {
	case PlacementHeader:
		checkHeaderName(v, a.HeaderName)
		if p := a.Prefix(); len(p) > maxHeaderValue || strings.ContainsAny(p, "\r\n\x00") || hasControl(p) {
			v.add("auth.headerPrefix", "must be at most %d printable characters", maxHeaderValue)
		}
	case PlacementQuery:
		if a.QueryParamName == "" || len(a.QueryParamName) > maxHeaderValue || hasControl(a.QueryParamName) {
			v.add("auth.queryParamName", "must be 1–%d printable characters", maxHeaderValue)
		}
	default:
		v.add("auth.tokenPlacement", `must be "header" or "query"`)
	}
}

// checkURL requires an absolute http or https URL with a host, without user
// information (credentials in a URL would be stored and logged in clear) and
// without a fragment. A query is allowed where allowQuery is set.
func checkURL(v *ValidationError, field, raw string, required, allowQuery bool) {
	if raw == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if len(raw) > maxURLLen {
		v.add(field, "must be at most %d bytes", maxURLLen)
		return
	}
	if hasControl(raw) || strings.ContainsAny(raw, " \\") {
		v.add(field, "must be an absolute http or https URL without spaces, backslashes or control characters")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.add(field, "must be an absolute http or https URL")
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(field, "must be an absolute http or https URL (got scheme %q)", truncate(u.Scheme, 20))
	case u.Host == "" || u.Hostname() == "":
		v.add(field, "must be an absolute http or https URL with a host")
	case u.User != nil:
		v.add(field, "must not contain user information; put credentials in clientId and clientSecret")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		v.add(field, "must not contain a fragment")
	case !allowQuery && (u.RawQuery != "" || u.ForceQuery):
		v.add(field, "must not contain a query")
	case !validPort(u.Port()):
		v.add(field, "has an invalid port")
	}
}

// checkQueryReserved refuses reserved parameters in a URL's own query:
// they would land ahead of the ones grantd sets (a redirect_uri or state
// of the datasource owner's choosing).
func checkQueryReserved(v *ValidationError, field, raw string, reserved []string) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		v.add(field, "has a query that does not parse")
		return
	}
	for k := range q {
		if slices.Contains(reserved, strings.ToLower(k)) {
			v.add(field, "must not set %q in its query: grantd sets it", k)
			return
		}
	}
}

func validPort(p string) bool {
	if p == "" {
		return true
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return false
		}
	}
	return n > 0
}

func checkClientAuth(v *ValidationError, field string, c ClientAuth, emptyOK bool) {
	switch {
	case slices.Contains(ClientAuths, c):
	case c == "" && emptyOK:
	default:
		v.add(field, "must be one of %s", quoteList(ClientAuths))
	}
}

func checkHeaderName(v *ValidationError, name string) {
	if name == "" || len(name) > maxHeaderValue {
		v.add("auth.headerName", "must be 1–%d characters", maxHeaderValue)
		return
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			v.add("auth.headerName", "must be an HTTP header name (RFC 9110 token characters)")
			return
		}
	}
	if slices.Contains(forbiddenHeaders, strings.ToLower(name)) {
		v.add("auth.headerName", "cannot be %q: that header frames the request", name)
	}
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func checkParams(v *ValidationError, field string, m map[string]string, reserved []string) {
	if len(m) > maxParams {
		v.add(field, "must have at most %d entries", maxParams)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // stable error order
	for _, k := range keys {
		f := field + "." + k
		switch {
		case k == "" || len(k) > maxHeaderValue || hasControl(k):
			v.add(field, "parameter names must be 1–%d printable characters", maxHeaderValue)
		case slices.Contains(reserved, strings.ToLower(k)):
			v.add(f, "is set by grantd and cannot be overridden")
		case len(m[k]) > maxValueLen || hasControl(m[k]):
			v.add(f, "must be at most %d printable characters", maxValueLen)
		}
	}
}

func checkPEM(s string) error {
	if len(s) > maxCACertLen {
		return fmt.Errorf("must be at most %d bytes", maxCACertLen)
	}
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("must hold only CERTIFICATE PEM blocks (found %q)", truncate(b.Type, 40))
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("holds a certificate that does not parse")
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("must be a PEM-encoded CA certificate")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("has text after the last PEM block")
	}
	return nil
}

func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func quoteList[T ~string](xs []T) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = `"` + string(x) + `"`
	}
	return strings.Join(q, ", ")
}
