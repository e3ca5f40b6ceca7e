package main

import (
	"bytes"
	"context"
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
