package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

// connectAs is an end user's browser opening a connect link, logging in
// at the provider as account and coming back through grantd's callback;
// it returns where grantd sends the browser afterwards.
func connectAs(t *testing.T, link, account string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	br := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := link
	for _, step := range []string{"open the link", "log in", "callback"} {
		var resp *http.Response
		var err error
		if step == "log in" {
			resp, err = br.PostForm(next, url.Values{"username": {account}, "password": {grantstest.Users[account]}, "consent": {"allow"}})
		} else {
			resp, err = br.Get(next)
		}
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", step, resp.StatusCode)
		}
		next = resp.Header.Get("Location")
	}
	u, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConnectionsCLI: grantd connect prints links that two end users open
// in their browsers; grantd connections lists, shows, refreshes, checks,
// revokes and deletes their connections, with the documented exit codes.
func TestConnectionsCLI(t *testing.T) {
	prov := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	prov.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret-7d6c5b", Scopes: []string{"read"}})
	p := startArgs(t, filepath.Join(t.TempDir(), "data"), []string{"--allowed-return-origins", "https://app.example.com"}, "GRANTD_ADMIN_TOKEN="+adminTok)
	prov.AddClient(grantstest.Client{ID: "web", Secret: "web-secret-4e3d2c", Scopes: []string{"read"},
		RedirectURIs: []string{p.URL + "/api/v1/datasources/authorize"}})
	code, b := p.call("POST", "/api/v1/datasources", adminTok, map[string]any{"name": "Sheets", "url": prov.URL + "/api",
		"connectionMode": "perUser", "healthCheck": map[string]any{"path": "/me"}, "auth": map[string]any{
			"grantType": "authorization_code", "accessTokenUrl": prov.TokenURL(), "authorizationUrl": prov.AuthURL(),
			"clientId": "web", "clientSecret": "web-secret-4e3d2c", "scope": "read"}})
	if code != 201 {
		t.Fatalf("creating the per-user datasource: %d %s", code, b)
	}
	var ds struct{ ID string }
	json.Unmarshal(b, &ds)
	if code, b := p.call("POST", "/api/v1/datasources", adminTok, map[string]any{"name": "Billing", "url": prov.URL + "/api", "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": prov.TokenURL(), "clientId": "svc", "clientSecret": "svc-secret-7d6c5b"}}); code != 201 {
		t.Fatalf("creating the shared datasource: %d %s", code, b)
	}

	// grantd connect prints the link; the end user opens it.
	out, code := cli(t, p, "connect", "sheets", "user-alice", "--display-name", "Alice A.", "--email", "alice@example.com",
		"--return-to", "https://app.example.com/done")
	link := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(link, p.URL+"/connect/") || strings.Contains(link, "\n") {
		t.Fatalf("connect: exit %d\n%s", code, out)
	}
	back := connectAs(t, link, "alice")
	if back.Host != "app.example.com" || back.Path != "/done" || back.Query().Get("endUserId") != "user-alice" || back.Query().Get("result") != "authorized" {
		t.Fatalf("back from connecting at %s", back)
	}
	out, code = cli(t, p, "connect", "--o=json", ds.ID, "user-bob")
	var cs struct {
		ConnectURL string `json:"connectUrl"`
		ExpiresAt  string `json:"expiresAt"`
	}
	if err := json.Unmarshal([]byte(out), &cs); code != 0 || err != nil || cs.ExpiresAt == "" {
		t.Fatalf("connect -o json: exit %d\n%s", code, out)
	}
	connectAs(t, cs.ConnectURL, "bob")

	// list: a table, JSON, YAML, a status filter.
	out, code = cli(t, p, "connections", "list", ds.ID)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "END USER") || !strings.HasPrefix(lines[1], "user-alice ") ||
		!strings.Contains(lines[1], "Alice A.") || !strings.Contains(lines[1], "authorized") || !strings.HasPrefix(lines[2], "user-bob ") {
		t.Fatalf("connections list: exit %d\n%s", code, out)
	}
	out, code = cli(t, p, "connections", "list", ds.ID, "--status", "authorized", "-o", "json")
	var list struct {
		Connections []struct {
			EndUserID string `json:"endUserId"`
		}
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Connections) != 2 {
		t.Fatalf("connections list --status authorized -o json: exit %d\n%s", code, out)
	}
	if out, code := cli(t, p, "connections", "list", "-o", "yaml", ds.ID); code != 0 || !strings.Contains(out, "endUserId: user-bob") {
		t.Errorf("connections list -o yaml: exit %d\n%s", code, out)
	}
	if out, code := cli(t, p, "connections", "list", ds.ID, "--status", "error"); code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("connections list --status error: exit %d; want just the header\n%s", code, out)
	}

	// One connection.
	if out, code := cli(t, p, "connections", "get", ds.ID, "user-alice"); code != 0 || !strings.Contains(out, "user-alice") || !strings.Contains(out, "authorized") {
		t.Errorf("connections get: exit %d\n%s", code, out)
	}
	if out, code := cli(t, p, "connections", "refresh", ds.ID, "user-alice", "-o", "json"); code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("connections refresh: exit %d\n%s", code, out)
	}
	if out, code := cli(t, p, "connections", "check", ds.ID, "user-alice"); code != 0 || !strings.Contains(out, " ok ") {
		t.Errorf("connections check: exit %d\n%s", code, out)
	}
	if out, code := cli(t, p, "connections", "revoke", ds.ID, "user-bob"); code != 0 || !strings.Contains(out, "status unauthorized") {
		t.Errorf("connections revoke: exit %d\n%s", code, out)
	}
	// A revoked connection has no token to refresh and fails its check: 6.
	if out, code := cli(t, p, "connections", "refresh", ds.ID, "user-bob"); code != exitNotUsable || !strings.Contains(out, "unauthorized") {
		t.Errorf("refresh of a revoked connection: exit %d; want %d\n%s", code, exitNotUsable, out)
	}
	if out, code := cli(t, p, "connections", "check", ds.ID, "user-bob"); code != exitNotUsable || !strings.Contains(out, "failing") {
		t.Errorf("check of a revoked connection: exit %d; want %d\n%s", code, exitNotUsable, out)
	}
	if out, code := cli(t, p, "connections", "delete", ds.ID, "user-bob"); code != 0 || !strings.Contains(out, "deleted the connection of user-bob") {
		t.Errorf("connections delete: exit %d\n%s", code, out)
	}

	// Refusals and their exit codes.
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"connections", "get", ds.ID, "user-bob"}, exitNotFound, "no connection for this end user"},
		{[]string{"connections", "delete", ds.ID, "user-bob"}, exitNotFound, "no connection for this end user"},
		{[]string{"connections", "get", "ds_nope", "user-bob"}, exitNotFound, "ds_nope"},
		{[]string{"connections", "list", "Billing"}, exitRejected, "shared"},
		{[]string{"connections", "get", ds.ID, "user%bob"}, exitRejected, "endUserId"},
		{[]string{"connections", "list", ds.ID, "--status", "bogus"}, exitRejected, "status"},
		{[]string{"connections", "list"}, exitUsage, "connections list -h"},
		{[]string{"connections", "get", ds.ID}, exitUsage, "END_USER"},
		{[]string{"connections"}, exitUsage, "Usage"},
		{[]string{"connect", "Billing", "user-carol"}, exitRejected, "shared"},
		{[]string{"connect", "Nope", "user-carol"}, exitNotFound, "no such datasource"},
		{[]string{"connect", "Sheets", "has space"}, exitRejected, "endUserId"},
		{[]string{"connect", "Sheets", "user-carol", "--return-to", "https://elsewhere.example/"}, exitRejected, "--allowed-return-origins"},
		{[]string{"connect", "Sheets"}, exitUsage, "END_USER"},
	} {
		if out, code := cli(t, p, tt.args...); code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d; want %d mentioning %q\n%s", tt.args, code, tt.code, tt.want, out)
		}
	}

	t.Run("by name", func(t *testing.T) {
		if out, code := cli(t, p, "connections", "list", "Sheets"); code != 0 || !strings.Contains(out, "user-alice") {
			t.Errorf("connections list by name: exit %d\n%s", code, out)
		}
	})
	p.stop()
}
