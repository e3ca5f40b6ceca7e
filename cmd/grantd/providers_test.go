package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestProvidersList: the catalogue is listed without a server, searched
// by name, alias or title, and printed whole as JSON.
func TestProvidersList(t *testing.T) {
	env := append(environ("GRANTD_ADMIN_TOKEN", "GRANTD_MASTER_KEY", "GRANTD_DATA_DIR"), "GRANTD_URL=http://127.0.0.1:1")
	stdout, stderr, code := runBinary(t, env, "providers", "list")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "NAME") || !strings.Contains(stdout, "salesforce") || !strings.Contains(stdout, "subdomain") {
		t.Errorf("list: exit %d %q\n%s", code, stderr, stdout)
	}
	stdout, _, code = runBinary(t, env, "providers", "list", "-o", "json", "ZENDESK")
	var out struct {
		Providers []struct {
			Name             string `json:"name"`
			AccessTokenURL   string `json:"accessTokenUrl"`
			ConnectionConfig []struct{ Name string }
		} `json:"providers"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 0 || len(out.Providers) != 1 ||
		out.Providers[0].Name != "zendesk" || !strings.Contains(out.Providers[0].AccessTokenURL, "{subdomain}") {
		t.Errorf("search: exit %d %v\n%s", code, err, stdout)
	}
	if _, _, code := runBinary(t, env, "providers", "nope"); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
}
