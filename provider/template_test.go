package provider

import (
	"slices"
	"testing"
)

func TestPlaceholdersParse(t *testing.T) {
	for _, tc := range []struct {
		tmpl    string
		want    []string
		wantErr bool
	}{
		{"https://api.example.com", nil, false},
		{"https://{subdomain}.zendesk.com/oauth/tokens", []string{"subdomain"}, false},
		{"https://{domain}/oauth2/{authorizationServerId}/v1/token", []string{"domain", "authorizationServerId"}, false},
		{"https://{token.instance_url}", []string{"token.instance_url"}, false},
		{"https://{a}.{a}.example.com", []string{"a", "a"}, false},
		{"https://{shop.myshopify.com", nil, true},
		{"https://shop}.myshopify.com", nil, true},
		{"https://{a{b}}.example.com", nil, true},
		{"https://{}.example.com", nil, true},
		{"https://{1st}.example.com", nil, true},
		{"https://{sub-domain}.example.com", nil, true},
		{"https://{token.}.example.com", nil, true},
	} {
		got, err := placeholders(tc.tmpl)
		if (err != nil) != tc.wantErr {
			t.Errorf("placeholders(%q) error = %v, want error %v", tc.tmpl, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !slices.Equal(got, tc.want) {
			t.Errorf("placeholders(%q) = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestEntryPlaceholders(t *testing.T) {
	e := &Entry{
		AuthorizationURL: "https://{domain}/oauth2/{server}/v1/authorize",
		AccessTokenURL:   "https://{domain}/oauth2/{server}/v1/token",
		URL:              "https://{token.instance_url}/{tenant}",
	}
	got, want := e.Placeholders(), []string{"domain", "server", "tenant"}
	if !slices.Equal(got, want) {
		t.Errorf("Placeholders() = %q, want %q", got, want)
	}
	if got := (&Entry{AccessTokenURL: "https://example.com/token"}).Placeholders(); got != nil {
		t.Errorf("Placeholders() without templates = %q, want nil", got)
	}
}
