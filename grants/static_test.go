package grants_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// Credentials the static-auth tests use; each is looked for in the logs
// and in the bbolt file.
const (
	testAPIKey       = "ak-7f3e9c21-API-KEY"
	testPassword     = "pw-41d0b8a6-PASSWORD"
	testBearer       = "bt-c9a2e471-BEARER"
	testAccessKeyID  = "AKIASTATICTEST0001"
	testSecretKey    = "sk-0d6e2f94-SECRET-ACCESS-KEY"
	testSessionToken = "st-58b1c3e7-SESSION-TOKEN"
)

// seen is one request as the upstream received it.
type seen struct {
	method, uri string
	host        string
	header      http.Header
	body        []byte
	length      int64
	sig         *grantstest.SigV4
	sigErr      error
}

// upstream is a real HTTP server on loopback that checks credentials the
// way the APIs do: each path wants one kind, and answers 401 without it.
type upstream struct {
	*httptest.Server
	f  *fixture
	mu sync.Mutex
	// last request per first path segment
	last map[string]seen
	// keys accepted, for rotation
	apiKey string
}

func newUpstream(t *testing.T, f *fixture) *upstream {
	u := &upstream{f: f, last: map[string]seen{}, apiKey: testAPIKey}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := seen{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone(), body: body, length: r.ContentLength}
	seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	ok := false
	u.mu.Lock()
	key := u.apiKey
	u.mu.Unlock()
	switch seg {
	case "apikey-header":
		ok = r.Header.Get("X-Api-Key") == "Token "+key && len(r.Header.Values("X-Api-Key")) == 1
	case "apikey-query":
		ok = r.URL.Query().Get("api_key") == key && len(r.URL.Query()["api_key"]) == 1
	case "basic":
		user, pw, has := r.BasicAuth()
		ok = has && user == "ada" && pw == testPassword
	case "bearer":
		ok = r.Header.Get("Authorization") == "Bearer "+testBearer
	case "aws", "s3":
		s.sig, s.sigErr = grantstest.VerifySigV4(r, body, func(id string) (string, bool) {
			return testSecretKey, id == testAccessKeyID
		}, u.f.clock.Now())
		ok = s.sigErr == nil
	case "none":
		ok = r.Header.Get("Authorization") == ""
	}
	u.mu.Lock()
	u.last[seg] = s
	u.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, "ok:"+seg)
}

func (u *upstream) seen(seg string) seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last[seg]
}

// call makes a request through the engine's Client for k.
func call(t *testing.T, f *fixture, k datasource.Key, method, url string, body io.Reader, hdr map[string]string) (int, string) {
	t.Helper()
	c, err := f.engine.Client(ctx, k)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func staticDS(name, url string, a datasource.OAuth2) *datasource.Datasource {
	return &datasource.Datasource{Name: name, URL: url, Auth: a}
}

// TestStaticAuthTypes: each auth type's credential reaches a real
// upstream where and as it wants it, through the library's Client (the
// same Target.Send as the proxy), with no OAuth machinery: no token
// requests, no refresh planned, statuses that say "authorized" without
// an expiry; and no credential in the logs or the bbolt file.
func TestStaticAuthTypes(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	u := newUpstream(t, f)
	cases := []struct {
		name, path string
		auth       datasource.OAuth2
		method     string
		body       string
		hdr        map[string]string
	}{
		{"apikey-header", "/apikey-header/v1/things?b=2&a=1", datasource.OAuth2{Type: datasource.AuthAPIKey, APIKey: datasource.NewSecret(testAPIKey),
			HeaderName: "X-Api-Key", HeaderPrefix: datasource.Ptr("Token")}, "GET", "", map[string]string{"x-api-key": "the caller's own"}},
		{"apikey-query", "/apikey-query/search?q=a+b&api_key=callers", datasource.OAuth2{Type: datasource.AuthAPIKey, APIKey: datasource.NewSecret(testAPIKey),
			TokenPlacement: datasource.PlacementQuery, QueryParamName: "api_key"}, "GET", "", nil},
		{"basic", "/basic/me", datasource.OAuth2{Type: datasource.AuthBasic, Username: "ada", Password: datasource.NewSecret(testPassword)}, "GET", "", nil},
		{"bearer", "/bearer/me", datasource.OAuth2{Type: datasource.AuthBearer, Token: datasource.NewSecret(testBearer)}, "DELETE", "",
			map[string]string{"Authorization": "Bearer the-callers"}},
		{"aws", "/aws/prod/items/a%20b?z=1&a=%2F&a=0", datasource.OAuth2{Type: datasource.AuthAWSSigV4, AccessKeyID: datasource.NewSecret(testAccessKeyID),
			SecretAccessKey: datasource.NewSecret(testSecretKey), Region: "eu-west-1", Service: "execute-api"}, "POST", `{"id": 42}`,
			map[string]string{"Content-Type": "application/json", "X-Amz-Date": "19990101T000000Z"}},
		{"s3", "/s3/bucket/photos/a%20b+c.jpg", datasource.OAuth2{Type: datasource.AuthAWSSigV4, AccessKeyID: datasource.NewSecret(testAccessKeyID),
			SecretAccessKey: datasource.NewSecret(testSecretKey), SessionToken: datasource.NewSecret(testSessionToken), Region: "us-east-1", Service: "s3"},
			"PUT", "object bytes", map[string]string{"X-Amz-Meta-Owner": "ada"}},
		{"none", "/none/public", datasource.OAuth2{Type: datasource.AuthNone}, "GET", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, a, err := f.engine.Create(ctx, staticDS(c.name, u.URL, c.auth))
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != datasource.StatusAuthorized || a.ExpiresAt != nil || a.LastRefreshedAt != nil || a.HasRefreshToken {
				t.Errorf("status of a %s datasource: %+v", c.auth.Type, a)
			}
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			code, got := call(t, f, datasource.SharedKey(d.ID), c.method, u.URL+c.path, body, c.hdr)
			s := u.seen(c.name)
			if code != 200 || got != "ok:"+c.name {
				t.Fatalf("%s %s: %d %q (signature: %v)", c.method, c.path, code, got, s.sigErr)
			}
			if string(s.body) != c.body {
				t.Errorf("body %q arrived as %q", c.body, s.body)
			}
			switch c.name {
			case "apikey-query":
				if !strings.Contains(s.uri, "q=a+b") || strings.Contains(s.uri, "callers") {
					t.Errorf("query as sent: %s", s.uri)
				}
			case "aws":
				if s.sig.Region != "eu-west-1" || s.sig.Service != "execute-api" || !contains(s.sig.SignedHeaders, "content-type", "content-length", "host", "x-amz-date") {
					t.Errorf("signature: %+v", s.sig)
				}
				if s.header.Get("X-Amz-Date") == "19990101T000000Z" || len(s.header.Values("X-Amz-Date")) != 1 {
					t.Errorf("the caller's X-Amz-Date went upstream: %v", s.header.Values("X-Amz-Date"))
				}
			case "s3":
				if s.sig.PayloadHash == "UNSIGNED-PAYLOAD" || s.sig.SessionToken != testSessionToken ||
					!contains(s.sig.SignedHeaders, "x-amz-content-sha256", "x-amz-meta-owner", "x-amz-security-token") {
					t.Errorf("s3 signature: %+v", s.sig)
				}
			}
			if k := datasource.SharedKey(d.ID); true {
				if _, err := f.engine.Token(ctx, k); !errors.Is(err, grants.ErrNoTokens) {
					t.Errorf("a token of a %s datasource: %v", c.auth.Type, err)
				}
				if _, err := f.engine.Revoke(ctx, k); !errors.Is(err, grants.ErrNoTokens) {
					t.Errorf("revoking a %s datasource: %v", c.auth.Type, err)
				}
				if a, err := f.engine.Refresh(ctx, k); err != nil || a.Status != datasource.StatusAuthorized {
					t.Errorf("refreshing a %s datasource: %+v %v", c.auth.Type, a, err)
				}
				if _, err := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{}); !errors.Is(err, grants.ErrNoTokens) {
					t.Errorf("authorizing a %s datasource: %v", c.auth.Type, err)
				}
			}
		})
	}
	f.mu.Lock()
	requests := len(f.requests)
	f.mu.Unlock()
	if requests != 0 {
		t.Errorf("token requests for static datasources: %v", f.requests)
	}
	f.assertNoSecrets(testAPIKey, testPassword, testBearer, testAccessKeyID, testSecretKey, testSessionToken)
	assertNotInFile(t, filepath.Join(f.dir, "grantd.db"), testAPIKey, testPassword, testBearer, testAccessKeyID, testSecretKey, testSessionToken)
}

func contains(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func assertNotInFile(t *testing.T, path string, secrets ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%q is in %s in clear", s, filepath.Base(path))
		}
	}
}

// TestSigV4Tampered: the verifier the tests trust is not vacuous — a
// request the engine signed verifies, and the same request with its body,
// path, query or a signed header changed does not.
func TestSigV4Tampered(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	u := newUpstream(t, f)
	d := f.create(staticDS("aws", u.URL, datasource.OAuth2{Type: datasource.AuthAWSSigV4, AccessKeyID: datasource.NewSecret(testAccessKeyID),
		SecretAccessKey: datasource.NewSecret(testSecretKey), Region: "us-east-1", Service: "execute-api"}))
	if code, _ := call(t, f, datasource.SharedKey(d.ID), "POST", u.URL+"/aws/orders?x=1", strings.NewReader("amount=10"),
		map[string]string{"X-Custom": "v"}); code != 200 {
		t.Fatalf("signed request refused: %v", u.seen("aws").sigErr)
	}
	s := u.seen("aws")
	verify := func(mut func(r *http.Request, body *[]byte)) error {
		r := httptest.NewRequest(s.method, s.uri, nil)
		r.Host, r.Header, r.ContentLength = s.host, s.header.Clone(), s.length
		body := bytes.Clone(s.body)
		mut(r, &body)
		_, err := grantstest.VerifySigV4(r, body, func(string) (string, bool) { return testSecretKey, true }, f.clock.Now())
		return err
	}
	if err := verify(func(*http.Request, *[]byte) {}); err != nil {
		t.Fatalf("the request as received does not verify: %v", err)
	}
	for name, mut := range map[string]func(r *http.Request, body *[]byte){
		"body":          func(_ *http.Request, b *[]byte) { *b = []byte("amount=99") },
		"path":          func(r *http.Request, _ *[]byte) { r.RequestURI = "/aws/refunds?x=1" },
		"query":         func(r *http.Request, _ *[]byte) { r.RequestURI = "/aws/orders?x=2" },
		"signed header": func(r *http.Request, _ *[]byte) { r.Header.Set("X-Custom", "w") },
		"date": func(r *http.Request, _ *[]byte) {
			r.Header.Set("X-Amz-Date", f.clock.Now().Add(1e9).UTC().Format("20060102T150405Z"))
		},
		"method": func(r *http.Request, _ *[]byte) { r.Method = "PUT" },
		"host":   func(r *http.Request, _ *[]byte) { r.Host = "attacker.example" },
	} {
		if err := verify(mut); err == nil {
			t.Errorf("a request with its %s changed verifies", name)
		}
	}
}

// TestStaticSecretReference: a shared credential may be a reference; one
// that does not resolve is the datasource's status (error, lastError
// naming it) and the caller's error, never a request without the
// credential; once it resolves the datasource recovers; and a rotated
// value is read again when the upstream refuses the old one, the call
// retried once.
func TestStaticSecretReference(t *testing.T) {
	var mu sync.Mutex
	env := map[string]string{}
	resolve := func(_ context.Context, ref string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		_, name, _, _ := datasource.ParseSecretRef(ref)
		v, ok := env[name]
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	}
	f := newFixture(t, fixtureOptions{engine: grants.Options{ResolveSecret: resolve}})
	u := newUpstream(t, f)
	d, a, err := f.engine.Create(ctx, staticDS("ref", u.URL, datasource.OAuth2{Type: datasource.AuthAPIKey,
		APIKey: datasource.NewSecret("${env:PARTNER_API_KEY}"), HeaderName: "X-Api-Key", HeaderPrefix: datasource.Ptr("Token")}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != datasource.StatusError || !strings.Contains(a.LastError, "API key") || !strings.Contains(a.LastError, "PARTNER_API_KEY is not set") {
		t.Fatalf("unresolved reference: %+v", a)
	}
	k := datasource.SharedKey(d.ID)
	c, err := f.engine.Client(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var ce *grants.CredentialError
	if _, err := c.Get(u.URL + "/apikey-header/x"); !errors.As(err, &ce) {
		t.Fatalf("a call without its credential: %v", err)
	}
	if s := u.seen("apikey-header"); s.method != "" {
		t.Fatal("a request went upstream without its credential")
	}
	mu.Lock()
	env["PARTNER_API_KEY"] = testAPIKey
	mu.Unlock()
	if a, err := f.engine.Refresh(ctx, k); err != nil || a.Status != datasource.StatusAuthorized || a.LastError != "" {
		t.Fatalf("after setting the variable: %+v %v", a, err)
	}
	if code, _ := call(t, f, k, "GET", u.URL+"/apikey-header/x", nil, nil); code != 200 {
		t.Fatalf("with the variable set: %d", code)
	}
	// Rotation: the upstream now wants a new key, and the variable has it.
	u.mu.Lock()
	u.apiKey = "ak-rotated-NEW-KEY"
	u.mu.Unlock()
	mu.Lock()
	env["PARTNER_API_KEY"] = "ak-rotated-NEW-KEY"
	mu.Unlock()
	if code, _ := call(t, f, k, "POST", u.URL+"/apikey-header/x", strings.NewReader("b"), nil); code != 200 {
		t.Fatalf("after a rotation: %d (the refused key was not read again)", code)
	}
	if s := u.seen("apikey-header"); string(s.body) != "b" {
		t.Errorf("the retry's body: %q", s.body)
	}
	stored, _ := f.store.Datasource(ctx, d.ID)
	if stored.Auth.APIKey.Ref() != "${env:PARTNER_API_KEY}" {
		t.Errorf("stored %q, not the reference", stored.Auth.APIKey.Ref())
	}
	f.assertNoSecrets(testAPIKey, "ak-rotated-NEW-KEY")
}

// TestPerUserStaticConnect: an end user of a per-user API-key datasource
// connects by entering their own key on the connect form: bound to the
// link and the browser, checked, stored sealed on their connection, used
// for their calls only, erased by a revoke.
func TestPerUserStaticConnect(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	u := newUpstream(t, f)
	d := f.create(&datasource.Datasource{Name: "per-user key", URL: u.URL, ConnectionMode: datasource.PerUser,
		Auth: datasource.OAuth2{Type: datasource.AuthAPIKey, HeaderName: "X-Api-Key", HeaderPrefix: datasource.Ptr("Token")}})
	alice := datasource.Key{Datasource: d.ID, EndUser: "alice"}
	if _, err := f.engine.Client(ctx, alice); err != nil {
		t.Fatal(err)
	}
	c, _ := f.engine.Client(ctx, alice)
	if _, err := c.Get(u.URL + "/apikey-header/x"); !errors.Is(err, grants.ErrNotAuthorized) || !errors.Is(err, grants.ErrNoConnection) {
		t.Fatalf("an end user who has not connected: %v", err)
	}
	cs, err := f.engine.CreateConnectSession(ctx, grants.ConnectRequest{DatasourceID: d.ID, EndUserID: "alice", ReturnTo: "/done"})
	if err != nil {
		t.Fatal(err)
	}
	form, err := f.engine.OpenConnectForm(ctx, cs.Token, "browser-binding-of-alice-000000000")
	if err != nil || form == nil || form.Type != datasource.AuthAPIKey || len(form.Fields) != 1 || form.Fields[0].Name != "apiKey" || form.EndUserID != "alice" {
		t.Fatalf("form: %+v %v", form, err)
	}
	// A reload in the same browser shows it again; another browser is refused.
	if again, err := f.engine.OpenConnectForm(ctx, cs.Token, "browser-binding-of-alice-000000000"); err != nil || again == nil {
		t.Errorf("reopened: %+v %v", again, err)
	}
	if _, err := f.engine.OpenConnectForm(ctx, cs.Token, "another-browser-0000000000000000000"); !errors.Is(err, grants.ErrInvalidState) {
		t.Errorf("opened in another browser: %v", err)
	}
	if _, err := f.engine.SubmitConnectForm(ctx, cs.Token, "another-browser-0000000000000000000",
		datasource.Credential{APIKey: datasource.NewSecret("planted")}); !errors.Is(err, grants.ErrInvalidState) {
		t.Errorf("posted from another browser: %v", err)
	}
	var v *datasource.ValidationError
	if _, err := f.engine.SubmitConnectForm(ctx, cs.Token, "browser-binding-of-alice-000000000",
		datasource.Credential{APIKey: datasource.NewSecret("${env:HOME}")}); !errors.As(err, &v) || v.Errors[0].Field != "apiKey" {
		t.Errorf("a reference from an end user: %v", err)
	}
	res, err := f.engine.SubmitConnectForm(ctx, cs.Token, "browser-binding-of-alice-000000000", datasource.Credential{APIKey: datasource.NewSecret(testAPIKey)})
	if err != nil || res.ErrorCode != "" || res.EndUserID != "alice" || res.ReturnTo != "/done" || res.Authorization.Status != datasource.StatusAuthorized || res.Reconnected {
		t.Fatalf("submitted: %+v %v", res, err)
	}
	if _, err := f.engine.SubmitConnectForm(ctx, cs.Token, "browser-binding-of-alice-000000000", datasource.Credential{APIKey: datasource.NewSecret("again")}); !errors.Is(err, grants.ErrInvalidState) {
		t.Errorf("a form submitted twice: %v", err)
	}
	if code, _ := call(t, f, alice, "GET", u.URL+"/apikey-header/x", nil, nil); code != 200 {
		t.Fatalf("alice's call: %d", code)
	}
	conn, err := f.engine.Connection(ctx, d.ID, "alice")
	if err != nil || conn.Authorization.Status != datasource.StatusAuthorized || conn.Authorization.ExpiresAt != nil {
		t.Errorf("alice's connection: %+v %v", conn, err)
	}
	bob := datasource.Key{Datasource: d.ID, EndUser: "bob"}
	bc, _ := f.engine.Client(ctx, bob)
	if _, err := bc.Get(u.URL + "/apikey-header/x"); !errors.Is(err, grants.ErrNotAuthorized) {
		t.Errorf("bob called with alice's key: %v", err)
	}
	if _, err := f.engine.Revoke(ctx, alice); err != nil {
		t.Fatal(err)
	}
	c, _ = f.engine.Client(ctx, alice)
	if _, err := c.Get(u.URL + "/apikey-header/x"); !errors.Is(err, grants.ErrNotAuthorized) {
		t.Errorf("after a revoke: %v", err)
	}
	if rec, _ := f.store.TokenRecord(ctx, alice); !rec.Credential.IsZero() || rec.Status != datasource.StatusUnauthorized {
		t.Errorf("the revoked record: %+v", rec)
	}
	f.assertNoSecrets(testAPIKey)
	assertNotInFile(t, filepath.Join(f.dir, "grantd.db"), testAPIKey)
}
