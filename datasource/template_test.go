package datasource

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		raw     string
		want    []Placeholder
		wantErr string // part of the message; "" = valid
	}{
		{"https://{subdomain}.zendesk.com/api/v2", []Placeholder{{Name: "subdomain", Where: InHost}}, ""},
		{"https://{domain}/oauth2/{server}/v1/token", []Placeholder{{Name: "domain", Where: InHost, WholeHost: true}, {Name: "server", Where: InPath}}, ""},
		{"https://{domain}:8443/token", []Placeholder{{Name: "domain", Where: InHost, WholeHost: true}}, ""},
		{"https://{token.instance_url}", []Placeholder{{Name: "token.instance_url", Where: InHost, WholeHost: true}}, ""},
		{"https://x-{a}-{b}.example.com", []Placeholder{{Name: "a", Where: InHost}, {Name: "b", Where: InHost}}, ""},
		{"{s}://example.com", nil, "scheme"},
		{"https://example.com:{port}/", nil, "port"},
		{"https://example.com/a?x={b}", nil, "query"},
		{"https://{user}@example.com/", nil, "user information"},
		{"https://{sub.example.com", nil, "unclosed"},
		{"https://sub}.example.com", nil, "'}'"},
		{"https://{sub-domain}.example.com", nil, "placeholder"},
		{"https://{}.example.com", nil, "placeholder"},
		{"ftp://{x}.example.com", nil, "scheme"},
	}
	for _, tc := range tests {
		got, err := ParseTemplate(tc.raw)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseTemplate(%q): %v", tc.raw, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseTemplate(%q) error = %v, want one about %q", tc.raw, err, tc.wantErr)
		case tc.wantErr == "" && !slices.Equal(got, tc.want):
			t.Errorf("ParseTemplate(%q) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

func TestExpandURL(t *testing.T) {
	zendesk := "https://{subdomain}.zendesk.com/api/v2"
	okta := "https://{domain}/oauth2/{server}/v1/token"
	sf := "https://{token.instance_url}/services/data"
	tests := []struct {
		name string
		raw  string
		v    Values
		want string // "" = an error
		// missing is the placeholder reported missing, when want is "".
		missing string
	}{
		{"plain URL untouched", "https://api.example.com/{not}x", Values{}, "", "not"},
		{"no template", "https://api.example.com/v1", Values{}, "https://api.example.com/v1", ""},
		{"subdomain", zendesk, Values{Shared: map[string]string{"subdomain": "acme"}}, "https://acme.zendesk.com/api/v2", ""},
		{"subdomain with a dot stays under the domain", zendesk, Values{Shared: map[string]string{"subdomain": "eu.acme"}}, "https://eu.acme.zendesk.com/api/v2", ""},
		{"connection wins", zendesk, Values{Shared: map[string]string{"subdomain": "acme"}, Connection: map[string]string{"subdomain": "globex"}}, "https://globex.zendesk.com/api/v2", ""},
		{"slash adds a path", zendesk, Values{Shared: map[string]string{"subdomain": "evil.com/"}}, "", ""},
		{"hash", zendesk, Values{Shared: map[string]string{"subdomain": "evil.com#"}}, "", ""},
		{"question mark", zendesk, Values{Shared: map[string]string{"subdomain": "evil.com?"}}, "", ""},
		{"user information", zendesk, Values{Shared: map[string]string{"subdomain": "evil.com@x"}}, "", ""},
		{"port", zendesk, Values{Shared: map[string]string{"subdomain": "acme:8080"}}, "", ""},
		{"space", zendesk, Values{Shared: map[string]string{"subdomain": "ac me"}}, "", ""},
		{"percent", zendesk, Values{Shared: map[string]string{"subdomain": "%2e"}}, "", ""},
		{"backslash", zendesk, Values{Shared: map[string]string{"subdomain": `evil.com\`}}, "", ""},
		{"leading hyphen", zendesk, Values{Shared: map[string]string{"subdomain": "-acme"}}, "", ""},
		{"empty label", zendesk, Values{Shared: map[string]string{"subdomain": "acme."}}, "", ""},
		{"unicode", zendesk, Values{Shared: map[string]string{"subdomain": "acmé"}}, "", ""},
		{"missing", zendesk, Values{}, "", "subdomain"},
		{"empty is missing", zendesk, Values{Shared: map[string]string{"subdomain": ""}}, "", "subdomain"},
		{"whole host and path", okta, Values{Shared: map[string]string{"domain": "dev-1.okta.com", "server": "default"}}, "https://dev-1.okta.com/oauth2/default/v1/token", ""},
		{"whole host from the connection is not taken", okta, Values{Shared: map[string]string{"server": "default"}, Connection: map[string]string{"domain": "evil.com"}}, "", "domain"},
		{"whole host with a port", okta, Values{Shared: map[string]string{"domain": "dev-1.okta.com:8443", "server": "default"}}, "", ""},
		{"path dot dot", okta, Values{Shared: map[string]string{"domain": "dev-1.okta.com", "server": ".."}}, "", ""},
		{"path slash", okta, Values{Shared: map[string]string{"domain": "dev-1.okta.com", "server": "a/b"}}, "", ""},
		{"path escape", okta, Values{Shared: map[string]string{"domain": "dev-1.okta.com", "server": "%2F"}}, "", ""},
		{"path dotted ok", "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", Values{Shared: map[string]string{"tenant": "contoso.onmicrosoft.com"}},
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", ""},
		{"kept URL gives its host", sf, Values{Token: map[string]string{"instance_url": "https://acme.my.salesforce.com"}}, "https://acme.my.salesforce.com/services/data", ""},
		{"kept URL with a slash", sf, Values{Token: map[string]string{"instance_url": "https://acme.my.salesforce.com/"}}, "https://acme.my.salesforce.com/services/data", ""},
		{"kept URL with a port", sf, Values{Token: map[string]string{"instance_url": "https://acme.my.salesforce.com:8443"}}, "https://acme.my.salesforce.com:8443/services/data", ""},
		{"kept host", sf, Values{Token: map[string]string{"instance_url": "acme.my.salesforce.com"}}, "https://acme.my.salesforce.com/services/data", ""},
		{"kept URL of another scheme", sf, Values{Token: map[string]string{"instance_url": "http://acme.my.salesforce.com"}}, "", ""},
		{"kept URL with a path", sf, Values{Token: map[string]string{"instance_url": "https://evil.com/x"}}, "", ""},
		{"kept URL with user information", sf, Values{Token: map[string]string{"instance_url": "https://u@evil.com"}}, "", ""},
		{"kept URL with a query", sf, Values{Token: map[string]string{"instance_url": "https://evil.com?x"}}, "", ""},
		{"kept plain host with a port", sf, Values{Token: map[string]string{"instance_url": "evil.com:8443"}}, "", ""},
		{"kept field missing", sf, Values{}, "", "token.instance_url"},
		{"connectionConfig does not fill token fields", sf, Values{Shared: map[string]string{"token.instance_url": "evil.com"}}, "", "token.instance_url"},
	}
	for _, tc := range tests {
		got, err := ExpandURL(tc.raw, tc.v)
		if tc.want != "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: ExpandURL = %q, %v; want %q", tc.name, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: ExpandURL = %q, want an error", tc.name, got)
			continue
		}
		if strings.Contains(tc.raw, "{not}") {
			continue // an unparsable host for a plain URL: ExpandURL only fills
		}
		var te *TemplateError
		if !errors.As(err, &te) || !errors.Is(err, ErrTemplate) {
			t.Errorf("%s: error %v is not a *TemplateError", tc.name, err)
			continue
		}
		if te.Missing != (tc.missing != "") || tc.missing != "" && te.Name != tc.missing {
			t.Errorf("%s: error %+v, want missing %q", tc.name, te, tc.missing)
		}
		for _, v := range []map[string]string{tc.v.Shared, tc.v.Connection, tc.v.Token} {
			for _, val := range v {
				if val != "" && len(val) > 3 && strings.Contains(err.Error(), val) {
					t.Errorf("%s: error %q repeats the value %q", tc.name, err, val)
				}
			}
		}
	}
}

func TestTemplateOrigin(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		shared map[string]string
		want   string
	}{
		{"https://api.example.com/v1", nil, "https://api.example.com"},
		{"https://{domain}/oauth2/v1/token", map[string]string{"domain": "Dev-1.okta.com"}, "https://dev-1.okta.com"},
		{"https://{domain}/oauth2/v1/token", nil, "https://{domain}"},
		{"https://{sub}.zendesk.com:443/x", nil, "https://{sub}.zendesk.com"},
		{"http://{sub}.example.test:80/x", map[string]string{"sub": "a"}, "http://a.example.test"},
		{"https://{token.instance_url}/x", map[string]string{"token.instance_url": "evil.com"}, "https://{token.instance_url}"},
		{"https://{domain}/x", map[string]string{"domain": "evil.com/"}, "https://{domain}"},
	} {
		if got := TemplateOrigin(tc.raw, tc.shared); got != tc.want {
			t.Errorf("TemplateOrigin(%q, %v) = %q, want %q", tc.raw, tc.shared, got, tc.want)
		}
	}
}

func templated() *Datasource {
	d := &Datasource{
		Name: "Zendesk",
		URL:  "https://{subdomain}.zendesk.com/api/v2",
		Auth: OAuth2{
			GrantType:        AuthorizationCode,
			AccessTokenURL:   "https://{subdomain}.zendesk.com/oauth/tokens",
			AuthorizationURL: "https://{subdomain}.zendesk.com/oauth/authorizations/new",
			ClientID:         "client",
			ClientSecret:     NewSecret("secret"),
		},
		ConnectionConfig: map[string]string{"subdomain": "acme"},
	}
	d.Normalize()
	return d
}

func TestValidateTemplates(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *Datasource)
		want   []string
	}{
		{"shared with its value", func(d *Datasource) {}, nil},
		{"shared without its value", func(d *Datasource) { d.ConnectionConfig = nil }, []string{"connectionConfig.subdomain"}},
		{"per user leaves it to connections", func(d *Datasource) { d.ConnectionConfig = nil; d.ConnectionMode = PerUser }, nil},
		{"per user client credentials cannot", func(d *Datasource) {
			d.ConnectionConfig = nil
			d.ConnectionMode = PerUser
			d.Auth.GrantType = JWTBearer
		}, []string{"connectionConfig.subdomain", "auth.privateKey"}},
		{"a value that changes the host", func(d *Datasource) { d.ConnectionConfig["subdomain"] = "evil.com/x" }, []string{"connectionConfig.subdomain"}},
		{"a value with a port", func(d *Datasource) { d.ConnectionConfig["subdomain"] = "acme:1" }, []string{"connectionConfig.subdomain"}},
		{"a value that makes a bad host", func(d *Datasource) { d.ConnectionConfig["subdomain"] = "acme-" }, []string{"connectionConfig.subdomain"}},
		{"whole host per user must be the datasource's", func(d *Datasource) {
			d.ConnectionMode = PerUser
			d.ConnectionConfig = nil
			d.Auth.AccessTokenURL = "https://{domain}/oauth/token"
		}, []string{"connectionConfig.domain"}},
		{"whole host per user from the datasource", func(d *Datasource) {
			d.ConnectionMode = PerUser
			d.ConnectionConfig = map[string]string{"domain": "acme.auth0.com"}
			d.Auth.AccessTokenURL = "https://{domain}/oauth/token"
		}, nil},
		{"token field in the token URL", func(d *Datasource) {
			d.Auth.AccessTokenURL = "https://{token.instance_url}/token"
			d.Auth.TokenResponse.Keep = []string{"instance_url"}
		}, []string{"auth.accessTokenUrl"}},
		{"token field not kept", func(d *Datasource) { d.URL = "https://{token.instance_url}" }, []string{"url"}},
		{"token field kept", func(d *Datasource) {
			d.URL = "https://{token.instance_url}"
			d.Auth.TokenResponse.Keep = []string{"instance_url"}
		}, nil},
		{"placeholder in the port", func(d *Datasource) { d.URL = "https://api.zendesk.com:{port}" }, []string{"url"}},
		{"placeholder in the query", func(d *Datasource) { d.Auth.AuthorizationURL = "https://x.zendesk.com/auth?tenant={subdomain}" }, []string{"auth.authorizationUrl"}},
		{"reserved parameter in a templated authorize URL", func(d *Datasource) {
			d.Auth.AuthorizationURL = "https://{subdomain}.zendesk.com/auth?state=x"
		}, []string{"auth.authorizationUrl"}},
		{"query in a templated url", func(d *Datasource) { d.URL = "https://{subdomain}.zendesk.com/api?x=1" }, []string{"url"}},
		{"unclosed brace", func(d *Datasource) { d.URL = "https://{subdomain.zendesk.com" }, []string{"url"}},
		{"template of spaces", func(d *Datasource) { d.URL = "https://{subdomain}.zen desk.com" }, []string{"url"}},
	}
	for _, tc := range tests {
		d := templated()
		tc.mutate(d)
		d.Normalize()
		if got := fields(d.Validate()); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fields %v (%v), want %v", tc.name, got, d.Validate(), tc.want)
		}
	}
}

func TestValidateTokenResponse(t *testing.T) {
	tests := []struct {
		name string
		tr   TokenResponse
		want []string
	}{
		{"slack", TokenResponse{AccessTokenPath: "/authed_user/access_token", RefreshTokenPath: "/authed_user/refresh_token", ExpiresInPath: "/authed_user/expires_in"}, nil},
		{"keep", TokenResponse{Keep: []string{"instance_url", "id"}}, nil},
		{"not a pointer", TokenResponse{AccessTokenPath: "authed_user/access_token"}, []string{"auth.tokenResponse.accessTokenPath"}},
		{"bad escape", TokenResponse{ExpiresInPath: "/a~2"}, []string{"auth.tokenResponse.expiresInPath"}},
		{"keep the access token", TokenResponse{Keep: []string{"access_token"}}, []string{"auth.tokenResponse.keep"}},
		{"keep a bot token", TokenResponse{Keep: []string{"bot_token"}}, []string{"auth.tokenResponse.keep"}},
		{"keep a secret", TokenResponse{Keep: []string{"client_secret_hint"}}, []string{"auth.tokenResponse.keep"}},
		{"keep the object holding the token", TokenResponse{AccessTokenPath: "/authed_user/access_token", Keep: []string{"authed_user"}}, []string{"auth.tokenResponse.keep"}},
		{"keep a path", TokenResponse{Keep: []string{"/a/b"}}, []string{"auth.tokenResponse.keep"}},
	}
	for _, tc := range tests {
		d := validAC()
		d.Auth.TokenResponse = tc.tr
		d.Normalize()
		if got := fields(d.Validate()); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fields %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidateRefreshOnStatusAndScopes(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *OAuth2)
		want   []string
	}{
		{"401 and 403", func(a *OAuth2) { a.RefreshOnStatus = []int{401, 403} }, nil},
		{"200", func(a *OAuth2) { a.RefreshOnStatus = []int{200} }, []string{"auth.refreshOnStatus"}},
		{"600", func(a *OAuth2) { a.RefreshOnStatus = []int{401, 600} }, []string{"auth.refreshOnStatus"}},
		{"comma separator", func(a *OAuth2) { a.ScopeSeparator = "," }, nil},
		{"semicolon separator", func(a *OAuth2) { a.ScopeSeparator = ";" }, []string{"auth.scopeSeparator"}},
		{"user_scope", func(a *OAuth2) { a.ScopeParam = "user_scope" }, nil},
		{"scope param that is reserved", func(a *OAuth2) { a.ScopeParam = "state" }, []string{"auth.scopeParam"}},
		{"scope param with a space", func(a *OAuth2) { a.ScopeParam = "user scope" }, []string{"auth.scopeParam"}},
		{"scope param also custom", func(a *OAuth2) { a.ScopeParam = "prompt" }, []string{"auth.scopeParam"}},
	}
	for _, tc := range tests {
		d := validAC()
		tc.mutate(&d.Auth)
		d.Normalize()
		if got := fields(d.Validate()); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fields %v, want %v", tc.name, got, tc.want)
		}
	}
	a := OAuth2{Scope: "chat:write, users:read", ScopeSeparator: ","}
	if got := a.WireScope(); got != "chat:write,users:read" {
		t.Errorf("WireScope = %q", got)
	}
	d := validAC()
	if !slices.Equal(d.Auth.RefreshOnStatus, []int{401}) || !d.Auth.RefreshesOn(401) || d.Auth.RefreshesOn(403) {
		t.Errorf("default refreshOnStatus %v", d.Auth.RefreshOnStatus)
	}
}

func TestCheckConnectionConfig(t *testing.T) {
	d := templated()
	d.ConnectionMode = PerUser
	d.ConnectionConfig = nil
	d.Auth.AccessTokenURL = "https://{domain}/oauth/tokens"
	d.ConnectionConfig = map[string]string{"domain": "acme.zendesk.com"}
	d.Normalize()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		config map[string]string
		want   []string
	}{
		{"ok", map[string]string{"subdomain": "acme"}, nil},
		{"missing", nil, []string{"connectionConfig.subdomain"}},
		{"changes the host", map[string]string{"subdomain": "evil.com/"}, []string{"connectionConfig.subdomain"}},
		{"whole host is the datasource's", map[string]string{"subdomain": "acme", "domain": "evil.com"}, []string{"connectionConfig.domain"}},
	} {
		if got := fields(d.CheckConnectionConfig(tc.config)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fields %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestKeepsTokensFollowsTemplates(t *testing.T) {
	d := templated()
	n := d.Clone()
	if !d.KeepsTokens(n) {
		t.Fatal("an identical datasource drops its tokens")
	}
	n.ConnectionConfig = map[string]string{"subdomain": "globex"}
	if d.KeepsTokens(n) {
		t.Error("another tenant in the token URL keeps the tokens")
	}
	n = d.Clone()
	n.URL = "https://{subdomain}.zendesk.com/api/v3"
	if !d.KeepsTokens(n) {
		t.Error("another path of url dropped the tokens")
	}
}

// FuzzExpandURL: whatever the template and values, ExpandURL does not
// panic, and what it returns has exactly the host its template and
// values make, with no user information.
func FuzzExpandURL(f *testing.F) {
	f.Add("https://{subdomain}.zendesk.com/api/v2", "acme", "https://acme.my.salesforce.com")
	f.Add("https://{token.instance_url}/services", "x", "https://na1.salesforce.com:8443/")
	f.Add("https://{domain}/oauth2/{subdomain}/v1/token", "default", "evil.com/x")
	f.Add("http://a{subdomain}b.example.test:8080/{subdomain}", "-", "")
	f.Fuzz(func(t *testing.T, raw, val, tok string) {
		v := Values{
			Shared: map[string]string{"subdomain": val, "domain": val},
			Token:  map[string]string{"instance_url": tok},
		}
		out, err := ExpandURL(raw, v)
		if err != nil || !IsTemplate(raw) {
			return
		}
		d := &Datasource{URL: out}
		ve := &ValidationError{}
		checkURL(ve, "url", d.URL, true, true)
		if len(ve.Errors) > 0 && len(out) <= maxURLLen && !strings.ContainsAny(out, " \\") && !hasControl(out) {
			t.Fatalf("ExpandURL(%q) = %q, which is not a valid URL: %v", raw, out, ve)
		}
	})
}
