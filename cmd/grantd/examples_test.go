package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/webhook"
)

const (
	vectaraSecret = "vectara-secret-from-env-8a7b6c"
	partnerSecret = "partner-secret-from-file-5d4e3f"
	googleSecret  = "google-secret-from-env-2a1b0c"
	hookSecret    = "webhook-signing-secret-for-tests"
	adminTok      = "operator-admin-token-0123456789"
)

// cli runs the grantd binary as a client of p with the admin token and
// returns its output and exit code. A GRANTD_API_KEY of the environment,
// which would win over the token, is left out.
func cli(t *testing.T, p *proc, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(environ("GRANTD_API_KEY"), "GRANTD_URL="+p.URL, "GRANTD_ADMIN_TOKEN="+adminTok)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// hookReceiver collects verified webhook deliveries.
type hookReceiver struct {
	mu     sync.Mutex
	events []datasource.Event
	bad    int
}

// TestExamplesApplyCLIAndWebhooks applies every file in examples/ to a real
// grantd with the provider URLs swapped for the in-process authorization
// server, then exercises the CLI and the webhooks on the result.
func TestExamplesApplyCLIAndWebhooks(t *testing.T) {
	prov := grantstest.NewProvider(t, grantstest.ProviderOptions{JWT: true, AccessTokenLifespan: 30 * time.Minute})
	dir := t.TempDir()
	secretDir := filepath.Join(dir, "secrets") // stands in for /run/secrets
	os.Mkdir(secretDir, 0o700)
	secretFile := filepath.Join(secretDir, "partner_api_client_secret")
	os.WriteFile(secretFile, []byte(partnerSecret+"\n"), 0o600)

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
		if r.Header.Get(webhook.HeaderEventID) != e.ID {
			rcv.bad++
		}
		rcv.events = append(rcv.events, e)
	}))
	defer hooks.Close()

	p := startArgs(t, filepath.Join(dir, "data"), []string{"--webhook-url", hooks.URL + "/hooks/grantd", "--secret-dir", secretDir},
		"GRANTD_ADMIN_TOKEN="+adminTok, "GRANTD_WEBHOOK_SECRET="+hookSecret,
		"VECTARA_CLIENT_SECRET="+vectaraSecret, "GOOGLE_CLIENT_SECRET="+googleSecret)
	redirect := p.URL + "/api/v1/datasources/authorize"
	prov.AddClient(grantstest.Client{ID: "2ivk3pmg5b6ofn1ebm0q3e6rt7", Secret: vectaraSecret, AuthMethod: "client_secret_post"})
	prov.AddClient(grantstest.Client{ID: "6f1ab2c3d4e5f6a7b8c9d0e1f2", Secret: partnerSecret, Scopes: []string{"api/write"}})
	prov.AddClient(grantstest.Client{ID: "1234567890-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com", Secret: googleSecret,
		Scopes: []string{"https://www.googleapis.com/auth/drive.readonly"}, RedirectURIs: []string{redirect}})

	// The examples, with the providers' URLs swapped for the test server's.
	swap := strings.NewReplacer(
		"https://vectara-prod-1234567890.auth.us-west-2.amazoncognito.com/oauth2/token", prov.TokenURL(),
		"https://auth-provider-dev.auth.eu-west-1.amazoncognito.com/oauth2/token", prov.TokenURL(),
		"https://oauth2.googleapis.com/token", prov.TokenURL(),
		"https://accounts.google.com/o/oauth2/v2/auth", prov.AuthURL(),
		"https://api.vectara.io", prov.URL+"/api/vectara",
		"https://api.partner.example.com/v1", prov.URL+"/api/partner",
		"https://www.googleapis.com/drive/v3", prov.URL+"/api/drive",
		"/run/secrets/partner_api_client_secret", secretFile,
	)
	var files []string
	for _, name := range []string{"vectara.yaml", "cognito-basic.yaml", "google-authcode.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(swap.Replace(string(b))), 0o600)
		files = append(files, "-f", f)
	}

	out, code := cli(t, p, append([]string{"apply", "--dry-run"}, files...)...)
	if code != 0 || strings.Count(out, "would be created") != 3 {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if n, _ := listLen(t, p); n != 0 {
		t.Fatal("the dry run created something")
	}
	out, code = cli(t, p, append([]string{"apply"}, files...)...)
	if code != 0 || !strings.Contains(out, "3 created, 0 updated, 0 unchanged, 0 failed") {
		t.Fatalf("apply: %d\n%s", code, out)
	}

	// Vectara: body credentials, a 30-minute JWT.
	v := getJSON(t, p, "Vectara")
	exp, _ := time.Parse(time.RFC3339, v.Authorization.ExpiresAt)
	if v.Authorization.Status != "authorized" || time.Until(exp) < 29*time.Minute || time.Until(exp) > 31*time.Minute || v.Auth.ClientSecretRef != "${env:VECTARA_CLIENT_SECRET}" {
		t.Fatalf("Vectara: %+v", v)
	}
	// The partner API: Basic credentials, scope api/write, secret from a file.
	pa := getJSON(t, p, "Partner API")
	if pa.Authorization.Status != "authorized" || pa.Authorization.GrantedScope != "api/write" {
		t.Fatalf("Partner API: %+v", pa)
	}
	methods := map[string]string{}
	for _, ev := range prov.Events() {
		methods[ev.ClientID] = ev.AuthMethod + " " + ev.Form["scope"]
	}
	if methods["2ivk3pmg5b6ofn1ebm0q3e6rt7"] != "body " || methods["6f1ab2c3d4e5f6a7b8c9d0e1f2"] != "basic api/write" {
		t.Errorf("token requests: %v", methods)
	}
	// Google: a person authorizes through the printed URL.
	out, code = cli(t, p, "status")
	if code != exitNotUsable || !strings.Contains(out, "Google Drive: unauthorized") {
		t.Fatalf("status before authorizing: %d\n%s", code, out)
	}
	out, code = cli(t, p, "authorize", "Google Drive")
	authURL, err := url.Parse(strings.TrimSpace(out))
	if code != 0 || err != nil || authURL.Query().Get("access_type") != "offline" || authURL.Query().Get("prompt") != "consent" {
		t.Fatalf("authorize: %d %s", code, out)
	}
	br := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := br.PostForm(authURL.String(), url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = br.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if q := mustQuery(t, resp.Header.Get("Location")); q.Get("result") != "authorized" {
		t.Fatalf("callback: %s", resp.Header.Get("Location"))
	}
	out, code = cli(t, p, "status")
	if code != 0 || !strings.Contains(out, "3 authorized") {
		t.Fatalf("status after authorizing: %d\n%s", code, out)
	}

	// Applying the same files again changes nothing.
	out, code = cli(t, p, append([]string{"apply"}, files...)...)
	if code != 0 || !strings.Contains(out, "0 created, 0 updated, 3 unchanged, 0 failed") {
		t.Fatalf("second apply: %d\n%s", code, out)
	}
	// A change shows in the dry run, without secrets, and then applies.
	changed := filepath.Join(dir, "changed.yaml")
	b, _ := os.ReadFile(filepath.Join(dir, "cognito-basic.yaml"))
	os.WriteFile(changed, []byte(strings.Replace(string(b), "clientAuthentication: basic", "clientAuthentication: basic\n      headerPrefix: Token", 1)), 0o600)
	out, code = cli(t, p, "apply", "--dry-run", "-f", changed)
	if code != 0 || !strings.Contains(out, `auth.headerPrefix: "Bearer" → "Token"`) {
		t.Fatalf("dry run of a change: %d\n%s", code, out)
	}
	out, code = cli(t, p, "apply", "-f", changed)
	if code != 0 || !strings.Contains(out, "0 created, 1 updated") {
		t.Fatalf("apply of a change: %d\n%s", code, out)
	}
	// Bad input: a clear error naming the field, exit 5.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: Broken\nurl: ftp://x\nauth:\n  grantType: client_credentials\n  accessTokenUrl: "+prov.TokenURL()+"\n  clientId: a\n  clientSecret: ${env:}\n"), 0o600)
	out, code = cli(t, p, "apply", "-f", bad)
	if code != exitRejected || !strings.Contains(out, "url:") || !strings.Contains(out, "auth.clientSecret") {
		t.Fatalf("bad file: %d\n%s", code, out)
	}

	// Export: references kept, literal secrets never; re-appliable.
	out, code = cli(t, p, "export")
	if code != 0 || !strings.Contains(out, "${env:VECTARA_CLIENT_SECRET}") || !strings.Contains(out, "name: Google Drive") {
		t.Fatalf("export: %d\n%s", code, out)
	}
	exported := filepath.Join(dir, "exported.yaml")
	os.WriteFile(exported, []byte(out), 0o600)
	out, code = cli(t, p, "apply", "-f", exported)
	if code != 0 || !strings.Contains(out, "3 unchanged") {
		t.Fatalf("applying the export: %d\n%s", code, out)
	}

	// The other commands.
	out, code = cli(t, p, "datasources", "list")
	if code != 0 || !strings.Contains(out, "NAME") || strings.Count(out, "authorized") != 3 {
		t.Fatalf("list: %d\n%s", code, out)
	}
	out, code = cli(t, p, "datasources", "get", "Vectara", "-o", "json")
	if code != 0 || !json.Valid([]byte(out)) {
		t.Fatalf("get -o json: %d\n%s", code, out)
	}
	if out, code = cli(t, p, "token", "Vectara"); code != exitNotUsable || !strings.Contains(out, "exposeToken") {
		t.Fatalf("token without exposeToken: %d\n%s", code, out)
	}
	if _, code = cli(t, p, "datasources", "get", "Nope"); code != exitNotFound {
		t.Fatalf("get of an unknown name: %d", code)
	}
	cmd := exec.Command(binary, "datasources", "list")
	cmd.Env = append(os.Environ(), "GRANTD_URL="+p.URL, "GRANTD_ADMIN_TOKEN=wrong-token-wrong-token")
	if err := cmd.Run(); err == nil || err.(*exec.ExitError).ExitCode() != exitAuth {
		t.Fatalf("wrong admin token: %v", err)
	}
	out, code = cli(t, p, "datasources", "delete", "Partner API")
	if code != 0 || !strings.Contains(out, "deleted Partner API") {
		t.Fatalf("delete: %d\n%s", code, out)
	}

	// The event log has the audit trail with who did it, and the status
	// changes went to the webhook, signed.
	// Events are written in batches, a moment after the action.
	var evs struct {
		Events []datasource.Event `json:"events"`
	}
	types := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); types[datasource.EventDeleted] == 0 && time.Now().Before(deadline); {
		getAPI(t, p, "/api/v1/events", &evs)
		clear(types)
		for _, e := range evs.Events {
			types[e.Type]++
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a hang guard
	}
	for _, e := range evs.Events {
		if e.Type == datasource.EventCreated && !strings.HasPrefix(e.Actor, "token:") {
			t.Errorf("created by %q", e.Actor)
		}
	}
	if types[datasource.EventCreated] != 3 || types[datasource.EventStatusChanged] < 3 || types[datasource.EventDeleted] != 1 ||
		types[datasource.EventAuthorizeComplete] != 1 || types[datasource.EventUpdated] != 1 {
		t.Errorf("event types %v", types)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		rcv.mu.Lock()
		n, bad := len(rcv.events), rcv.bad
		rcv.mu.Unlock()
		if bad > 0 {
			t.Fatalf("%d webhook deliveries with a bad signature", bad)
		}
		if n >= len(evs.Events) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered", n, len(evs.Events))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a hang guard
	}
	p.stop()
	logs := p.logs.String()
	for _, s := range []string{vectaraSecret, partnerSecret, googleSecret, hookSecret, adminTok, "/hooks/grantd"} {
		if strings.Contains(logs, s) {
			t.Errorf("%q appears in grantd's logs", s)
		}
	}
}

type viewJSON struct {
	ID   string
	Auth struct {
		ClientSecretRef string `json:"clientSecretRef"`
	}
	Authorization struct {
		Status       string
		ExpiresAt    string
		GrantedScope string
	}
}

func getJSON(t *testing.T, p *proc, name string) viewJSON {
	t.Helper()
	out, code := cli(t, p, "datasources", "get", name, "-o", "json")
	if code != 0 {
		t.Fatalf("get %s: %d %s", name, code, out)
	}
	var v viewJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func getAPI(t *testing.T, p *proc, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

func listLen(t *testing.T, p *proc) (int, error) {
	var l struct{ Datasources []any }
	getAPI(t, p, "/api/v1/datasources", &l)
	return len(l.Datasources), nil
}

func mustQuery(t *testing.T, raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
