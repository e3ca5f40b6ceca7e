package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/webhook"
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

// TestStaticProviderExamples applies examples/vectara-api-key.yaml and
// openai.yaml (their /run/secrets references moved to a test directory):
// the catalogue gives each its auth type, url and (Vectara) x-api-key
// header, the key is read from its file (status authorized), only the
// reference is stored, a second apply changes nothing, and the catalogue
// listing names the auth type instead of grants.
func TestStaticProviderExamples(t *testing.T) {
	dir := t.TempDir()
	secretDir := filepath.Join(dir, "secrets")
	os.Mkdir(secretDir, 0o700)
	os.WriteFile(filepath.Join(secretDir, "vectara-api-key"), []byte("zqt_vectara-example-7d1e"), 0o600)
	os.WriteFile(filepath.Join(secretDir, "openai-api-key"), []byte("sk-proj-example-3c9a"), 0o600)
	var files []string
	for _, name := range []string{"vectara-api-key.yaml", "openai.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(strings.ReplaceAll(string(b), "/run/secrets/", secretDir+"/")), 0o600)
		files = append(files, "-f", f)
	}
	rcv := &hookReceiver{}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute) != nil {
			rcv.bad++
			w.WriteHeader(400)
			return
		}
		var e datasource.Event
		json.Unmarshal(body, &e)
		rcv.events = append(rcv.events, e)
	}))
	defer hooks.Close()
	p := startArgs(t, filepath.Join(dir, "data"), []string{"--secret-dir", secretDir, "--webhook-url", hooks.URL},
		"GRANTD_ADMIN_TOKEN="+adminTok, "GRANTD_WEBHOOK_SECRET="+hookSecret)
	out, code := cli(t, p, append([]string{"apply"}, files...)...)
	if code != 0 || !strings.Contains(out, "2 created, 0 updated, 0 unchanged, 0 failed") {
		t.Fatalf("apply: %d\n%s", code, out)
	}
	type view struct {
		ID, URL, Provider string
		Auth              struct {
			Type, HeaderName string
			HeaderPrefix     *string
			GrantType        string
			APIKeyRef        string `json:"apiKeyRef"`
			TokenRef         string `json:"tokenRef"`
		}
		Authorization struct{ Status, LastError string }
	}
	get := func(name string) view {
		t.Helper()
		out, code := cli(t, p, "datasources", "get", name, "-o", "json")
		var v view
		if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 {
			t.Fatalf("get %s: %d %v\n%s", name, code, err, out)
		}
		return v
	}
	v := get("Vectara (API key)")
	if v.Provider != "vectara-api-key" || v.URL != "https://api.vectara.io" || v.Auth.Type != "apiKey" || v.Auth.HeaderName != "x-api-key" ||
		v.Auth.HeaderPrefix == nil || *v.Auth.HeaderPrefix != "" || v.Auth.GrantType != "" ||
		v.Auth.APIKeyRef != "${file:"+secretDir+"/vectara-api-key}" || v.Authorization.Status != "authorized" {
		t.Errorf("Vectara (API key): %+v", v)
	}
	o := get("OpenAI")
	if o.Provider != "openai" || o.URL != "https://api.openai.com" || o.Auth.Type != "bearer" || o.Auth.TokenRef != "${file:"+secretDir+"/openai-api-key}" ||
		o.Authorization.Status != "authorized" {
		t.Errorf("OpenAI: %+v", o)
	}
	out, code = cli(t, p, append([]string{"apply"}, files...)...)
	if code != 0 || !strings.Contains(out, "0 created, 0 updated, 2 unchanged, 0 failed") {
		t.Errorf("second apply: %d\n%s", code, out)
	}
	// The key's file gone, a recheck (POST …/refresh reads references
	// anew) puts OpenAI in error naming the reference, not a value; the
	// webhook gets the static datasources' events, signed, as any.
	os.Remove(filepath.Join(secretDir, "openai-api-key"))
	req, _ := http.NewRequest("POST", p.URL+"/api/v1/datasources/"+url.PathEscape(o.ID)+"/refresh", nil)
	req.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var a struct{ Status, LastError string }
	json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if a.Status != "error" || !strings.Contains(a.LastError, "openai-api-key") || strings.Contains(a.LastError, "sk-proj-example") {
		t.Errorf("after the key's file went: %d %+v", resp.StatusCode, a)
	}
	want := map[string]bool{"datasource.created " + v.ID: false, "datasource.created " + o.ID: false, "status.changed " + o.ID: false}
	for deadline := time.Now().Add(10 * time.Second); ; {
		rcv.mu.Lock()
		for _, e := range rcv.events {
			if _, ok := want[e.Type+" "+e.DatasourceID]; ok {
				want[e.Type+" "+e.DatasourceID] = true
			}
		}
		bad := rcv.bad
		rcv.mu.Unlock()
		all := true
		for _, got := range want {
			all = all && got
		}
		if bad > 0 {
			t.Fatalf("%d webhook deliveries with a bad signature", bad)
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook deliveries: %v", want)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a hang guard
	}

	out, code = cli(t, p, "providers", "list", "openai")
	if code != 0 || !strings.Contains(out, "auth.type bearer") || !strings.Contains(out, "platform.openai.com") {
		t.Errorf("providers list openai: %d\n%s", code, out)
	}
}
