package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

var presentedKeyRE = regexp.MustCompile(`^gk_[0-9a-f]{16}_[A-Za-z0-9_-]{43,}$`)

// TestAPIKeysCLI: grantd api-keys create prints a key once, limited to
// one datasource; with it in GRANTD_API_KEY the CLI sees only that
// datasource, and what the key lacks exits 8 with the server's reason;
// list never shows a key; revoked, the key exits 4.
func TestAPIKeysCLI(t *testing.T) {
	prov := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	prov.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret-6c5b4a", Scopes: []string{"read"}})
	p := start(t, filepath.Join(t.TempDir(), "data"), "GRANTD_ADMIN_TOKEN="+adminTok)
	ids := map[string]string{}
	for _, name := range []string{"Vectara", "Billing"} {
		code, b := p.call("POST", "/api/v1/datasources", adminTok, map[string]any{"name": name, "url": prov.URL + "/api", "auth": map[string]any{
			"grantType": "client_credentials", "accessTokenUrl": prov.TokenURL(), "clientId": "svc", "clientSecret": "svc-secret-6c5b4a"}})
		if code != 201 {
			t.Fatalf("creating %s: %d %s", name, code, b)
		}
		var d struct{ ID string }
		json.Unmarshal(b, &d)
		ids[name] = d.ID
	}
	// run runs grantd against p with exactly the credentials given.
	run := func(env []string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return runBinary(t, append(append(environ("GRANTD_API_KEY", "GRANTD_ADMIN_TOKEN"), "GRANTD_URL="+p.URL), env...), args...)
	}
	admin := []string{"GRANTD_ADMIN_TOKEN=" + adminTok}

	// create: the key alone on stdout, the warning on stderr.
	stdout, stderr, code := run(admin, "api-keys", "create", "--name", "app", "--permissions", "proxy,read", "--datasource", "Vectara")
	key := strings.TrimSuffix(stdout, "\n")
	if code != 0 || !presentedKeyRE.MatchString(key) || !strings.Contains(stderr, "will not be shown again") ||
		!strings.Contains(stderr, "proxy,read on Vectara") || strings.Contains(stderr, key) {
		t.Fatalf("api-keys create: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	id := "key_" + strings.Split(key, "_")[1]
	stdout, _, code = run(admin, "api-keys", "create", "--name", "two", "--permissions", "read", "--datasource", "Vectara", "--datasource", ids["Billing"], "-o", "json")
	var second struct {
		ID          string   `json:"id"`
		Key         string   `json:"key"`
		Permissions []string `json:"permissions"`
		Datasources []string `json:"datasources"`
	}
	if err := json.Unmarshal([]byte(stdout), &second); code != 0 || err != nil || !presentedKeyRE.MatchString(second.Key) ||
		!strings.HasPrefix(second.ID, "key_") || len(second.Datasources) != 2 || second.Datasources[1] != ids["Billing"] {
		t.Fatalf("api-keys create -o json: exit %d\n%s", code, stdout)
	}

	// list: both keys, never a key itself.
	stdout, _, code = run(admin, "api-keys", "list")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], id+" ") ||
		!strings.Contains(lines[1], "proxy,read") || !strings.Contains(lines[1], "Vectara") || !strings.Contains(lines[1], "never") ||
		!strings.HasPrefix(lines[2], second.ID+" ") {
		t.Fatalf("api-keys list: exit %d\n%s", code, stdout)
	}
	for _, format := range []string{"table", "json", "yaml"} {
		stdout, _, code := run(admin, "api-keys", "list", "-o", format)
		if code != 0 || !strings.Contains(stdout, second.ID) || strings.Contains(stdout, "gk_") || strings.Contains(stdout, `"key"`) {
			t.Errorf("api-keys list -o %s: exit %d\n%s", format, code, stdout)
		}
	}

	// The key in GRANTD_API_KEY: it sees only Vectara, and wins over the
	// admin token when both are set.
	withKey := []string{"GRANTD_API_KEY=" + key}
	for _, env := range [][]string{withKey, append(withKey, admin...)} {
		stdout, stderr, code := run(env, "datasources", "list")
		if code != 0 || !strings.Contains(stdout, "Vectara") || strings.Contains(stdout, "Billing") {
			t.Errorf("datasources list with the key (env %d vars): exit %d\n%s%s", len(env), code, stdout, stderr)
		}
	}
	if code, b := p.call("GET", "/api/v1/datasources/"+ids["Vectara"]+"/proxy/me", key, nil); code != 200 {
		t.Errorf("the proxy with the key: %d %s", code, b)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"datasources", "delete", "Vectara"}, exitForbidden, `lacks the "write" permission`},
		{[]string{"api-keys", "list"}, exitForbidden, `lacks the "admin" permission`},
		{[]string{"datasources", "get", ids["Billing"]}, exitForbidden, "lacks datasource " + ids["Billing"]},
		{[]string{"datasources", "get", "Billing"}, exitNotFound, "that the API key in GRANTD_API_KEY may see"},
	} {
		if _, stderr, code := run(withKey, tt.args...); code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v with the key: exit %d; want %d mentioning %q\n%s", tt.args, code, tt.code, tt.want, stderr)
		}
	}

	// revoke: by id, and by the key itself, which is neither sent nor printed.
	if stdout, _, code := run(admin, "api-keys", "revoke", id); code != 0 || stdout != "revoked API key "+id+"\n" {
		t.Errorf("api-keys revoke: exit %d\n%s", code, stdout)
	}
	if _, stderr, code := run(withKey, "datasources", "list"); code != exitAuth || !strings.Contains(stderr, "unknown or revoked") {
		t.Errorf("datasources list with a revoked key: exit %d; want %d\n%s", code, exitAuth, stderr)
	}
	stdout, stderr, code = run(admin, "api-keys", "revoke", second.Key)
	if code != 0 || stdout != "revoked API key "+second.ID+"\n" || strings.Contains(stderr, second.Key) {
		t.Errorf("api-keys revoke by the key: exit %d\n%s%s", code, stdout, stderr)
	}

	// Refusals and their exit codes.
	for _, tt := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{admin, []string{"api-keys", "revoke", id}, exitNotFound, "no such API key"},
		{admin, []string{"api-keys", "revoke", "gk_not-a-key"}, exitUsage, "key_…"},
		{admin, []string{"api-keys", "revoke"}, exitUsage, "KEY_ID"},
		{admin, []string{"api-keys", "create", "--permissions", "read"}, exitUsage, "--name"},
		{admin, []string{"api-keys", "create", "--name", "x", "--permissions", "fly"}, exitRejected, "permissions"},
		{admin, []string{"api-keys", "nope"}, exitUsage, "unknown command"},
		{nil, []string{"api-keys", "list"}, exitUsage, "GRANTD_API_KEY"},
	} {
		_, stderr, code := run(tt.env, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "gk_not-a-key") {
			t.Errorf("%v: exit %d; want %d mentioning %q\n%s", tt.args, code, tt.code, tt.want, stderr)
		}
	}

	p.stop()
	for _, k := range []string{key, second.Key} {
		if strings.Contains(p.logs.String(), k) || strings.Contains(p.stdout.String(), k) {
			t.Errorf("grantd logged the key %.12s…", k)
		}
	}
}
