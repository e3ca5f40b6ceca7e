package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// tokenRecorder is the attacker's token endpoint of issue 13: it keeps
// every request (Authorization header, Basic decoded, form decoded) and
// answers with a token.
type tokenRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newTokenRecorder(t *testing.T) *tokenRecorder {
	r := &tokenRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.NotFound(w, req)
			return
		}
		body, _ := io.ReadAll(req.Body)
		line := req.Header.Get("Authorization") + " " + string(body)
		if u, p, ok := req.BasicAuth(); ok {
			uu, _ := url.QueryUnescape(u)
			pp, _ := url.QueryUnescape(p)
			line += " " + uu + ":" + pp
		}
		form, _ := url.ParseQuery(string(body))
		for _, vs := range form {
			line += " " + strings.Join(vs, " ")
		}
		r.mu.Lock()
		r.seen = append(r.seen, line)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at-from-recorder","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *tokenRecorder) all() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.seen, "\n"), len(r.seen)
}

func (r *tokenRecorder) body(name, secret string) map[string]any {
	return map[string]any{"name": name, "url": r.URL + "/api", "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": r.URL + "/token", "clientId": "svc", "clientSecret": secret}}
}

type problemJSON struct {
	Errors []struct{ Field, Message string }
}

type dsJSON struct {
	ID            string
	Authorization struct{ Status, LastError string }
}

// TestSecretFenceServe attacks a real grantd as issue 13 did: someone who
// may write datasources names grantd's own secrets as a client secret
// with a token URL they own. Each is a 400 naming auth.clientSecret and
// the rule; nothing reaches the token endpoint. A file swapped for a link
// after it was accepted, and a variable no longer allowed after a
// restart, are refused at the token request with the rule in lastError.
// What the fence allows works.
func TestSecretFenceServe(t *testing.T) {
	const webhookSecret = "webhook-signing-secret-never-sent-42"
	rec := newTokenRecorder(t)
	dir := t.TempDir()
	data, secrets := filepath.Join(dir, "data"), filepath.Join(dir, "secrets")
	os.Mkdir(secrets, 0o700)
	os.WriteFile(filepath.Join(secrets, "vectara"), []byte(vectaraSecret+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "outside"), []byte("outside-value"), 0o600)
	env := []string{"GRANTD_ADMIN_TOKEN=" + adminTok, "GRANTD_WEBHOOK_SECRET=" + webhookSecret, "PARTNER_CLIENT_SECRET=" + partnerSecret}
	p := startArgs(t, data, []string{"--secret-dir", secrets}, env...)
	os.Symlink(filepath.Join(data, "master.key"), filepath.Join(secrets, "to-master.key"))
	masterKey, err := os.ReadFile(filepath.Join(data, "master.key"))
	if err != nil || len(masterKey) < 16 {
		t.Fatalf("master.key: %v", err)
	}

	create := func(ref string) (int, []byte) {
		t.Helper()
		return p.call("POST", "/api/v1/datasources", adminTok, rec.body("ds-"+strings.Trim(filepath.Base(ref), "${}:"), ref))
	}
	refusal := func(ref string) string {
		t.Helper()
		code, b := create(ref)
		var pr problemJSON
		json.Unmarshal(b, &pr)
		if code != 400 || len(pr.Errors) != 1 || pr.Errors[0].Field != "auth.clientSecret" {
			t.Fatalf("%s: %d %s; want a 400 naming auth.clientSecret", ref, code, b)
		}
		return pr.Errors[0].Message
	}
	for _, a := range []struct{ ref, rule string }{
		{"${file:/proc/self/environ}", "is outside --secret-dir " + secrets},
		{"${file:" + data + "/master.key}", "is outside --secret-dir " + secrets},
		{"${file:" + secrets + "/to-master.key}", "does not resolve to a file inside --secret-dir " + secrets},
		{"${file:" + secrets + "/../data/master.key}", "needs a clean absolute path"},
		{"${env:GRANTD_WEBHOOK_SECRET}", "GRANTD_* variables are never resolved"},
		{"${env:GRANTD_ADMIN_TOKEN}", "GRANTD_* variables are never resolved"},
		{"${env:HOME}", "is not in --secret-env-allow (*_CLIENT_SECRET,*_CLIENT_ID,*_PRIVATE_KEY)"},
	} {
		if msg := refusal(a.ref); !strings.Contains(msg, a.rule) {
			t.Errorf("%s: %q; want the rule %q", a.ref, msg, a.rule)
		}
	}
	// Outside the fence, an existing and a missing file answer alike.
	for _, pair := range [][2]string{
		{filepath.Join(dir, "outside"), filepath.Join(dir, "missing")},
		{filepath.Join(data, "master.key"), filepath.Join(data, "missing.key")},
		{"/etc/passwd", "/etc/no-such-file"},
	} {
		a := strings.ReplaceAll(refusal("${file:"+pair[0]+"}"), pair[0], "PATH")
		b := strings.ReplaceAll(refusal("${file:"+pair[1]+"}"), pair[1], "PATH")
		if a != b {
			t.Errorf("existing %s: %q\nmissing %s: %q", pair[0], a, pair[1], b)
		}
	}
	if n, _ := listLen(t, p); n != 0 {
		t.Fatalf("%d refused datasources were stored", n)
	}

	// Allowed: a file in the secret dir, an allowlisted variable.
	ids := map[string]string{}
	for _, ref := range []string{"${file:" + secrets + "/vectara}", "${env:PARTNER_CLIENT_SECRET}"} {
		code, b := create(ref)
		var v dsJSON
		json.Unmarshal(b, &v)
		if code != 201 || v.Authorization.Status != "authorized" {
			t.Fatalf("%s: %d %s", ref, code, b)
		}
		ids[ref] = v.ID
	}
	all, before := rec.all()
	if !strings.Contains(all, vectaraSecret) || !strings.Contains(all, partnerSecret) {
		t.Fatal("the allowed secrets did not reach the token endpoint")
	}

	status := func(id string) dsJSON {
		t.Helper()
		p.call("POST", "/api/v1/datasources/"+id+"/refresh", adminTok, nil)
		_, b := p.call("GET", "/api/v1/datasources/"+id, adminTok, nil)
		var v dsJSON
		json.Unmarshal(b, &v)
		return v
	}
	// The accepted file swapped for a link to master.key: refused at the
	// token request.
	os.Remove(filepath.Join(secrets, "vectara"))
	os.Symlink(filepath.Join(data, "master.key"), filepath.Join(secrets, "vectara"))
	if v := status(ids["${file:"+secrets+"/vectara}"]); !strings.Contains(v.Authorization.LastError, "does not resolve to a file inside --secret-dir "+secrets) {
		t.Errorf("swapped for a link: %+v", v.Authorization)
	}
	if _, n := rec.all(); n != before {
		t.Errorf("%d token requests after the swap", n-before)
	}
	p.stop()

	// Restarted with no variables allowed: the stored reference is refused
	// at the token request, with the rule.
	p = startArgs(t, data, []string{"--secret-dir", secrets, "--secret-env-allow="}, env...)
	if v := status(ids["${env:PARTNER_CLIENT_SECRET}"]); !strings.Contains(v.Authorization.LastError, "${env:PARTNER_CLIENT_SECRET} is refused: --secret-env-allow is empty") {
		t.Errorf("after narrowing the allowlist: %+v", v.Authorization)
	}
	p.stop()

	all, n := rec.all()
	if n != before {
		t.Errorf("%d token requests for refused references", n-before)
	}
	mk := strings.TrimSpace(string(masterKey))
	for name, v := range map[string]string{"master.key": mk, "GRANTD_WEBHOOK_SECRET": webhookSecret, "GRANTD_ADMIN_TOKEN": adminTok,
		"HOME": os.Getenv("HOME"), "the environ": "GRANTD_ADMIN_TOKEN="} {
		for _, enc := range []string{v, url.QueryEscape(v), base64.StdEncoding.EncodeToString([]byte("svc:" + v))} {
			if v != "" && strings.Contains(all, enc) {
				t.Errorf("the token endpoint received %s", name)
			}
		}
	}
	if logs := p.logs.String(); strings.Contains(logs, mk) || strings.Contains(logs, webhookSecret) || strings.Contains(logs, vectaraSecret) {
		t.Error("a secret is in the logs")
	}
}

// TestSecretFenceFlags: a secret dir that is, contains or is inside the
// data dir, or a malformed pattern, is a usage error (exit 2) before
// anything is created.
func TestSecretFenceFlags(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	base := environ("GRANTD_SECRET_DIR", "GRANTD_SECRET_ENV_ALLOW", "GRANTD_DATA_DIR")
	for _, tt := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--secret-dir", data}, nil, "--data-dir"},
		{[]string{"--secret-dir", dir}, nil, "--data-dir"},
		{[]string{"--secret-dir", filepath.Join(data, "secrets")}, nil, "--data-dir"},
		{[]string{"--secret-dir", "/"}, nil, "--data-dir"},
		{nil, []string{"GRANTD_SECRET_DIR=" + dir}, "--data-dir"},
		{[]string{"--secret-env-allow", "*_CLIENT_SECRET,[oops"}, nil, "--secret-env-allow"},
		{nil, []string{"GRANTD_SECRET_ENV_ALLOW=[oops"}, "--secret-env-allow"},
	} {
		args := append([]string{"serve", "--addr", freePort(t), "--data-dir", data}, tt.args...)
		_, stderr, code := runBinary(t, append(base, tt.env...), args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v %v: exit %d %q; want 2 naming %s", tt.args, tt.env, code, stderr, tt.want)
		}
		if _, err := os.Stat(data); err == nil {
			t.Fatalf("%v: the data dir was created", tt.args)
		}
	}
}
