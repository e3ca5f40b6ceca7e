package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
)

// environ is os.Environ without the named variables, for commands that
// must not inherit them from whoever runs the tests.
func environ(without ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(without, name) {
			out = append(out, kv)
		}
	}
	return out
}

// runBinary runs grantd to completion (with a hang guard: a command that
// should refuse to start must not serve instead) and returns its stdout,
// stderr and exit code.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir() // a stray ./data would land here, not in the package
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("grantd %v did not exit:\nstdout: %s\nstderr: %s", args, o.String(), e.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// listing names every file under dir with its size, or nil when dir does
// not exist.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, rel+" "+fi.Mode().String())
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBusyPortCreatesNothing: a first start that cannot listen (the port,
// or the pprof port, is taken) fails before it creates the data dir, the
// master key, the keyset, the database or an admin token, so the next
// start is still a first start and prints the token. A later start, which
// finds the stored hash, says how to get a new token.
func TestBusyPortCreatesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := filepath.Join(t.TempDir(), "data")
	env := environ("GRANTD_ADMIN_TOKEN", "GRANTD_MASTER_KEY")

	for _, args := range [][]string{
		{"--addr", busy.Addr().String()},
		{"--addr", freePort(t), "--pprof-addr", busy.Addr().String()},
	} {
		stdout, stderr, code := runBinary(t, env, append([]string{"serve", "--data-dir", dir}, args...)...)
		if code == 0 || !strings.Contains(stderr, busy.Addr().String()) {
			t.Errorf("serve %v on a busy port: exit %d\n%s", args, code, stderr)
		}
		if tokenRE.MatchString(stdout) || strings.Contains(stdout, "Admin token") {
			t.Errorf("serve %v printed an admin token though it did not start: %q", args, stdout)
		}
		if l := listing(t, dir); l != nil {
			t.Errorf("serve %v on a busy port created %v", args, l)
		}
	}

	p := start(t, dir)
	token := tokenRE.FindString(p.stdout.String())
	if token == "" {
		t.Fatalf("the first start that listened printed no admin token: %q", p.stdout.String())
	}
	if strings.Contains(p.logs.String(), "admin-token reset") {
		t.Errorf("a first start points at admin-token reset:\n%s", p.logs.String())
	}
	p.stop()

	p = start(t, dir)
	if tokenRE.MatchString(p.stdout.String()) {
		t.Fatal("the admin token was printed again")
	}
	var hint []string
	for _, l := range strings.Split(p.logs.String()+p.stdout.String(), "\n") {
		if strings.Contains(l, "grantd admin-token reset") {
			hint = append(hint, l)
		}
	}
	if len(hint) != 1 || !strings.Contains(hint[0], "stop") {
		t.Errorf("a restart with a stored admin token should say once how to get one; got %q in\n%s", hint, p.logs.String())
	}
	p.stop()

	// With GRANTD_ADMIN_TOKEN set there is nothing to say.
	p = start(t, dir, "GRANTD_ADMIN_TOKEN=an-admin-token-of-sufficient-length")
	if strings.Contains(p.logs.String(), "admin-token reset") {
		t.Errorf("GRANTD_ADMIN_TOKEN is set, yet:\n%s", p.logs.String())
	}
	p.stop()
}

// TestMissingMasterKeyCreatesNothing: a data dir whose keyset or database
// was made under GRANTD_MASTER_KEY, started without it, is refused with a
// message naming GRANTD_MASTER_KEY and master.key — and no new key file is
// written (it could never open them, and would hide the mistake next
// time). The maintenance commands refuse the same way.
func TestMissingMasterKeyCreatesNothing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	key := crypto.GenerateMasterKey().Encode()
	p := start(t, src, "GRANTD_MASTER_KEY="+key, "GRANTD_ADMIN_TOKEN=an-admin-token-of-sufficient-length")
	p.stop()
	env := environ("GRANTD_ADMIN_TOKEN", "GRANTD_MASTER_KEY")

	for _, tt := range []struct {
		name  string
		files []string
		args  []string
	}{
		{"serve, keyset and db", []string{"keyset.json", "grantd.db"}, []string{"serve", "--addr", freePort(t)}},
		{"serve, db only", []string{"grantd.db"}, []string{"serve", "--addr", freePort(t)}},
		{"serve, keyset only", []string{"keyset.json"}, []string{"serve", "--addr", freePort(t)}},
		{"keys rotate", []string{"keyset.json", "grantd.db"}, []string{"keys", "rotate"}},
		{"admin-token reset", []string{"keyset.json", "grantd.db"}, []string{"admin-token", "reset"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			for _, f := range tt.files {
				b, err := os.ReadFile(filepath.Join(src, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before := listing(t, dir)
			stdout, stderr, code := runBinary(t, env, append(tt.args, "--data-dir", dir)...)
			if code == 0 || !strings.Contains(stderr, "GRANTD_MASTER_KEY") || !strings.Contains(stderr, "master.key") {
				t.Errorf("exit %d; want a refusal naming GRANTD_MASTER_KEY and master.key\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if after := listing(t, dir); !slices.Equal(before, after) {
				t.Errorf("the data dir changed:\nbefore %v\nafter  %v", before, after)
			}
			if tokenRE.MatchString(stdout) {
				t.Error("an admin token was printed")
			}
		})
	}
}
