package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/datasource"
)

// required lists the providers DESIGN.md names (wave 2, "Provider quirks,
// declared") as the catalogue's minimum.
var required = []string{
	"google", "microsoft", "github", "salesforce", "slack", "hubspot",
	"atlassian", "zendesk", "shopify", "notion", "dropbox", "box", "zoom",
	"linear", "asana", "quickbooks", "xero", "okta", "auth0", "cognito",
	"vectara",
	// Issue 22: the catalogue names APIs of other auth types too.
	"vectara-api-key", "openai",
}

// Parameters grantd owns, as package datasource refuses them in
// customAuthParams and tokenParams.
var (
	reservedAuth  = []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope"}
	reservedToken = []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret", "scope", "client_assertion", "client_assertion_type"}
)

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	hostSafeRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
)

// tokenExample is the value a {token.…} placeholder gets in tests: the
// host of a kept URL (see the Salesforce entry's notes).
const tokenExample = "example.my.salesforce.com"

// expand fills a template's placeholders with the entry's examples.
func expand(t *testing.T, e *Entry, tmpl string) string {
	t.Helper()
	names, err := placeholders(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	out := tmpl
	for _, n := range names {
		v := tokenExample
		if !isTokenPlaceholder(n) {
			i := slices.IndexFunc(e.ConnectionConfig, func(f ConfigField) bool { return f.Name == n })
			if i < 0 {
				t.Fatalf("%s: placeholder {%s} in %q is not declared", e.Name, n, tmpl)
			}
			v = e.ConnectionConfig[i].Example
		}
		out = strings.ReplaceAll(out, "{"+n+"}", v)
	}
	return out
}

func TestCatalogueCoversDesign(t *testing.T) {
	for _, name := range required {
		if _, err := Lookup(name); err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
		}
	}
	if got := len(All()); got < len(required) {
		t.Errorf("len(All()) = %d, want at least %d", got, len(required))
	}
}

func TestEntries(t *testing.T) {
	for _, e := range All() {
		t.Run(e.Name, func(t *testing.T) {
			checkIdentity(t, e)
			checkGrants(t, e)
			checkTemplates(t, e)
			checkScopes(t, e)
			checkParams(t, e)
			checkTokenAnswer(t, e)
			for i, n := range e.Notes {
				if strings.TrimSpace(n) == "" {
					t.Errorf("Notes[%d] is empty", i)
				}
			}
		})
	}
}

func checkIdentity(t *testing.T, e *Entry) {
	t.Helper()
	if !nameRe.MatchString(e.Name) {
		t.Errorf("Name %q: want lower-case letters, digits and hyphens", e.Name)
	}
	for _, a := range e.Aliases {
		if !nameRe.MatchString(a) {
			t.Errorf("alias %q: want lower-case letters, digits and hyphens", a)
		}
	}
	if e.Title == "" || e.Description == "" {
		t.Errorf("Title %q, Description %q: both required", e.Title, e.Description)
	}
	if strings.Contains(e.Description, "\n") {
		t.Errorf("Description must be one line")
	}
	for _, d := range append([]string{e.Docs}, e.References...) {
		u, err := url.Parse(d)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			t.Errorf("documentation %q: want an absolute https URL", d)
		}
	}
}

func checkGrants(t *testing.T, e *Entry) {
	t.Helper()
	if !e.OAuth2() {
		checkStatic(t, e)
		return
	}
	if len(e.GrantTypes) == 0 {
		t.Fatalf("no grant type")
	}
	known := slices.Clone(datasource.GrantTypes)
	for i, g := range e.GrantTypes {
		if !slices.Contains(known, g) {
			t.Errorf("grant type %q is unknown", g)
		}
		if slices.Index(e.GrantTypes, g) != i {
			t.Errorf("grant type %q listed twice", g)
		}
	}
	if e.AccessTokenURL == "" {
		t.Errorf("AccessTokenURL is required")
	}
	if slices.Contains(e.GrantTypes, datasource.AuthorizationCode) != (e.AuthorizationURL != "") {
		t.Errorf("AuthorizationURL %q: want one exactly when authorization_code is supported", e.AuthorizationURL)
	}
	switch e.ClientAuthentication {
	case datasource.ClientAuthBasic, datasource.ClientAuthBody:
	default:
		t.Errorf("ClientAuthentication %q: want basic or body", e.ClientAuthentication)
	}
	switch e.PKCE {
	case PKCEUnknown, PKCESupported, PKCERequired, PKCEUnsupported:
	default:
		t.Errorf("PKCE %q is not a PKCE value", e.PKCE)
	}
}

func checkTemplates(t *testing.T, e *Entry) {
	t.Helper()
	for _, tmpl := range e.templates() {
		names, err := placeholders(tmpl)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, n := range names {
			if k, ok := strings.CutPrefix(n, tokenPrefix); ok && !slices.Contains(e.TokenResponse.Keep, k) {
				t.Errorf("%q uses {%s} but TokenResponse.Keep lacks %q", tmpl, n, k)
			}
		}
		raw := expand(t, e, tmpl)
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			t.Errorf("%q → %q: %v", tmpl, raw, err)
		case u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "":
			t.Errorf("%q → %q: want an absolute https URL without user or fragment", tmpl, raw)
		case strings.ContainsAny(raw, "{} "):
			t.Errorf("%q → %q: left-over braces or spaces", tmpl, raw)
		}
		if tmpl == e.AuthorizationURL && u != nil {
			for _, p := range reservedAuth {
				if u.Query().Has(p) {
					t.Errorf("AuthorizationURL sets reserved parameter %q", p)
				}
			}
		}
	}
	var declared []string
	for _, f := range e.ConnectionConfig {
		if slices.Contains(declared, f.Name) {
			t.Errorf("ConnectionConfig declares %q twice", f.Name)
		}
		declared = append(declared, f.Name)
		if !validPlaceholder(f.Name) || isTokenPlaceholder(f.Name) {
			t.Errorf("ConnectionConfig name %q is not a placeholder name", f.Name)
		}
		if f.Description == "" || !hostSafeRe.MatchString(f.Example) {
			t.Errorf("ConnectionConfig %q: want a description and a host-safe example (got %q)", f.Name, f.Example)
		}
	}
	used := e.Placeholders()
	for _, n := range used {
		if !slices.Contains(declared, n) {
			t.Errorf("placeholder {%s} is not declared in ConnectionConfig", n)
		}
	}
	for _, n := range declared {
		if !slices.Contains(used, n) {
			t.Errorf("ConnectionConfig %q is used by no URL template", n)
		}
	}
}

// checkStatic checks an entry of a static auth type: a type package
// datasource knows, an API URL (the credential is sent there), and none
// of OAuth 2.0's fields, which such a datasource refuses.
func checkStatic(t *testing.T, e *Entry) {
	t.Helper()
	if !slices.Contains(datasource.AuthTypes, e.AuthType) {
		t.Errorf("AuthType %q is unknown", e.AuthType)
	}
	if e.URL == "" {
		t.Errorf("URL is required: a fixed credential is sent to the API's own origin")
	}
	oauth := map[string]bool{
		"GrantTypes": len(e.GrantTypes) > 0, "AuthorizationURL": e.AuthorizationURL != "", "AccessTokenURL": e.AccessTokenURL != "",
		"RevocationURL": e.RevocationURL != "", "ScopeSeparator": e.ScopeSeparator != "", "ScopeParam": e.ScopeParam != "",
		"DefaultScopes": len(e.DefaultScopes) > 0, "ClientAuthentication": e.ClientAuthentication != "", "PKCE": e.PKCE != PKCEUnknown,
		"CustomAuthParams": len(e.CustomAuthParams) > 0, "TokenParams": len(e.TokenParams) > 0, "TokenResponse": !e.TokenResponse.IsZero(),
		"RefreshOnStatus": len(e.RefreshOnStatus) > 0, "ExpiresInDefault": e.ExpiresInDefault != 0,
		"RefreshTokenRotates": e.RefreshTokenRotates, "NoRefreshTokenOnRefresh": e.NoRefreshTokenOnRefresh,
	}
	for f, set := range oauth {
		if set {
			t.Errorf("%s is an OAuth 2.0 field: an %s entry leaves it empty", f, e.AuthType)
		}
	}
	if e.AuthType != datasource.AuthAPIKey && (e.TokenPlacement != "" || e.HeaderName != "" || e.HeaderPrefix != nil) {
		t.Errorf("placement is for apiKey entries only")
	}
}

func checkScopes(t *testing.T, e *Entry) {
	t.Helper()
	if !e.OAuth2() {
		return // checkStatic: no scopes
	}
	if e.ScopeSeparator != " " && e.ScopeSeparator != "," {
		t.Errorf("ScopeSeparator %q: want \" \" or \",\"", e.ScopeSeparator)
	}
	if e.ScopeParam != "" && (e.ScopeParam == "scope" || slices.Contains(reservedAuth, e.ScopeParam)) {
		t.Errorf("ScopeParam %q: leave empty for scope; may not be reserved", e.ScopeParam)
	}
	for _, s := range e.DefaultScopes {
		if got := datasource.ParseScope(s); len(got) != 1 || got[0] != s {
			t.Errorf("default scope %q is not one scope token", s)
		}
	}
}

func checkParams(t *testing.T, e *Entry) {
	t.Helper()
	for k, v := range e.CustomAuthParams {
		if slices.Contains(reservedAuth, k) || k == e.ScopeParam || v == "" {
			t.Errorf("CustomAuthParams %q=%q: reserved or empty", k, v)
		}
	}
	for k, v := range e.TokenParams {
		if slices.Contains(reservedToken, k) || v == "" {
			t.Errorf("TokenParams %q=%q: reserved or empty", k, v)
		}
	}
}

func checkTokenAnswer(t *testing.T, e *Entry) {
	t.Helper()
	tr := e.TokenResponse
	for _, p := range []string{tr.AccessTokenPath, tr.RefreshTokenPath, tr.ExpiresInPath} {
		if p != "" && !validPointer(p) {
			t.Errorf("%q is not an RFC 6901 JSON Pointer", p)
		}
	}
	for _, k := range tr.Keep {
		if k == "" || strings.ContainsAny(k, "/{} ") {
			t.Errorf("Keep %q: want a top-level field name", k)
		}
	}
	if e.RefreshTokenRotates && e.NoRefreshTokenOnRefresh {
		t.Errorf("RefreshTokenRotates and NoRefreshTokenOnRefresh contradict each other")
	}
	if e.ExpiresInDefault < 0 || e.ExpiresInDefault > 365*24*3600 {
		t.Errorf("ExpiresInDefault %d: want 0 to a year", e.ExpiresInDefault)
	}
	for _, s := range e.RefreshOnStatus {
		if s < 400 || s > 599 {
			t.Errorf("RefreshOnStatus %d: want an error status", s)
		}
	}
}

// validPointer reports whether p is a JSON Pointer (RFC 6901 §3): empty,
// or "/"-prefixed reference tokens in which "~" is always followed by 0
// or 1.
func validPointer(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || p[i+1] != '0' && p[i+1] != '1') {
			return false
		}
	}
	return true
}

func TestValidPointer(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"", true},
		{"/authed_user/access_token", true},
		{"/a~1b/c~0d", true},
		{"/", true},
		{"authed_user/access_token", false},
		{"/a~2", false},
		{"/a~", false},
	} {
		if got := validPointer(tc.p); got != tc.want {
			t.Errorf("validPointer(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

// TestEntriesValidateAsDatasources fills a datasource from each entry
// with Fill, the way the engine does, with the entry's example
// connectionConfig, and checks that package datasource accepts it,
// templates and all: an entry must not carry anything a datasource would
// refuse.
func TestEntriesValidateAsDatasources(t *testing.T) {
	// jwt_bearer signs with a key, which an entry never carries: the
	// owner brings it.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for _, e := range All() {
		if !e.OAuth2() {
			checkStaticValidates(t, e)
			continue
		}
		for _, g := range e.GrantTypes {
			for _, mode := range []datasource.ConnectionMode{datasource.Shared, datasource.PerUser} {
				if mode == datasource.PerUser && g == datasource.ClientCredentials {
					continue
				}
				d := &datasource.Datasource{
					Name:           e.Title,
					Provider:       strings.ToUpper(e.Name),
					ConnectionMode: mode,
					Auth: datasource.OAuth2{
						GrantType:    g,
						ClientID:     "client-id",
						ClientSecret: datasource.NewSecret("client-secret"),
					},
				}
				if e.URL == "" {
					d.URL = "https://api.example.com"
				}
				if len(e.ConnectionConfig) > 0 {
					d.ConnectionConfig = map[string]string{}
					for _, f := range e.ConnectionConfig {
						d.ConnectionConfig[f.Name] = f.Example
					}
				}
				if g == datasource.JWTBearer {
					d.Auth.PrivateKey = datasource.NewSecret(keyPEM)
				}
				if err := Fill(d); err != nil {
					t.Fatal(err)
				}
				d.Normalize()
				if err := d.Validate(); err != nil {
					t.Errorf("%s with %s, %s: %v", e.Name, g, mode, err)
				}
				if d.Provider != e.Name {
					t.Errorf("%s: Provider = %q after Fill, want the catalogue key", e.Name, d.Provider)
				}
			}
		}
	}
}

// checkStaticValidates fills a datasource of a static entry the way the
// engine does, shared with the owner's credential and per user without
// one, and checks that package datasource accepts it, and that it gets
// the entry's type and no OAuth 2.0 field.
func checkStaticValidates(t *testing.T, e *Entry) {
	t.Helper()
	for _, mode := range []datasource.ConnectionMode{datasource.Shared, datasource.PerUser} {
		d := &datasource.Datasource{Name: e.Title, Provider: strings.ToUpper(e.Name), ConnectionMode: mode}
		if mode == datasource.Shared {
			for _, f := range datasource.CredentialFields(e.AuthType) {
				if f.Name == "username" {
					d.Auth.Username = "owner"
				} else if !f.Optional {
					setCredential(&d.Auth, f.Name, datasource.NewSecret("AKIAEXAMPLE0001"))
				}
			}
		}
		if err := Fill(d); err != nil {
			t.Fatal(err)
		}
		d.Normalize()
		if err := d.Validate(); err != nil {
			t.Errorf("%s, %s: %v", e.Name, mode, err)
		}
		if d.Auth.Kind() != e.AuthType || d.Auth.GrantType != "" || d.Auth.AccessTokenURL != "" || d.Provider != e.Name {
			t.Errorf("%s, %s: filled as %q, grant %q, token URL %q, provider %q", e.Name, mode, d.Auth.Kind(), d.Auth.GrantType, d.Auth.AccessTokenURL, d.Provider)
		}
	}
}

// setCredential sets the credential field named name (its JSON name) of
// a datasource's own auth.
func setCredential(a *datasource.OAuth2, name string, v datasource.Secret) {
	switch name {
	case "apiKey":
		a.APIKey = v
	case "password":
		a.Password = v
	case "token":
		a.Token = v
	case "accessKeyId":
		a.AccessKeyID = v
	case "secretAccessKey":
		a.SecretAccessKey = v
	case "sessionToken":
		a.SessionToken = v
	}
}
