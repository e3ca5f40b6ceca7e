package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestProviderExamples applies examples/salesforce.yaml and slack.yaml:
// the catalogue fills what the files leave out (Salesforce's
// {token.instance_url} and kept field, Slack's nested token path and
// user_scope), and a second apply changes nothing.
func TestProviderExamples(t *testing.T) {
	dir := t.TempDir()
	p := start(t, filepath.Join(dir, "data"), "GRANTD_ADMIN_TOKEN="+adminTok,
		"SALESFORCE_CLIENT_SECRET=sf-secret-0a1b2c", "SLACK_CLIENT_SECRET=slack-secret-3d4e5f")
	files := []string{"-f", filepath.Join("..", "..", "examples", "salesforce.yaml"), "-f", filepath.Join("..", "..", "examples", "slack.yaml")}
	out, code := cli(t, p, append([]string{"apply"}, files...)...)
	if code != 0 || !strings.Contains(out, "2 created, 0 updated, 0 unchanged, 0 failed") {
		t.Fatalf("apply: %d\n%s", code, out)
	}
	var sf, sl struct {
		URL, Provider, ConnectionMode string
		Auth                          struct {
			AccessTokenURL, ScopeParam, ScopeSeparator, ClientAuthentication string
			ExpiresInDefault                                                 int
			TokenResponse                                                    struct {
				AccessTokenPath string
				Keep            []string
			}
		}
	}
	out, code = cli(t, p, "datasources", "get", "Salesforce", "-o", "json")
	if err := json.Unmarshal([]byte(out), &sf); err != nil || code != 0 {
		t.Fatalf("get Salesforce: %d %v\n%s", code, err, out)
	}
	if sf.Provider != "salesforce" || sf.URL != "https://{token.instance_url}" || strings.Join(sf.Auth.TokenResponse.Keep, ",") != "instance_url" ||
		sf.Auth.AccessTokenURL != "https://login.salesforce.com/services/oauth2/token" || sf.Auth.ExpiresInDefault != 900 {
		t.Errorf("Salesforce: %+v", sf)
	}
	out, code = cli(t, p, "datasources", "get", "Slack (as the user)", "-o", "json")
	if err := json.Unmarshal([]byte(out), &sl); err != nil || code != 0 {
		t.Fatalf("get Slack: %d %v\n%s", code, err, out)
	}
	if sl.Provider != "slack-user" || sl.ConnectionMode != "perUser" || sl.Auth.TokenResponse.AccessTokenPath != "/authed_user/access_token" ||
		sl.Auth.ScopeParam != "user_scope" || sl.Auth.ScopeSeparator != "," || sl.Auth.ClientAuthentication != "basic" {
		t.Errorf("Slack: %+v", sl)
	}
	out, code = cli(t, p, append([]string{"apply", "--dry-run"}, files...)...)
	if code != 0 || strings.Count(out, "unchanged") != 3 { // two lines and the summary
		t.Errorf("dry run after apply: %d\n%s", code, out)
	}
	out, code = cli(t, p, append([]string{"apply"}, files...)...)
	if code != 0 || !strings.Contains(out, "0 created, 0 updated, 2 unchanged, 0 failed") {
		t.Errorf("second apply: %d\n%s", code, out)
	}
}
