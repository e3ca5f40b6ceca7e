package grants_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/secretref"
)

// recorder is a token endpoint that keeps every request it receives (the
// Authorization header, decoded, and the form) and answers with a token:
// the attacker's server in issue 13.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // one line per POST: Authorization, its Basic decoded, the form, decoded
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.NotFound(w, req) // no metadata: Basic first
			return
		}
		body, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(body))
		line := req.Header.Get("Authorization") + " " + string(body) + " " + form.Encode()
		if u, p, ok := req.BasicAuth(); ok {
			uu, _ := url.QueryUnescape(u)
			pp, _ := url.QueryUnescape(p)
			line += " " + uu + ":" + pp
		}
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

func (r *recorder) posts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// assertNeverReceived fails if any of the values reached the endpoint, in
// any encoding grantd might send it in.
func (r *recorder) assertNeverReceived(t *testing.T, values ...string) {
	t.Helper()
	all := strings.Join(r.posts(), "\n")
	for _, v := range values {
		for _, enc := range []string{v, url.QueryEscape(v), base64.StdEncoding.EncodeToString([]byte("svc:" + v))} {
			if v != "" && strings.Contains(all, enc) {
				t.Errorf("the token endpoint received %.20q…", v)
			}
		}
	}
}

func (r *recorder) datasource(secret string) *datasource.Datasource {
	return &datasource.Datasource{
		Name: "fenced-" + datasource.NewID(),
		URL:  r.URL + "/api",
		Auth: datasource.OAuth2{
			GrantType:      datasource.ClientCredentials,
			AccessTokenURL: r.URL + "/token",
			ClientID:       "svc",
			ClientSecret:   datasource.NewSecret(secret),
		},
	}
}

// fenceFixture is an engine whose references go through a secretref.Fence
// on a secret dir beside the engine's data dir (which holds a master.key
// like grantd's), with a fake environment.
type fenceFixture struct {
	*fixture
	fence   *secretref.Fence
	secrets string
	env     map[string]string
	mu      sync.Mutex // guards env
}

const (
	masterKeyValue = "bWFzdGVyLWtleS1vZi10aGUtZGF0YS1kaXIhIQ=="
	webhookValue   = "webhook-signing-secret-0123456789"
	homeValue      = "/home/operator-home-value"
	fileValue      = "client-secret-from-the-secret-dir"
	envValue       = "client-secret-from-an-allowed-variable"
)

func newFenceFixture(t *testing.T, check bool) *fenceFixture {
	t.Helper()
	ff := &fenceFixture{secrets: filepath.Join(t.TempDir(), "secrets"), env: map[string]string{
		"GRANTD_WEBHOOK_SECRET": webhookValue,
		"HOME":                  homeValue,
		"VECTARA_CLIENT_SECRET": envValue,
	}}
	must(t, os.Mkdir(ff.secrets, 0o700))
	must(t, os.WriteFile(filepath.Join(ff.secrets, "vectara"), []byte(fileValue+"\n"), 0o600))
	ff.fence = &secretref.Fence{
		EnvAllow: secretref.DefaultEnvAllow,
		LookupEnv: func(n string) (string, bool) {
			ff.mu.Lock()
			defer ff.mu.Unlock()
			v, ok := ff.env[n]
			return v, ok
		},
		Dir: ff.secrets,
	}
	opts := grants.Options{ResolveSecret: ff.fence.Resolve}
	if check {
		opts.CheckSecretRef = ff.fence.Check
	}
	ff.fixture = newFixture(t, fixtureOptions{engine: opts})
	ff.fence.DataDir = ff.dir // grantd.db and keyset.json are there
	must(t, os.WriteFile(filepath.Join(ff.dir, "master.key"), []byte(masterKeyValue), 0o600))
	must(t, ff.fence.Validate())
	return ff
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The attacks of issue 13, by someone who may write datasources: each
// names a secret of the grantd process as the client secret of a
// datasource whose token URL they own.
func attacks(ff *fenceFixture) []struct{ ref, rule string } {
	return []struct{ ref, rule string }{
		{"${file:/proc/self/environ}", "is outside --secret-dir " + ff.secrets},
		{"${file:" + ff.dir + "/master.key}", "is outside --secret-dir " + ff.secrets},
		{"${file:" + ff.secrets + "/link-to-master.key}", "does not resolve to a file inside --secret-dir " + ff.secrets},
		{"${env:GRANTD_WEBHOOK_SECRET}", "GRANTD_* variables are never resolved"},
		{"${env:HOME}", "is not in --secret-env-allow (*_CLIENT_SECRET,*_CLIENT_ID,*_PRIVATE_KEY)"},
	}
}

// TestSecretFenceAtResolution: with no check at create time, the fenced
// references are stored, and every token request is refused before it is
// made, with the rule in lastError; the token endpoint receives nothing.
// Allowed references still work.
func TestSecretFenceAtResolution(t *testing.T) {
	rec := newRecorder(t)
	ff := newFenceFixture(t, false)
	must(t, os.Symlink(filepath.Join(ff.dir, "master.key"), filepath.Join(ff.secrets, "link-to-master.key")))
	for _, a := range attacks(ff) {
		d := ff.create(rec.datasource(a.ref))
		ff.engine.Refresh(ctx, datasource.SharedKey(d.ID))
		if _, err := ff.engine.Token(ctx, datasource.SharedKey(d.ID)); err == nil {
			t.Errorf("%s: a token was obtained", a.ref)
		}
		st := ff.status(d.ID)
		if st.Status != datasource.StatusError || !strings.Contains(st.LastError, a.ref+" ") || !strings.Contains(st.LastError, a.rule) {
			t.Errorf("%s: %s %q; want the rule %q", a.ref, st.Status, st.LastError, a.rule)
		}
	}
	if n := len(rec.posts()); n != 0 {
		t.Errorf("the token endpoint received %d requests for fenced references", n)
	}
	rec.assertNeverReceived(t, masterKeyValue, webhookValue, homeValue)

	// What the fence allows keeps working, and reaches the endpoint.
	for ref, value := range map[string]string{
		"${file:" + ff.secrets + "/vectara}": fileValue,
		"${env:VECTARA_CLIENT_SECRET}":       envValue,
	} {
		d := ff.create(rec.datasource(ref))
		if st := ff.status(d.ID); st.Status != datasource.StatusAuthorized {
			t.Errorf("%s: %s %q", ref, st.Status, st.LastError)
		}
		if all := strings.Join(rec.posts(), "\n"); !strings.Contains(all, value) {
			t.Errorf("%s: the endpoint did not receive the allowed secret", ref)
		}
	}
	ff.assertNoSecrets(masterKeyValue, webhookValue, fileValue, envValue)
}

// TestSecretFenceNoExistenceOracle: outside the secret dir, a file that
// exists and one that does not leave the same lastError.
func TestSecretFenceNoExistenceOracle(t *testing.T) {
	rec := newRecorder(t)
	ff := newFenceFixture(t, false)
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "exists"), []byte("x"), 0o600))
	must(t, os.Symlink(filepath.Join(outside, "exists"), filepath.Join(ff.secrets, "to-exists")))
	must(t, os.Symlink(filepath.Join(outside, "missing"), filepath.Join(ff.secrets, "to-missing")))
	lastError := func(path string) string {
		ref := "${file:" + path + "}"
		d := ff.create(rec.datasource(ref))
		return strings.ReplaceAll(ff.status(d.ID).LastError, ref, "REF")
	}
	for _, pair := range [][2]string{
		{filepath.Join(outside, "exists"), filepath.Join(outside, "missing")},
		{filepath.Join(ff.dir, "master.key"), filepath.Join(ff.dir, "other.key")},
		{filepath.Join(ff.secrets, "to-exists"), filepath.Join(ff.secrets, "to-missing")},
	} {
		if a, b := lastError(pair[0]), lastError(pair[1]); a != b || a == "" {
			t.Errorf("existing: %q\nmissing:  %q\nwant the same", a, b)
		}
	}
	// Inside the secret dir, a missing file may say so.
	if e := lastError(filepath.Join(ff.secrets, "not-yet")); !strings.Contains(e, "no such file") {
		t.Errorf("missing inside: %q", e)
	}
	if n := len(rec.posts()); n != 0 {
		t.Errorf("the token endpoint received %d requests", n)
	}
}

// TestSecretFenceAtCreate: with Options.CheckSecretRef, a fenced
// reference is refused at Create and Update as a ValidationError naming
// auth.clientSecret with the rule, and nothing is stored or sent. A
// reference that is merely missing now is accepted (it may appear). The
// fence still decides at resolution: a file replaced by a link to
// master.key after it was accepted is refused then.
func TestSecretFenceAtCreate(t *testing.T) {
	rec := newRecorder(t)
	ff := newFenceFixture(t, true)
	must(t, os.Symlink(filepath.Join(ff.dir, "master.key"), filepath.Join(ff.secrets, "link-to-master.key")))
	fieldErr := func(err error) string {
		var v *datasource.ValidationError
		if !errors.As(err, &v) || len(v.Errors) != 1 || v.Errors[0].Field != "auth.clientSecret" {
			t.Fatalf("%v: want a ValidationError on auth.clientSecret", err)
		}
		return v.Errors[0].Message
	}
	// ${file:<secret dir>/../../<data dir>/master.key}: not clean, refused
	// by Validate before the fence is asked.
	up, err := filepath.Rel(ff.secrets, filepath.Join(ff.dir, "master.key"))
	if err != nil || !strings.HasPrefix(up, "..") {
		t.Fatalf("sanity: %q %v", up, err)
	}
	dotdot := struct{ ref, rule string }{"${file:" + ff.secrets + "/" + up + "}", "needs a clean absolute path"}
	for _, a := range append(attacks(ff), dotdot) {
		_, _, err := ff.engine.Create(ctx, rec.datasource(a.ref))
		if msg := fieldErr(err); !strings.Contains(msg, a.rule) {
			t.Errorf("create %s: %q; want the rule %q", a.ref, msg, a.rule)
		}
	}
	if l, _ := ff.engine.List(ctx); len(l) != 0 {
		t.Fatalf("%d refused datasources were stored", len(l))
	}

	// Missing now, allowed: accepted, and says what is missing.
	d := ff.create(rec.datasource("${env:PARTNER_CLIENT_SECRET}"))
	if st := ff.status(d.ID); !strings.Contains(st.LastError, "PARTNER_CLIENT_SECRET is not set") {
		t.Errorf("missing variable: %q", st.LastError)
	}
	// Update to a fenced reference: refused, the stored one stays.
	ch := d.Clone()
	ch.Auth.ClientSecret = datasource.NewSecret("${env:GRANTD_ADMIN_TOKEN}")
	if _, _, _, err := ff.engine.Update(ctx, grants.Change{Datasource: ch}); !strings.Contains(fieldErr(err), "GRANTD_*") {
		t.Errorf("update: %v", err)
	}
	if s, _ := ff.store.Datasource(ctx, d.ID); s.Auth.ClientSecret.Ref() != "${env:PARTNER_CLIENT_SECRET}" {
		t.Errorf("stored reference %q", s.Auth.ClientSecret.Ref())
	}

	// Accepted as a regular file in the secret dir, then swapped for a
	// link to master.key: the fence refuses it at the next token request.
	swap := filepath.Join(ff.secrets, "swapped")
	must(t, os.WriteFile(swap, []byte(fileValue), 0o600))
	d = ff.create(rec.datasource("${file:" + swap + "}"))
	if st := ff.status(d.ID); st.Status != datasource.StatusAuthorized {
		t.Fatalf("allowed file: %s %q", st.Status, st.LastError)
	}
	before := len(rec.posts())
	must(t, os.Remove(swap))
	must(t, os.Symlink(filepath.Join(ff.dir, "master.key"), swap))
	ff.engine.Refresh(ctx, datasource.SharedKey(d.ID))
	if st := ff.status(d.ID); !strings.Contains(st.LastError, "does not resolve to a file inside --secret-dir") {
		t.Errorf("swapped for a link: %s %q", st.Status, st.LastError)
	}
	if n := len(rec.posts()); n != before {
		t.Errorf("a token request was made with the swapped file")
	}
	rec.assertNeverReceived(t, masterKeyValue, webhookValue, homeValue)
}
