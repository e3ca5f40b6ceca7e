package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
)

// TestWireTypesMarshalAsTheMapsTheyReplaced pins the answers that were
// maps before they were types: a client that compared bytes (or a cache
// keyed on them) sees no difference.
func TestWireTypesMarshalAsTheMapsTheyReplaced(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	tests := []struct {
		name     string
		typed    any
		replaced map[string]any
	}{
		{"revoke, all set", api.RevokeAnswer{Status: datasource.StatusUnauthorized, ExpiresAt: &at, LastRefreshedAt: &at, LastError: "x <y>",
			HasRefreshToken: true, GrantedScope: "read", RevokedAtProvider: true, ProviderError: "p & q"},
			map[string]any{"status": datasource.StatusUnauthorized, "expiresAt": &at, "lastRefreshedAt": &at, "lastError": "x <y>",
				"hasRefreshToken": true, "grantedScope": "read", "revokedAtProvider": true, "providerError": "p & q"}},
		{"revoke, zero", api.RevokeAnswer{},
			map[string]any{"status": datasource.Status(""), "expiresAt": (*time.Time)(nil), "lastRefreshedAt": (*time.Time)(nil), "lastError": "",
				"hasRefreshToken": false, "grantedScope": "", "revokedAtProvider": false, "providerError": ""}},
		{"token", api.TokenAnswer{AccessToken: "at-1", TokenType: "Bearer", ExpiresIn: 3599},
			map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": int64(3599)}},
		{"authorize", api.AuthorizeAnswer{AuthorizeURL: "https://p.example/a?x=1&y=2"},
			map[string]any{"authorizeUrl": "https://p.example/a?x=1&y=2"}},
		{"config", api.ServerInfo{RedirectURI: "https://g.example/api/v1/datasources/authorize", PublicURL: "https://g.example", Version: "v1"},
			map[string]any{"redirectUri": "https://g.example/api/v1/datasources/authorize", "publicUrl": "https://g.example", "version": "v1"}},
		{"healthz", api.Health{Status: "ok", Version: "dev"},
			map[string]any{"status": "ok", "version": "dev"}},
		{"list", api.DatasourceList{Datasources: []api.DatasourceView{}},
			map[string]any{"datasources": []api.DatasourceView{}}},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.typed)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(tt.replaced)
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, want)
		}
	}
}

func TestTokenAnswerDoesNotPrintTheToken(t *testing.T) {
	a := api.TokenAnswer{AccessToken: "at-secret-value", TokenType: "Bearer", ExpiresIn: 60}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("answer", "token", a)
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), fmt.Sprintf("%v", &a), logged.String()} {
		if strings.Contains(s, "at-secret-value") {
			t.Errorf("the access token is printed: %s", s)
		}
	}
	if b, _ := json.Marshal(a); !strings.Contains(string(b), `"access_token":"at-secret-value"`) {
		t.Errorf("the JSON answer lost its token: %s", b)
	}
}
