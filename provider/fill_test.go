package provider

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/datasource"
)

func TestFillLeavesExplicitFields(t *testing.T) {
	d := &datasource.Datasource{
		Provider: "Google",
		URL:      "https://sheets.googleapis.com/v4",
		Auth: datasource.OAuth2{
			AccessTokenURL:   "https://oauth2.example.com/token",
			Scope:            "https://www.googleapis.com/auth/spreadsheets",
			CustomAuthParams: map[string]string{"prompt": "", "login_hint": "a@example.com"},
			RefreshOnStatus:  []int{401, 403},
		},
	}
	if err := Fill(d); err != nil {
		t.Fatal(err)
	}
	a := d.Auth
	if d.Provider != "google" || a.GrantType != datasource.AuthorizationCode {
		t.Errorf("provider %q, grant %q", d.Provider, a.GrantType)
	}
	if d.URL != "https://sheets.googleapis.com/v4" || a.AccessTokenURL != "https://oauth2.example.com/token" ||
		a.Scope != "https://www.googleapis.com/auth/spreadsheets" || !slices.Equal(a.RefreshOnStatus, []int{401, 403}) {
		t.Errorf("explicit fields changed: %+v", d)
	}
	if a.AuthorizationURL != google.AuthorizationURL || a.ClientAuthentication != datasource.ClientAuthBody || a.ScopeSeparator != " " {
		t.Errorf("empty fields not filled: %q %q %q", a.AuthorizationURL, a.ClientAuthentication, a.ScopeSeparator)
	}
	want := map[string]string{"prompt": "", "login_hint": "a@example.com", "access_type": "offline"}
	if !maps.Equal(a.CustomAuthParams, want) {
		t.Errorf("customAuthParams %v, want %v (explicit entries win, even empty)", a.CustomAuthParams, want)
	}
	if google.CustomAuthParams["prompt"] != "consent" {
		t.Error("Fill changed the catalogue")
	}
}

func TestFillQuirks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(d *datasource.Datasource) bool
	}{
		{"salesforce", func(d *datasource.Datasource) bool {
			return d.URL == "https://{token.instance_url}" && slices.Equal(d.Auth.TokenResponse.Keep, []string{"instance_url"}) && d.Auth.ExpiresInDefault == 900
		}},
		{"slack-user", func(d *datasource.Datasource) bool {
			return d.Auth.TokenResponse.AccessTokenPath == "/authed_user/access_token" && d.Auth.ScopeParam == "user_scope" &&
				d.Auth.ScopeSeparator == "," && d.Auth.ClientAuthentication == datasource.ClientAuthBasic
		}},
		{"shopify", func(d *datasource.Datasource) bool {
			return d.Auth.HeaderName == "X-Shopify-Access-Token" && d.Auth.HeaderPrefix != nil && *d.Auth.HeaderPrefix == "" &&
				d.Auth.AccessTokenURL == "https://{shop}.myshopify.com/admin/oauth/access_token"
		}},
		{"entra", func(d *datasource.Datasource) bool { return d.Provider == "microsoft" }},
		{"okta", func(d *datasource.Datasource) bool {
			return d.URL == "" && d.Auth.ClientAuthentication == datasource.ClientAuthBasic
		}},
	} {
		d := &datasource.Datasource{Provider: tc.name}
		if err := Fill(d); err != nil {
			t.Fatal(err)
		}
		if !tc.check(d) {
			t.Errorf("%s: filled %+v", tc.name, d)
		}
	}
	cc := &datasource.Datasource{Provider: "okta", Auth: datasource.OAuth2{GrantType: datasource.ClientCredentials}}
	if err := Fill(cc); err != nil || cc.Auth.AuthorizationURL != "" {
		t.Errorf("client credentials got an authorization URL %q (%v)", cc.Auth.AuthorizationURL, err)
	}
}

func TestFillUnknownProvider(t *testing.T) {
	d := &datasource.Datasource{Provider: "salesforse", URL: "https://x"}
	err := Fill(d)
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) || !slices.Equal(nf.Suggestions, []string{"salesforce"}) {
		t.Fatalf("Fill = %v, want a NotFoundError suggesting salesforce", err)
	}
	if d.URL != "https://x" || d.Auth.AccessTokenURL != "" {
		t.Errorf("a refused fill changed the datasource: %+v", d)
	}
	if err := Fill(&datasource.Datasource{}); err != nil {
		t.Errorf("no provider: %v", err)
	}
}

// TestFillStatic: an entry of a static auth type gives a datasource its
// type, url and (apiKey) where the key goes, and nothing of OAuth 2.0; a
// datasource's own placement wins; and what it fills validates only with
// the credential the owner brings, which the catalogue never holds.
func TestFillStatic(t *testing.T) {
	d := &datasource.Datasource{Name: "v", Provider: "vectara-api-key"}
	if err := Fill(d); err != nil {
		t.Fatal(err)
	}
	a := d.Auth
	if a.Type != datasource.AuthAPIKey || d.URL != "https://api.vectara.io" || a.HeaderName != "x-api-key" || a.HeaderPrefix == nil || *a.HeaderPrefix != "" {
		t.Errorf("vectara-api-key filled %+v", d)
	}
	if a.GrantType != "" || a.AccessTokenURL != "" || a.ScopeSeparator != "" || a.ClientAuthentication != "" || !a.APIKey.IsZero() {
		t.Errorf("an API-key entry filled OAuth 2.0 fields or a key: %+v", a)
	}
	d.Normalize()
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "auth.apiKey") {
		t.Errorf("without the owner's key: %v, want auth.apiKey named", err)
	}
	own := &datasource.Datasource{Provider: "vectara-api-key", URL: "https://eu.api.vectara.example",
		Auth: datasource.OAuth2{HeaderName: "X-Custom-Key"}}
	if err := Fill(own); err != nil || own.URL != "https://eu.api.vectara.example" || own.Auth.HeaderName != "X-Custom-Key" {
		t.Errorf("explicit fields changed: %+v (%v)", own, err)
	}

	o := &datasource.Datasource{Name: "o", Provider: "OpenAI", Auth: datasource.OAuth2{Token: datasource.NewSecret("sk-proj-example")}}
	if err := Fill(o); err != nil {
		t.Fatal(err)
	}
	o.Normalize()
	if o.Auth.Type != datasource.AuthBearer || o.URL != "https://api.openai.com" || o.Provider != "openai" || o.Auth.HeaderName != "" {
		t.Errorf("openai filled %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("an openai datasource with its key: %v", err)
	}
}
