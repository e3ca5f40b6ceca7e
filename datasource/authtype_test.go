package datasource

import (
	"slices"
	"testing"
)

func static(t AuthType, mut func(a *OAuth2)) *Datasource {
	d := &Datasource{Name: "Static", URL: "https://api.example.com/v1", Auth: OAuth2{Type: t}}
	switch t {
	case AuthAPIKey:
		d.Auth.APIKey = NewSecret("key-123")
	case AuthBasic:
		d.Auth.Username, d.Auth.Password = "ada", NewSecret("pw")
	case AuthBearer:
		d.Auth.Token = NewSecret("tok")
	case AuthAWSSigV4:
		d.Auth.AccessKeyID, d.Auth.SecretAccessKey = NewSecret("AKIDEXAMPLE"), NewSecret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
		d.Auth.Region, d.Auth.Service = "us-east-1", "execute-api"
	}
	if mut != nil {
		mut(&d.Auth)
	}
	d.Normalize()
	return d
}

func TestStaticTypesValidate(t *testing.T) {
	for _, typ := range []AuthType{AuthAPIKey, AuthBasic, AuthBearer, AuthAWSSigV4, AuthNone} {
		if err := static(typ, nil).Validate(); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	cases := []struct {
		name string
		d    *Datasource
		want []string
	}{
		{"apiKey without key", static(AuthAPIKey, func(a *OAuth2) { a.APIKey = Secret{} }), []string{"auth.apiKey"}},
		{"apiKey bad header", static(AuthAPIKey, func(a *OAuth2) { a.HeaderName = "Host" }), []string{"auth.headerName"}},
		{"apiKey query without name", static(AuthAPIKey, func(a *OAuth2) { a.TokenPlacement = "cookie" }), []string{"auth.tokenPlacement"}},
		{"apiKey with a bad reference", static(AuthAPIKey, func(a *OAuth2) { a.APIKey = NewSecret("${env:}") }), []string{"auth.apiKey"}},
		{"apiKey with a control character", static(AuthAPIKey, func(a *OAuth2) { a.APIKey = NewSecret("a\r\nX-Evil: 1") }), []string{"auth.apiKey"}},
		{"basic without username", static(AuthBasic, func(a *OAuth2) { a.Username = "" }), []string{"auth.username"}},
		{"basic username with colon", static(AuthBasic, func(a *OAuth2) { a.Username = "a:b" }), []string{"auth.username"}},
		{"bearer without token", static(AuthBearer, func(a *OAuth2) { a.Token = Secret{} }), []string{"auth.token"}},
		{"sigv4 without anything", static(AuthAWSSigV4, func(a *OAuth2) { *a = OAuth2{Type: AuthAWSSigV4} }),
			[]string{"auth.accessKeyId", "auth.secretAccessKey", "auth.region", "auth.service"}},
		{"sigv4 bad region", static(AuthAWSSigV4, func(a *OAuth2) { a.Region = "US East" }), []string{"auth.region"}},
		{"sigv4 bad key id", static(AuthAWSSigV4, func(a *OAuth2) { a.AccessKeyID = NewSecret("AKID/EXAMPLE") }), []string{"auth.accessKeyId"}},
		{"unknown type", static("digest", nil), []string{"auth.type"}},
		{"fields of OAuth 2.0 on an API key", static(AuthAPIKey, func(a *OAuth2) {
			a.AccessTokenURL, a.ClientID, a.ClientSecret, a.GrantType = "https://id.example.com/token", "c", NewSecret("s"), ClientCredentials
		}), []string{"auth.accessTokenUrl", "auth.clientId", "auth.clientSecret", "auth.grantType"}},
		{"another static type's field", static(AuthBearer, func(a *OAuth2) { a.APIKey = NewSecret("k"); a.Region = "us-east-1" }),
			[]string{"auth.apiKey", "auth.region"}},
		{"placement on bearer", static(AuthBearer, func(a *OAuth2) { a.HeaderName = "X-Api-Key" }), []string{"auth.headerName"}},
		{"a static field on OAuth 2.0", func() *Datasource { d := validCC(); d.Auth.Token = NewSecret("t"); return d }(), []string{"auth.token"}},
	}
	for _, c := range cases {
		got := fields(c.d.Validate())
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: errors on %v, want %v", c.name, got, want)
		}
	}
}

// TestStaticTypesTakeOAuthDefaults: the defaults a view of an OAuth 2.0
// datasource shows are no value, so a GET edited to another type and PUT
// back is accepted, and they are not stored.
func TestStaticTypesTakeOAuthDefaults(t *testing.T) {
	d := static(AuthBearer, func(a *OAuth2) {
		a.ClientAuthentication, a.PKCE, a.ExpiresInDefault = ClientAuthAuto, Ptr(true), DefaultExpiresInSeconds
		a.TokenPlacement, a.HeaderName, a.HeaderPrefix, a.QueryParamName = PlacementHeader, DefaultHeaderName, Ptr(DefaultHeaderPrefix), DefaultQueryParamName
		a.CustomAuthParams, a.TokenParams = map[string]string{}, map[string]string{}
	})
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	a := d.Auth
	if a.ClientAuthentication != "" || a.PKCE != nil || a.ExpiresInDefault != 0 || a.HeaderName != "" || a.HeaderPrefix != nil || a.TokenPlacement != "" {
		t.Errorf("defaults of other types kept: %+v", a)
	}
	k := static(AuthAPIKey, nil)
	if k.Auth.TokenPlacement != PlacementHeader || k.Auth.HeaderName != "Authorization" || k.Auth.Prefix() != "Bearer" || k.Auth.QueryParamName != "access_token" {
		t.Errorf("apiKey placement defaults: %+v", k.Auth)
	}
	if o := validCC(); o.Auth.Type != AuthOAuth2 {
		t.Errorf("an OAuth 2.0 datasource normalizes to type %q", o.Auth.Type)
	}
	n := static(AuthBasic, nil)
	n2 := n.Clone()
	n2.Normalize()
	if !n.Auth.Password.Equal(n2.Auth.Password) || n2.Auth.Username != n.Auth.Username {
		t.Error("Normalize is not idempotent")
	}
}

func TestPerUserStatic(t *testing.T) {
	d := static(AuthAPIKey, func(a *OAuth2) { a.APIKey = Secret{} })
	d.ConnectionMode = PerUser
	if err := d.Validate(); err != nil {
		t.Errorf("per-user apiKey without a key: %v", err)
	}
	d.Auth.APIKey = NewSecret("shared")
	if got := fields(d.Validate()); !slices.Equal(got, []string{"auth.apiKey"}) {
		t.Errorf("per-user apiKey with a key of its own: %v", got)
	}
	s := static(AuthAWSSigV4, func(a *OAuth2) { a.AccessKeyID, a.SecretAccessKey, a.Region = Secret{}, Secret{}, "" })
	s.ConnectionMode = PerUser
	if got := fields(s.Validate()); !slices.Equal(got, []string{"auth.region"}) {
		t.Errorf("per-user sigv4 needs its region still: %v", got)
	}
	n := static(AuthNone, nil)
	n.ConnectionMode = PerUser
	if got := fields(n.Validate()); !slices.Equal(got, []string{"connectionMode"}) {
		t.Errorf("per-user none: %v", got)
	}
}

func TestValidateCredential(t *testing.T) {
	cases := []struct {
		typ  AuthType
		c    Credential
		want []string
	}{
		{AuthAPIKey, Credential{APIKey: NewSecret("k")}, nil},
		{AuthAPIKey, Credential{}, []string{"apiKey"}},
		{AuthAPIKey, Credential{APIKey: NewSecret("${env:AWS_SECRET_ACCESS_KEY}")}, []string{"apiKey"}},
		{AuthBasic, Credential{Username: "ada"}, nil},
		{AuthBasic, Credential{Password: NewSecret("p")}, []string{"username"}},
		{AuthAWSSigV4, Credential{AccessKeyID: NewSecret("AKIA1"), SecretAccessKey: NewSecret("s")}, nil},
		{AuthAWSSigV4, Credential{AccessKeyID: NewSecret("AKIA1"), SessionToken: NewSecret("${file:/etc/passwd}")}, []string{"secretAccessKey", "sessionToken"}},
		{AuthNone, Credential{}, []string{"type"}},
		{AuthOAuth2, Credential{}, []string{"type"}},
	}
	for _, c := range cases {
		if got := fields(ValidateCredential(c.typ, &c.c)); !slices.Equal(got, c.want) {
			t.Errorf("%s %+v: errors on %v, want %v", c.typ, c.c, got, c.want)
		}
	}
}

func TestStaticSecretsStayWithTheirType(t *testing.T) {
	old := validCC()
	d := static(AuthAPIKey, nil)
	if err := d.KeepSecrets(old, []string{"auth.clientSecret", "auth.apiKey"}); err != nil {
		t.Fatal(err)
	}
	if !d.Auth.ClientSecret.IsZero() {
		t.Error("a client secret kept for an API key datasource")
	}
	if !d.Auth.APIKey.IsZero() {
		t.Error("keeping the API key did not take the stored one (none)")
	}
	for _, f := range []string{"auth.apiKey", "auth.password", "auth.token", "auth.accessKeyId", "auth.secretAccessKey", "auth.sessionToken", "auth.upstreamPrivateKey"} {
		if !SecretBoundToURL(f) || d.SecretField(f) == nil {
			t.Errorf("%s: bound to url %v, a secret field %v", f, SecretBoundToURL(f), d.SecretField(f) != nil)
		}
	}
	if SecretBoundToURL("auth.clientSecret") {
		t.Error("the client secret goes to the token endpoint, not to url")
	}
}

func TestStaticKeepsTokens(t *testing.T) {
	a := static(AuthAPIKey, nil)
	b := a.Clone()
	b.URL = "https://api.example.com/v2"
	b.Auth.HeaderName = "X-Api-Key"
	if !a.KeepsTokens(b) {
		t.Error("a path or placement change drops end users' credentials")
	}
	b.URL = "https://evil.example.net/v1"
	if a.KeepsTokens(b) {
		t.Error("end users' credentials follow the datasource to another host")
	}
	c := static(AuthBearer, nil)
	if a.KeepsTokens(c) || validCC().KeepsTokens(a) {
		t.Error("credentials kept across a change of auth type")
	}
}
