package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/grants/grantstest"
)

// TestExampleGoogleServiceAccount applies
// examples/google-sheets-service-account.yaml to a real grantd with
// Google's URLs swapped for fosite's, whose RFC 7523 grant knows the
// service account's key: the datasource is authorized with no person, the
// key file stays a reference, and a proxied call is made as the service
// account.
func TestExampleGoogleServiceAccount(t *testing.T) {
	prov := grantstest.NewProvider(t, grantstest.ProviderOptions{JWT: true})
	const email = "sheets-reader@my-project-123456.iam.gserviceaccount.com"
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	prov.AddAssertionKey(email, email, "4f8e0a1b2c3d", key.Signer.Public(), []string{"https://www.googleapis.com/auth/spreadsheets.readonly"})

	dir := t.TempDir()
	secretDir := filepath.Join(dir, "secrets")
	os.Mkdir(secretDir, 0o700)
	saFile := filepath.Join(secretDir, "sheets-reader.json")
	os.WriteFile(saFile, []byte(key.ServiceAccountJSON(email, "4f8e0a1b2c3d", prov.TokenURL())), 0o600)
	p := startArgs(t, filepath.Join(dir, "data"), []string{"--secret-dir", secretDir}, "GRANTD_ADMIN_TOKEN="+adminTok)

	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "google-sheets-service-account.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	swap := strings.NewReplacer(
		"https://oauth2.googleapis.com/token", prov.TokenURL(),
		"https://sheets.googleapis.com/v4", prov.URL+"/api/sheets",
		"/run/secrets/sheets-reader.json", saFile,
	)
	f := filepath.Join(dir, "sheets.yaml")
	os.WriteFile(f, []byte(swap.Replace(string(b))), 0o600)
	out, code := cli(t, p, "apply", "-f", f)
	if code != 0 || !strings.Contains(out, "1 created") {
		t.Fatalf("apply: %d\n%s", code, out)
	}
	var v saView
	deadline := time.Now().Add(10 * time.Second)
	for {
		var l struct{ Datasources []saView }
		getAPI(t, p, "/api/v1/datasources", &l)
		if len(l.Datasources) == 1 {
			v = l.Datasources[0]
		}
		if v.Authorization.Status == "authorized" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v.Authorization.Status != "authorized" || v.Auth.ServiceAccountJSONRef != "${file:"+saFile+"}" {
		t.Fatalf("datasource: %+v", v)
	}
	var ans grantstest.APIAnswer
	getAPI(t, p, "/api/v1/datasources/"+v.ID+"/proxy/spreadsheets/x/values/A1:D10", &ans)
	if ans.Subject != email || ans.Path != "/api/sheets/spreadsheets/x/values/A1:D10" {
		t.Errorf("proxied call: %+v", ans)
	}
	// Applying it again changes nothing; the export keeps the reference.
	if out, code := cli(t, p, "apply", "-f", f); code != 0 || !strings.Contains(out, "1 unchanged") {
		t.Errorf("second apply: %d\n%s", code, out)
	}
	if out, code := cli(t, p, "export"); code != 0 || !strings.Contains(out, "serviceAccountJson: ${file:"+saFile+"}") {
		t.Errorf("export: %d\n%s", code, out)
	}
}

// saView is what the test reads of a datasource view.
type saView struct {
	ID   string
	Auth struct {
		ServiceAccountJSONRef string `json:"serviceAccountJsonRef"`
	}
	Authorization struct{ Status, LastError string }
}
