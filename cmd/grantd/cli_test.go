package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

// TestHelp: -h, -help and --help print the command's help to standard
// output and exit 0, for every command, without an admin token, without a
// grantd to talk to, and without touching a data dir.
func TestHelp(t *testing.T) {
	env := append(environ("GRANTD_ADMIN_TOKEN", "GRANTD_API_KEY", "GRANTD_MASTER_KEY", "GRANTD_DATA_DIR"), "GRANTD_URL=http://127.0.0.1:1")
	for _, tt := range []struct {
		cmd  []string
		want []string // besides "Usage:" and the command's name
	}{
		{nil, []string{"grantd serve", "grantd datasources", "grantd connections", "grantd connect", "grantd api-keys", "GRANTD_API_KEY", "8 forbidden", "grantd providers"}},
		{[]string{"serve"}, []string{"--addr", "GRANTD_ADDR", "GRANTD_ADMIN_TOKEN", "GRANTD_MASTER_KEY", "GRANTD_WEBHOOK_SECRET", "admin-token reset"}},
		{[]string{"keys"}, []string{"rotate", "generate"}},
		{[]string{"keys", "rotate"}, []string{"--data-dir", "GRANTD_MASTER_KEY", "Stop grantd"}},
		{[]string{"keys", "generate"}, []string{"GRANTD_MASTER_KEY"}},
		{[]string{"admin-token"}, []string{"reset"}},
		{[]string{"admin-token", "reset"}, []string{"--data-dir", "Stop grantd"}},
		{[]string{"apply"}, []string{"-f", "--dry-run", "GRANTD_ADMIN_TOKEN", "GRANTD_URL"}},
		{[]string{"export"}, []string{"-o", "GRANTD_ADMIN_TOKEN"}},
		{[]string{"datasources"}, []string{"list", "get", "delete"}},
		{[]string{"datasources", "list"}, []string{"-o", "GRANTD_ADMIN_TOKEN", "GRANTD_API_KEY", "8 forbidden"}},
		{[]string{"datasources", "get"}, []string{"NAME", "-o"}},
		{[]string{"datasources", "delete"}, []string{"NAME"}},
		{[]string{"token"}, []string{"NAME", "exposeToken"}},
		{[]string{"authorize"}, []string{"NAME", "--return-to"}},
		{[]string{"connections"}, []string{"list", "get", "delete", "refresh", "revoke", "check", "grantd connect"}},
		{[]string{"connections", "list"}, []string{"DATASOURCE", "--status", "-o", "GRANTD_ADMIN_TOKEN"}},
		{[]string{"connections", "get"}, []string{"DATASOURCE", "END_USER", "-o"}},
		{[]string{"connections", "delete"}, []string{"END_USER", "revoked"}},
		{[]string{"connections", "refresh"}, []string{"END_USER", "exits 6"}},
		{[]string{"connections", "revoke"}, []string{"END_USER", "RFC 7009"}},
		{[]string{"connections", "check"}, []string{"END_USER", "healthCheck", "exits 6"}},
		{[]string{"connect"}, []string{"DATASOURCE", "END_USER", "--return-to", "--display-name", "--email", "--allowed-return-origins"}},
		{[]string{"api-keys"}, []string{"create", "list", "revoke", "GRANTD_API_KEY", "admin"}},
		{[]string{"api-keys", "create"}, []string{"--name", "--permissions", "--datasource", "will not be shown again", "proxy", "mcp", "-o", "GRANTD_API_KEY"}},
		{[]string{"api-keys", "list"}, []string{"-o", "never shown", "once a minute"}},
		{[]string{"api-keys", "revoke"}, []string{"KEY_ID", "gk_", "exits 3"}},
		{[]string{"status"}, []string{"-o", "exit"}},
		{[]string{"providers"}, []string{"list"}},
		{[]string{"providers", "list"}, []string{"SEARCH", "-o", "GET /api/v1/providers"}},
		{[]string{"version"}, nil},
	} {
		for _, h := range []string{"-h", "-help", "--help"} {
			args := append(append([]string{}, tt.cmd...), h)
			stdout, stderr, code := runBinary(t, env, args...)
			name := strings.Join(append([]string{"grantd"}, tt.cmd...), " ")
			if code != 0 || stderr != "" {
				t.Errorf("%v: exit %d, stderr %q; want 0 and nothing on stderr", args, code, stderr)
				continue
			}
			for _, w := range append([]string{"Usage:", name}, tt.want...) {
				if !strings.Contains(stdout, w) {
					t.Errorf("%v: the help does not mention %q:\n%s", args, w, stdout)
				}
			}
		}
	}
	// grantd help CMD is CMD -h.
	if stdout, _, code := runBinary(t, env, "help", "datasources", "get"); code != 0 || !strings.Contains(stdout, "Usage: grantd datasources get") {
		t.Errorf("help datasources get: exit %d\n%s", code, stdout)
	}
	// A bad flag is a usage error on stderr, not help on stdout.
	for _, args := range [][]string{{"status", "--nope"}, {"serve", "--nope"}, {"keys", "rotate", "--nope"}, {"keys", "rotate", "extra"}, {"version", "extra"}} {
		stdout, stderr, code := runBinary(t, env, args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, "-h") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, a pointer to -h on stderr", args, code, stdout, stderr)
		}
	}
}

// TestCLIOutputAndApplyErrors: get prints a table unless told otherwise;
// flags take one or two dashes, before or after the name; apply shows why
// a datasource it created or updated is in error; a missing -f file is
// rejected input (5) even before the admin token is looked at.
func TestCLIOutputAndApplyErrors(t *testing.T) {
	prov := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	prov.AddClient(grantstest.Client{ID: "svc", Secret: "the-right-secret-3f2e1d", AuthMethod: "client_secret_post"})
	dir := t.TempDir()
	p := start(t, filepath.Join(dir, "data"), "GRANTD_ADMIN_TOKEN="+adminTok)

	file := func(name, secret string) string {
		f := filepath.Join(dir, name+".yaml")
		os.WriteFile(f, []byte("name: "+name+"\nurl: "+prov.URL+"/api\nauth:\n  grantType: client_credentials\n  accessTokenUrl: "+prov.TokenURL()+
			"\n  clientId: svc\n  clientSecret: "+secret+"\n  clientAuthentication: body\n"), 0o600)
		return f
	}
	out, code := cli(t, p, "apply", "-f", file("Works", "the-right-secret-3f2e1d"))
	if code != 0 || !strings.Contains(out, "+ Works created") || !strings.Contains(out, "authorized") {
		t.Fatalf("apply: %d\n%s", code, out)
	}
	lastError := func(name string) string {
		var v struct {
			Authorization struct{ Status, LastError string }
		}
		o, _ := cli(t, p, "datasources", "get", name, "-o", "json")
		json.Unmarshal([]byte(o), &v)
		if v.Authorization.Status != "error" || v.Authorization.LastError == "" {
			t.Fatalf("%s: want status error with a lastError, got %+v", name, v.Authorization)
		}
		return v.Authorization.LastError
	}
	// Created in error: the reason is in apply's output.
	out, code = cli(t, p, "apply", "-f", file("Refused", "a-wrong-secret-9a8b7c"))
	if le := lastError("Refused"); !strings.Contains(out, "+ Refused created") || !strings.Contains(out, oneLine(le, len(le))) {
		t.Errorf("apply of a datasource the provider refuses: %d\n%s\nwant its lastError %q", code, out, le)
	}
	// Updated into error: likewise.
	out, code = cli(t, p, "apply", "-f", file("Works", "a-wrong-secret-9a8b7c"))
	if le := lastError("Works"); !strings.Contains(out, "~ Works updated") || !strings.Contains(out, oneLine(le, len(le))) {
		t.Errorf("apply of an update the provider refuses: %d\n%s\nwant its lastError %q", code, out, le)
	}

	// get: a table by default and with -o table; JSON and YAML on request,
	// with one or two dashes, before or after the name.
	for _, args := range [][]string{{"datasources", "get", "Refused"}, {"datasources", "get", "Refused", "-o", "table"}, {"ds", "get", "--o=table", "Refused"}} {
		out, code := cli(t, p, args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "STATUS") ||
			!strings.HasPrefix(lines[1], "Refused ") || !strings.Contains(lines[1], "error") {
			t.Errorf("%v: exit %d; want a header and one row:\n%s", args, code, out)
		}
	}
	for _, args := range [][]string{{"datasources", "get", "Refused", "--o", "json"}, {"datasources", "get", "-o=json", "Refused"}, {"datasources", "list", "--o", "json"}} {
		if out, code := cli(t, p, args...); code != 0 || !json.Valid([]byte(out)) {
			t.Errorf("%v: exit %d, not JSON:\n%s", args, code, out)
		}
	}
	if out, code := cli(t, p, "datasources", "get", "Refused", "--o", "yaml"); code != 0 || !strings.Contains(out, "name: Refused") {
		t.Errorf("get --o yaml: exit %d\n%s", code, out)
	}
	if out, code := cli(t, p, "status", "--o", "json"); code != exitNotUsable || !json.Valid([]byte(out)) {
		t.Errorf("status --o json: exit %d\n%s", code, out)
	}

	// A missing file is rejected input, with or without an admin token.
	missing := filepath.Join(dir, "no-such-file.yaml")
	if out, code := cli(t, p, "apply", "-f", missing); code != exitRejected || !strings.Contains(out, "no-such-file.yaml") {
		t.Errorf("apply -f of a missing file: exit %d\n%s", code, out)
	}
	_, stderr, code := runBinary(t, environ("GRANTD_ADMIN_TOKEN"), "apply", "-f", missing)
	if code != exitRejected || !strings.Contains(stderr, "no-such-file.yaml") {
		t.Errorf("apply -f of a missing file without an admin token: exit %d\n%s", code, stderr)
	}
	p.stop()
}
