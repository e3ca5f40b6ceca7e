package datasource

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const testCA = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIUQ3ANr5mO7VwRkUzUjJUDLq6TQ6IwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGdGVzdGNhMB4XDTI0MDEwMTAwMDAwMFoXDTM0MDEwMTAwMDAw
MFowETEPMA0GA1UEAwwGdGVzdGNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
-----END CERTIFICATE-----`

func validCC() *Datasource {
	d := &Datasource{
		Name: "Vectara",
		URL:  "https://api.vectara.io",
		Auth: OAuth2{
			GrantType:      ClientCredentials,
			AccessTokenURL: "https://vectara-prod-123.auth.us-west-2.amazoncognito.com/oauth2/token",
			ClientID:       "client",
			ClientSecret:   NewSecret("secret"),
			Scope:          "api/read, api/write",
		},
	}
	d.Normalize()
	return d
}

func validAC() *Datasource {
	d := &Datasource{
		Name: "GitHub",
		URL:  "https://api.github.com",
		Auth: OAuth2{
			GrantType:        AuthorizationCode,
			AccessTokenURL:   "https://github.com/login/oauth/access_token",
			AuthorizationURL: "https://github.com/login/oauth/authorize",
			ClientID:         "client",
			ClientSecret:     NewSecret("secret"),
			CustomAuthParams: map[string]string{"prompt": "consent", "access_type": "offline"},
		},
	}
	d.Normalize()
	return d
}

func fields(err error) []string {
	var v *ValidationError
	if !errors.As(err, &v) {
		return nil
	}
	var out []string
	for _, f := range v.Errors {
		out = append(out, f.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		base   func() *Datasource
		mutate func(d *Datasource)
		want   []string // fields named, in order; nil = valid
	}{
		{"client credentials ok", validCC, func(d *Datasource) {}, nil},
		{"authorization code ok", validAC, func(d *Datasource) {}, nil},
		{"public client with pkce ok", validAC, func(d *Datasource) { d.Auth.ClientSecret = Secret{} }, nil},
		{"query placement ok", validCC, func(d *Datasource) { d.Auth.TokenPlacement = PlacementQuery }, nil},
		{"http localhost ok", validCC, func(d *Datasource) { d.URL = "http://127.0.0.1:8080/v1" }, nil},
		{"ca cert ok", validCC, func(d *Datasource) { d.Auth.TLSCACert = mustCA(t) }, nil},
		{"empty", func() *Datasource { d := &Datasource{}; d.Normalize(); return d }, func(d *Datasource) {},
			[]string{"name", "url", "auth.grantType", "auth.accessTokenUrl", "auth.clientId"}},
		{"name too long", validCC, func(d *Datasource) { d.Name = strings.Repeat("é", 101) }, []string{"name"}},
		{"name 100 runes ok", validCC, func(d *Datasource) { d.Name = strings.Repeat("é", 100) }, nil},
		{"name control", validCC, func(d *Datasource) { d.Name = "a\x00b" }, []string{"name"}},
		{"javascript url", validCC, func(d *Datasource) { d.URL = "javascript:alert(1)" }, []string{"url"}},
		{"relative url", validCC, func(d *Datasource) { d.URL = "/api" }, []string{"url"}},
		{"ftp token url", validCC, func(d *Datasource) { d.Auth.AccessTokenURL = "ftp://x/token" }, []string{"auth.accessTokenUrl"}},
		{"userinfo in url", validCC, func(d *Datasource) { d.URL = "https://u:p@api.example.com" }, []string{"url"}},
		{"fragment", validCC, func(d *Datasource) { d.URL = "https://api.example.com/#x" }, []string{"url"}},
		{"query in base url", validCC, func(d *Datasource) { d.URL = "https://api.example.com/?a=b" }, []string{"url"}},
		{"query in token url ok", validCC, func(d *Datasource) { d.Auth.AccessTokenURL += "?tenant=a" }, nil},
		{"bad port", validCC, func(d *Datasource) { d.URL = "https://api.example.com:99999" }, []string{"url"}},
		{"no host", validCC, func(d *Datasource) { d.URL = "https://" }, []string{"url"}},
		{"space in url", validCC, func(d *Datasource) { d.URL = "https://api.example.com/a b" }, []string{"url"}},
		{"unknown grant", validCC, func(d *Datasource) { d.Auth.GrantType = "password" }, []string{"auth.grantType"}},
		{"cc needs secret", validCC, func(d *Datasource) { d.Auth.ClientSecret = Secret{} }, []string{"auth.clientSecret"}},
		{"ac needs authorization url", validAC, func(d *Datasource) { d.Auth.AuthorizationURL = "" }, []string{"auth.authorizationUrl"}},
		{"bad client auth", validCC, func(d *Datasource) { d.Auth.ClientAuthentication = "jwt" }, []string{"auth.clientAuthentication"}},
		{"bad refresh client auth", validCC, func(d *Datasource) { d.Auth.RefreshClientAuthentication = "x" }, []string{"auth.refreshClientAuthentication"}},
		{"bad placement", validCC, func(d *Datasource) { d.Auth.TokenPlacement = "body" }, []string{"auth.tokenPlacement"}},
		{"bad header name", validCC, func(d *Datasource) { d.Auth.HeaderName = "X Token" }, []string{"auth.headerName"}},
		{"framing header", validCC, func(d *Datasource) { d.Auth.HeaderName = "Host" }, []string{"auth.headerName"}},
		{"prefix with newline", validCC, func(d *Datasource) { d.Auth.HeaderPrefix = Ptr("Bearer\r\nX: y") }, []string{"auth.headerPrefix"}},
		{"bad scope char", validCC, func(d *Datasource) { d.Auth.Scope = `read "write"` }, []string{"auth.scope"}},
		{"redirect_uri in the authorization URL", validAC, func(d *Datasource) { d.Auth.AuthorizationURL += "?redirect_uri=https://evil.example/cb" }, []string{"auth.authorizationUrl"}},
		{"state in the authorization URL", validAC, func(d *Datasource) { d.Auth.AuthorizationURL += "?tenant=1&STATE=fixed" }, []string{"auth.authorizationUrl"}},
		{"response_type in the authorization URL", validAC, func(d *Datasource) { d.Auth.AuthorizationURL += "?response_type=token" }, []string{"auth.authorizationUrl"}},
		{"reserved auth param", validAC, func(d *Datasource) { d.Auth.CustomAuthParams["redirect_uri"] = "https://evil" }, []string{"auth.customAuthParams.redirect_uri"}},
		{"reserved token param", validCC, func(d *Datasource) { d.Auth.TokenParams = map[string]string{"Grant_Type": "password"} }, []string{"auth.tokenParams.Grant_Type"}},
		{"empty param name", validCC, func(d *Datasource) { d.Auth.TokenParams = map[string]string{"": "x"} }, []string{"auth.tokenParams"}},
		{"resource must be absolute", validCC, func(d *Datasource) { d.Auth.Resource = "api" }, []string{"auth.resource"}},
		{"resource ok", validCC, func(d *Datasource) { d.Auth.Resource = "https://api.example.com/" }, nil},
		{"bad pem", validCC, func(d *Datasource) { d.Auth.TLSCACert = "not a cert" }, []string{"auth.tlsCACert"}},
		{"truncated pem", validCC, func(d *Datasource) { d.Auth.TLSCACert = testCA }, []string{"auth.tlsCACert"}},
		{"negative expires", validCC, func(d *Datasource) { d.Auth.ExpiresInDefault = -1 }, []string{"auth.expiresInDefault"}},
		{"public client without pkce", validAC, func(d *Datasource) { f := false; d.Auth.PKCE = &f; d.Auth.ClientSecret = Secret{} }, []string{"auth.pkce"}},
		{"every problem at once", validAC, func(d *Datasource) {
			d.Name = ""
			d.URL = "nope"
			d.Auth.AccessTokenURL = "javascript:x"
			d.Auth.ClientID = ""
		}, []string{"name", "url", "auth.accessTokenUrl", "auth.clientId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.base()
			tt.mutate(d)
			err := d.Validate()
			got := fields(err)
			if err != nil && got == nil {
				t.Fatalf("Validate returned %T, want *ValidationError", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fields = %q, want %q (err: %v)", got, tt.want, err)
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	d := &Datasource{Name: "  x  "}
	d.Normalize()
	a := d.Auth
	if d.Name != "x" || a.ClientAuthentication != ClientAuthAuto || a.TokenPlacement != PlacementHeader ||
		a.HeaderName != "Authorization" || a.Prefix() != "Bearer" || a.QueryParamName != "access_token" ||
		!a.PKCEEnabled() || a.ExpiresInDefault != 3600 || a.CustomAuthParams == nil || a.TokenParams == nil {
		t.Errorf("Normalize left %+v", d)
	}
	before := *d.Clone()
	d.Normalize()
	if !d.Auth.SameGrant(&before.Auth) || d.Name != before.Name {
		t.Error("Normalize is not idempotent")
	}
}

// An omitted prefix is Bearer; "" (or white space) is no prefix at all.
func TestNormalizeHeaderPrefix(t *testing.T) {
	for _, tt := range []struct {
		in   *string
		want string
	}{{nil, "Bearer"}, {Ptr(""), ""}, {Ptr("  "), ""}, {Ptr(" Token "), "Token"}} {
		a := OAuth2{HeaderPrefix: tt.in}
		a.Normalize()
		if got := a.Prefix(); got != tt.want {
			t.Errorf("prefix %v: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSameGrant(t *testing.T) {
	a := validCC()
	b := a.Clone()
	b.Auth.TokenPlacement = PlacementQuery
	b.Auth.HeaderPrefix = Ptr("Token")
	b.Name = "other"
	b.Auth.Scope = "api/write api/read api/write" // the same set of scopes
	if !a.Auth.SameGrant(&b.Auth) {
		t.Error("placement, naming and scope order changes should keep the grant")
	}
	for name, mutate := range map[string]func(*OAuth2){
		"secret":    func(o *OAuth2) { o.ClientSecret = NewSecret("rotated") },
		"scope":     func(o *OAuth2) { o.Scope = "api/read" },
		"client":    func(o *OAuth2) { o.ClientID = "other" },
		"token url": func(o *OAuth2) { o.AccessTokenURL = "https://other/token" },
		"audience":  func(o *OAuth2) { o.Audience = "x" },
	} {
		c := a.Clone()
		mutate(&c.Auth)
		if a.Auth.SameGrant(&c.Auth) {
			t.Errorf("a new %s is a new grant", name)
		}
	}
}

func mustCA(t *testing.T) string {
	t.Helper()
	// A real self-signed CA generated at test time keeps the test honest.
	pem, err := generateTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return pem
}

// FuzzValidate decodes arbitrary JSON into a Datasource the way the API
// does, normalizes and validates it. It must never panic, Normalize must be
// idempotent, every error must name a field, and a datasource that passes
// must have absolute http(s) URLs with a host.
func FuzzValidate(f *testing.F) {
	seeds := []string{
		`{}`,
		`{"name":"Vectara","url":"https://api.vectara.io","auth":{"grantType":"client_credentials","accessTokenUrl":"https://x.auth.us-west-2.amazoncognito.com/oauth2/token","clientId":"a","clientSecret":"b","scope":"api/read, api/write"}}`,
		`{"name":"gh","url":"https://api.github.com","auth":{"grantType":"authorization_code","accessTokenUrl":"https://github.com/login/oauth/access_token","authorizationUrl":"https://github.com/login/oauth/authorize","clientId":"a","customAuthParams":{"prompt":"consent"},"pkce":true}}`,
		`{"name":"q","url":"http://[::1]:80/x","auth":{"grantType":"client_credentials","accessTokenUrl":"http://[::1]/t","clientId":"a","clientSecret":"b","tokenPlacement":"query","queryParamName":"key"}}`,
		`{"name":"","url":"javascript:alert(1)","auth":{"grantType":"implicit"}}`,
		`{"name":"x","url":"https://a%2f@b","auth":{"headerName":"Host","tokenParams":{"grant_type":"x"}}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Datasource
		if json.Unmarshal(b, &d) != nil {
			return
		}
		d.Normalize()
		err := d.Validate()
		c := d.Clone()
		c.Normalize()
		if err2 := c.Validate(); (err == nil) != (err2 == nil) {
			t.Fatalf("Normalize not idempotent: %v vs %v", err, err2)
		}
		if err != nil {
			var v *ValidationError
			if !errors.As(err, &v) || len(v.Errors) == 0 {
				t.Fatalf("error without fields: %v", err)
			}
			for _, fe := range v.Errors {
				if fe.Field == "" || fe.Message == "" {
					t.Fatalf("empty field error %+v", fe)
				}
			}
			return
		}
		for _, raw := range []string{d.URL, d.Auth.AccessTokenURL} {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
				t.Fatalf("valid datasource with bad URL %q", raw)
			}
		}
	})
}

func TestParseSecretRef(t *testing.T) {
	for _, tt := range []struct {
		in       string
		kind     SecretRefKind
		name     string
		ok, good bool
	}{
		{"plain-secret", "", "", false, true},
		{"${env:VECTARA_CLIENT_SECRET}", SecretRefEnv, "VECTARA_CLIENT_SECRET", true, true},
		{"${file:/run/secrets/x}", SecretRefFile, "/run/secrets/x", true, true},
		{"${env:1BAD}", "", "", true, false},
		{"${env:}", "", "", true, false},
		{"${file:relative}", "", "", true, false},
		{"${file:/a/../b}", "", "", true, false},
		{"${vault:x}", "", "", true, false},
		{"${env:X", "", "", true, false},
	} {
		kind, name, ok, bad := ParseSecretRef(tt.in)
		if ok != tt.ok || (bad == "") != tt.good || kind != tt.kind || name != tt.name {
			t.Errorf("ParseSecretRef(%q) = %q %q %v %q", tt.in, kind, name, ok, bad)
		}
	}
	d := validCC()
	d.Auth.ClientSecret = NewSecret("${env:bad-name}")
	if got := fields(d.Validate()); len(got) != 1 || got[0] != "auth.clientSecret" {
		t.Errorf("bad reference: %v", got)
	}
	if s := NewSecret("${env:OK}"); !s.IsRef() || s.Ref() != "${env:OK}" || NewSecret("x").Ref() != "" {
		t.Error("IsRef/Ref")
	}
}
