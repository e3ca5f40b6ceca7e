package main

import (
	"strings"
	"testing"
)

// TestHelp: -h, -help and --help print the command's help to standard
// output and exit 0, for every command, without an admin token, without a
// grantd to talk to, and without touching a data dir.
func TestHelp(t *testing.T) {
	env := append(environ("GRANTD_ADMIN_TOKEN", "GRANTD_MASTER_KEY", "GRANTD_DATA_DIR"), "GRANTD_URL=http://127.0.0.1:1")
	for _, tt := range []struct {
		cmd  []string
		want []string // besides "Usage:" and the command's name
	}{
		{nil, []string{"grantd serve", "grantd datasources"}},
		{[]string{"serve"}, []string{"--addr", "GRANTD_ADDR", "GRANTD_ADMIN_TOKEN", "GRANTD_MASTER_KEY", "GRANTD_WEBHOOK_SECRET", "admin-token reset"}},
		{[]string{"keys"}, []string{"rotate", "generate"}},
		{[]string{"keys", "rotate"}, []string{"--data-dir", "GRANTD_MASTER_KEY", "Stop grantd"}},
		{[]string{"keys", "generate"}, []string{"GRANTD_MASTER_KEY"}},
		{[]string{"admin-token"}, []string{"reset"}},
		{[]string{"admin-token", "reset"}, []string{"--data-dir", "Stop grantd"}},
		{[]string{"apply"}, []string{"-f", "--dry-run", "GRANTD_ADMIN_TOKEN", "GRANTD_URL"}},
		{[]string{"export"}, []string{"-o", "GRANTD_ADMIN_TOKEN"}},
		{[]string{"datasources"}, []string{"list", "get", "delete"}},
		{[]string{"datasources", "list"}, []string{"-o", "GRANTD_ADMIN_TOKEN"}},
		{[]string{"datasources", "get"}, []string{"NAME", "-o"}},
		{[]string{"datasources", "delete"}, []string{"NAME"}},
		{[]string{"token"}, []string{"NAME", "exposeToken"}},
		{[]string{"authorize"}, []string{"NAME", "--return-to"}},
		{[]string{"status"}, []string{"-o", "exit"}},
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
