package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSkillExport: grantd skill export writes an Agent Skill — SKILL.md
// whose front matter has a valid name and a description, and examples —
// with --url filled in, no placeholder left, and an existing skill kept
// unless --force.
func TestSkillExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "grantd-skill")
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"skill", "export", dir, "--url", "https://grantd.example.com/"}, &out, &errb); err != nil {
		t.Fatalf("export: %v %s", err, errb.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "SKILL.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)^---\nname: ([a-z0-9-]{1,64})\ndescription: ([^\n]+)\n---\n`).FindStringSubmatch(string(b))
	if m == nil || m[1] != "grantd-datasources" || len(m[2]) > 1024 {
		t.Fatalf("SKILL.md has no valid front matter:\n%.300s", b)
	}
	for _, want := range []string{"/api/v1/datasources/NAME/proxy/", "Grantd-End-User", "connectUrl", "https://grantd.example.com", "examples/"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("SKILL.md does not mention %q", want)
		}
	}
	for _, f := range []string{"examples/curl.sh", "examples/python.py", "examples/mcp.json"} {
		e, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(e), "https://grantd.example.com") {
			t.Errorf("%s does not default to --url", f)
		}
	}
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "{{") {
				t.Errorf("%s keeps a placeholder", p)
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "examples/curl.sh")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("curl.sh is not executable: %v", st)
	}

	// Again: kept, unless --force.
	if err := run(context.Background(), []string{"skill", "export", dir}, &out, &errb); err == nil {
		t.Error("a second export overwrote the skill")
	}
	if err := run(context.Background(), []string{"skill", "export", "--force", "--url", "http://127.0.0.1:9", dir}, &out, &errb); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "SKILL.md")); !strings.Contains(string(b), "http://127.0.0.1:9") {
		t.Error("--force did not rewrite SKILL.md")
	}
	for _, bad := range [][]string{{"skill", "export"}, {"skill", "export", dir, "--url", "ftp://x"}, {"skill", "import", dir}} {
		if err := run(context.Background(), bad, &out, &errb); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
