package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyExportStaticAuthType: a bearer datasource whose token is a
// file reference is applied, applied again unchanged, exported with its
// type and reference (never a value), and the export applies unchanged.
func TestApplyExportStaticAuthType(t *testing.T) {
	dir := t.TempDir()
	secretDir := filepath.Join(dir, "secrets")
	os.Mkdir(secretDir, 0o700)
	tokFile := filepath.Join(secretDir, "orders-token")
	os.WriteFile(tokFile, []byte("bt-cli-0f3a9e51-TOKEN"), 0o600)
	p := startArgs(t, filepath.Join(dir, "data"), []string{"--secret-dir", secretDir}, "GRANTD_ADMIN_TOKEN="+adminTok)
	f := filepath.Join(dir, "orders.yaml")
	os.WriteFile(f, []byte(`datasources:
  - name: Orders
    url: https://orders.example.com/api
    auth:
      type: bearer
      token: ${file:`+tokFile+`}
`), 0o600)
	if out, code := cli(t, p, "apply", "-f", f); code != 0 || !strings.Contains(out, "1 created") {
		t.Fatalf("apply: %d\n%s", code, out)
	}
	if out, code := cli(t, p, "apply", "-f", f); code != 0 || !strings.Contains(out, "1 unchanged") {
		t.Errorf("second apply: %d\n%s", code, out)
	}
	out, code := cli(t, p, "export")
	if code != 0 || !strings.Contains(out, "type: bearer") || !strings.Contains(out, "token: ${file:"+tokFile+"}") || strings.Contains(out, "bt-cli-0f3a9e51") {
		t.Fatalf("export: %d\n%s", code, out)
	}
	exported := filepath.Join(dir, "exported.yaml")
	os.WriteFile(exported, []byte(out), 0o600)
	if out, code := cli(t, p, "apply", "-f", exported); code != 0 || !strings.Contains(out, "1 unchanged") {
		t.Errorf("applying the export: %d\n%s", code, out)
	}
}
