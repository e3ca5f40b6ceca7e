package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

// Credentials of the auth-type tests; each is registered as a secret, so
// the harness fails the test when one shows in a log line or an answer.
const (
	atAPIKey       = "ak-api-3c1f7e0a-KEY"
	atPassword     = "pw-api-9e2d4b17-PASS"
	atBearer       = "bt-api-5a8c0f63-BEARER"
	atAccessKeyID  = "AKIAAPITEST00000001"
	atSecretKey    = "sk-api-71d3e9b4-SECRET"
	atSessionToken = "st-api-2f6a8d05-SESSION"
)

// authUpstream is a real HTTP server on loopback that checks each kind of
// credential as an API does, by the first path segment, and answers 401
// without it. It remembers the last error of each segment.
type authUpstream struct {
	*httptest.Server
	h *harness

	bearer string // accepted besides atBearer
	apiKey string // accepted besides atAPIKey

	mu      sync.Mutex // guards errs and payload
	errs    map[string]string
	payload string // the payload hash of the last s3 request
}

func newAuthUpstream(t *testing.T, h *harness) *authUpstream {
	u := &authUpstream{h: h, errs: map[string]string{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *authUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var fail string
	switch seg {
	case "key":
		if k := r.Header.Get("X-Api-Key"); (k != atAPIKey && (u.apiKey == "" || k != u.apiKey)) || r.Header.Get("Authorization") != "" {
			fail = "no X-Api-Key"
		}
	case "qkey":
		if r.URL.Query().Get("api_key") != atAPIKey || r.URL.Query().Get("q") != "1" {
			fail = "no api_key in the query"
		}
	case "basic":
		if user, pass, ok := r.BasicAuth(); !ok || user != "alice" || pass != atPassword {
			fail = "no basic credentials"
		}
	case "bearer":
		if got := r.Header.Get("Authorization"); got != "Bearer "+atBearer && (u.bearer == "" || got != "Bearer "+u.bearer) {
			fail = "no bearer token"
		}
	case "aws":
		s, err := grantstest.VerifySigV4(r, body, func(id string) (string, bool) { return atSecretKey, id == atAccessKeyID }, u.h.clock.Now())
		switch {
		case err != nil:
			fail = err.Error()
		case s.Region != "eu-west-1" || s.Service != "execute-api" || s.SessionToken != atSessionToken:
			fail = "wrong scope or session token"
		}
	case "s3":
		s, err := grantstest.VerifySigV4(r, body, func(id string) (string, bool) { return atSecretKey, id == atAccessKeyID }, u.h.clock.Now())
		switch {
		case err != nil:
			fail = err.Error()
		case s.Service != "s3":
			fail = "wrong service"
		}
		u.mu.Lock()
		u.payload = ""
		if s != nil {
			u.payload = s.PayloadHash
		}
		u.mu.Unlock()
	case "none":
		if r.Header.Get("Authorization") != "" || r.URL.RawQuery != "q=1" {
			fail = "a credential was sent"
		}
	default:
		fail = "unknown path"
	}
	u.mu.Lock()
	u.errs[seg] = fail
	u.mu.Unlock()
	if fail != "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if seg == "s3" {
		io.WriteString(w, "ok s3 "+strconv.Itoa(len(body)))
		return
	}
	io.WriteString(w, "ok "+seg+" "+string(body))
}

func (u *authUpstream) lastError(seg string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.errs[seg]
}

// TestAuthTypesThroughProxy: a datasource of each auth type, made over the
// API, is called through the real proxy and the upstream gets its
// credential as it wants it (the SigV4 signature checked by re-signing
// with the AWS SDK); views show which write-only fields are set, never a
// value, and no field of another type; the token and authorize routes
// answer a 400 that says why; a GET–PUT round trip keeps the credential.
func TestAuthTypesThroughProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addSecret(atAPIKey, atPassword, atBearer, atAccessKeyID, atSecretKey, atSessionToken)
	u := newAuthUpstream(t, h)
	cases := []struct {
		name, seg string
		auth      map[string]any
		set       []string // the view's …Set fields that must be true
		absent    []string // fields the view must not have
	}{
		{"apikey-header", "key", map[string]any{"type": "apiKey", "apiKey": atAPIKey, "headerName": "X-Api-Key", "headerPrefix": ""},
			[]string{"apiKeySet"}, []string{"grantType", "clientId", "clientSecretSet", "passwordSet", "apiKey"}},
		{"apikey-query", "qkey", map[string]any{"type": "apiKey", "apiKey": atAPIKey, "tokenPlacement": "query", "queryParamName": "api_key"},
			[]string{"apiKeySet"}, []string{"accessTokenUrl", "apiKey"}},
		{"basic", "basic", map[string]any{"type": "basic", "username": "alice", "password": atPassword},
			[]string{"passwordSet"}, []string{"password", "apiKeySet", "tokenPlacement", "headerName"}},
		{"bearer", "bearer", map[string]any{"type": "bearer", "token": atBearer},
			[]string{"tokenSet"}, []string{"token", "apiKeySet", "scope"}},
		{"aws", "aws", map[string]any{"type": "awsSigV4", "accessKeyId": atAccessKeyID, "secretAccessKey": atSecretKey,
			"sessionToken": atSessionToken, "region": "eu-west-1", "service": "execute-api"},
			[]string{"accessKeyIdSet", "secretAccessKeySet", "sessionTokenSet"}, []string{"accessKeyId", "secretAccessKey", "sessionToken", "grantType"}},
		{"none", "none", map[string]any{"type": "none"}, nil, []string{"apiKeySet", "grantType", "clientSecretSet"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := h.create(map[string]any{"name": c.name, "url": u.URL, "auth": c.auth})
			checkAuthView := func(auth map[string]any) {
				t.Helper()
				if auth["type"] != c.auth["type"] {
					t.Errorf("auth.type = %v, want %v", auth["type"], c.auth["type"])
				}
				for _, f := range c.set {
					if auth[f] != true {
						t.Errorf("auth.%s = %v, want true", f, auth[f])
					}
				}
				for _, f := range c.absent {
					if _, ok := auth[f]; ok {
						t.Errorf("the view has auth.%s (%v)", f, auth[f])
					}
				}
			}
			checkAuthView(v.Auth)
			if v.Authorization.Status != "authorized" {
				t.Errorf("status %q, want authorized", v.Authorization.Status)
			}
			call := func() (int, string) {
				t.Helper()
				code, b, hdr := h.do("POST", "/api/v1/datasources/"+v.ID+"/proxy/"+c.seg+"/orders?q=1", "amount=10",
					"Content-Type", "application/x-www-form-urlencoded", "X-Custom", "v")
				if hdr.Get("Content-Security-Policy") != "sandbox" {
					t.Errorf("proxied answer without the sandbox CSP")
				}
				return code, string(b)
			}
			if code, b := call(); code != 200 || b != "ok "+c.seg+" amount=10" {
				t.Fatalf("proxy: %d %q (upstream: %s)", code, b, u.lastError(c.seg))
			}

			// bearer and apiKey hand their token out only with exposeToken
			// (TestTokenEndpointStaticTypes); the others have none.
			code, b, _ := h.do("POST", "/api/v1/datasources/"+v.ID+"/token", nil)
			switch p := decode[problem](t, b); c.auth["type"] {
			case "bearer", "apiKey":
				if code != 403 || !strings.HasSuffix(p.Type, "/token-not-exposed") {
					t.Errorf("token endpoint without exposeToken: %d %s", code, b)
				}
			default:
				if code != 400 || !strings.HasSuffix(p.Type, "/no-oauth-tokens") || !strings.Contains(p.Detail, "proxy") {
					t.Errorf("token endpoint: %d %s", code, b)
				}
			}
			code, b, _ = h.do("POST", "/api/v1/datasources/"+v.ID+"/authorize", nil)
			if p := decode[problem](t, b); code != 400 || !strings.HasSuffix(p.Type, "/no-oauth-tokens") {
				t.Errorf("authorize: %d %s", code, b)
			}
			code, b, _ = h.do("POST", "/api/v1/datasources/"+v.ID+"/authorize/start", nil)
			if p := decode[problem](t, b); code != 400 || !strings.HasSuffix(p.Type, "/no-oauth-tokens") {
				t.Errorf("authorize/start: %d %s", code, b)
			}

			// GET, then PUT back what it says with a new description: the
			// credential is kept and still works.
			code, b, _ = h.do("GET", "/api/v1/datasources/"+v.ID, nil)
			if code != 200 {
				t.Fatalf("get: %d %s", code, b)
			}
			got := decode[map[string]any](t, b)
			checkAuthView(got["auth"].(map[string]any))
			got["description"] = "edited"
			if code, b, _ = h.do("PUT", "/api/v1/datasources/"+v.ID, got); code != 200 {
				t.Fatalf("put back: %d %s", code, b)
			}
			checkAuthView(decode[dsView](t, b).Auth)
			if code, b := call(); code != 200 {
				t.Errorf("after the PUT round trip: %d %q (upstream: %s)", code, b, u.lastError(c.seg))
			}
		})
	}
	h.assertNotInDB(atAPIKey, atPassword, atBearer, atSecretKey, atSessionToken)
}

// TestAuthTypesInvalid: every bad body is a 400 problem naming the field.
func TestAuthTypesInvalid(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addSecret(atSecretKey)
	url := "https://api.example.com"
	cases := []struct {
		name  string
		auth  map[string]any
		field string
	}{
		{"unknown type", map[string]any{"type": "kerberos"}, "auth.type"},
		{"apiKey missing", map[string]any{"type": "apiKey"}, "auth.apiKey"},
		{"apiKey not a string", map[string]any{"type": "apiKey", "apiKey": 42}, "auth.apiKey"},
		{"basic without username", map[string]any{"type": "basic", "password": "p"}, "auth.username"},
		{"basic colon", map[string]any{"type": "basic", "username": "a:b", "password": "p"}, "auth.username"},
		{"bearer missing", map[string]any{"type": "bearer"}, "auth.token"},
		{"secret without access key", map[string]any{"type": "awsSigV4", "secretAccessKey": atSecretKey, "region": "us-east-1", "service": "s3"}, "auth.accessKeyId"},
		{"aws without region", map[string]any{"type": "awsSigV4", "accessKeyId": "AKIAX", "secretAccessKey": atSecretKey, "service": "s3"}, "auth.region"},
		{"oauth field on apiKey", map[string]any{"type": "apiKey", "apiKey": "k", "clientId": "web"}, "auth.clientId"},
		{"oauth grant on bearer", map[string]any{"type": "bearer", "token": "t", "grantType": "client_credentials"}, "auth.grantType"},
		{"password on apiKey", map[string]any{"type": "apiKey", "apiKey": "k", "password": "p"}, "auth.password"},
		{"placement on basic", map[string]any{"type": "basic", "username": "u", "tokenPlacement": "query"}, "auth.tokenPlacement"},
		// Header injection and values that are not what they claim.
		{"apiKey prefix with CR/LF", map[string]any{"type": "apiKey", "apiKey": "k", "headerPrefix": "Token\r\nX-Evil: 1"}, "auth.headerPrefix"},
		{"apiKey prefix with LF", map[string]any{"type": "apiKey", "apiKey": "k", "headerPrefix": "Token\nX-Evil: 1"}, "auth.headerPrefix"},
		{"apiKey header name with CR/LF", map[string]any{"type": "apiKey", "apiKey": "k", "headerName": "X-Api-Key\r\nX-Evil"}, "auth.headerName"},
		{"apiKey header name Host", map[string]any{"type": "apiKey", "apiKey": "k", "headerName": "Host"}, "auth.headerName"},
		{"apiKey query name with CR/LF", map[string]any{"type": "apiKey", "apiKey": "k", "tokenPlacement": "query", "queryParamName": "k\r\ny"}, "auth.queryParamName"},
		{"apiKey value with CR/LF", map[string]any{"type": "apiKey", "apiKey": "k\r\nX-Evil: 1"}, "auth.apiKey"},
		{"bearer token with CR/LF", map[string]any{"type": "bearer", "token": "t\r\nX-Evil: 1"}, "auth.token"},
		{"basic password with LF", map[string]any{"type": "basic", "username": "u", "password": "p\nX"}, "auth.password"},
		{"aws region that is not one", map[string]any{"type": "awsSigV4", "accessKeyId": "AKIAX", "secretAccessKey": atSecretKey,
			"region": "US East (N. Virginia)", "service": "execute-api"}, "auth.region"},
		{"aws region with an underscore", map[string]any{"type": "awsSigV4", "accessKeyId": "AKIAX", "secretAccessKey": atSecretKey,
			"region": "us_east_1", "service": "execute-api"}, "auth.region"},
		{"aws without service", map[string]any{"type": "awsSigV4", "accessKeyId": "AKIAX", "secretAccessKey": atSecretKey, "region": "us-east-1"}, "auth.service"},
		{"aws access key id not one", map[string]any{"type": "awsSigV4", "accessKeyId": "AKIA X/1", "secretAccessKey": atSecretKey,
			"region": "us-east-1", "service": "s3"}, "auth.accessKeyId"},
		{"aws without secret", map[string]any{"type": "awsSigV4", "accessKeyId": "AKIAX", "region": "us-east-1", "service": "s3"}, "auth.secretAccessKey"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b, hdr := h.do("POST", "/api/v1/datasources", map[string]any{"name": "bad", "url": url, "auth": c.auth})
			if code != 400 || hdr.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s %s, want 400 problem+json", code, hdr.Get("Content-Type"), b)
			}
			p := decode[problem](t, b)
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			if !contains(fields, c.field) {
				t.Errorf("errors name %v, want %s: %s", fields, c.field, b)
			}
		})
	}
	// A per-user datasource's credential is each end user's.
	code, b, _ := h.do("POST", "/api/v1/datasources", map[string]any{"name": "pu", "url": url, "connectionMode": "perUser",
		"auth": map[string]any{"type": "apiKey", "apiKey": "shared"}})
	if p := decode[problem](t, b); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "auth.apiKey" {
		t.Errorf("per-user with a shared key: %d %s", code, b)
	}
	if h.count() != 0 {
		t.Errorf("%d datasources stored from bad bodies", h.count())
	}

	// A reference outside the fence is refused where it is resolved, as
	// a client secret's is: the datasource is in error, naming the rule,
	// and a call fails without reaching the upstream.
	u := newAuthUpstream(t, h)
	v := h.create(map[string]any{"name": "fenced", "url": u.URL, "auth": map[string]any{"type": "bearer", "token": "${env:GRANTD_ADMIN_TOKEN}"}})
	if v.Authorization.Status != "error" || !strings.Contains(v.Authorization.LastError, "refused") {
		t.Errorf("fenced reference: %+v", v.Authorization)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+v.ID+"/proxy/bearer/x", nil)
	if code != 424 || u.lastError("bearer") != "" {
		t.Errorf("proxy with a fenced reference: %d %s (upstream saw: %q)", code, b, u.lastError("bearer"))
	}
}

// TestAuthTypeMovedOrigin: moving a static datasource's url to another
// origin needs its credential again (it is sent there), and changing the
// auth type drops the old type's credential.
func TestAuthTypeMovedOrigin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addSecret(atBearer, atAPIKey)
	v := h.create(map[string]any{"name": "b", "url": "https://api.example.com", "auth": map[string]any{"type": "bearer", "token": atBearer}})
	code, b, _ := h.do("PUT", "/api/v1/datasources/"+v.ID, map[string]any{"name": "b", "url": "https://attacker.example",
		"auth": map[string]any{"type": "bearer"}})
	if p := decode[problem](t, b); code != 400 || len(p.Errors) == 0 || p.Errors[0].Field != "auth.token" {
		t.Errorf("moving url without the token: %d %s", code, b)
	}
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+v.ID, map[string]any{"name": "b", "url": "https://api.example.com",
		"auth": map[string]any{"type": "apiKey", "apiKey": atAPIKey}})
	if code != 200 {
		t.Fatalf("to apiKey: %d %s", code, b)
	}
	auth := decode[dsView](t, b).Auth
	if auth["apiKeySet"] != true || auth["tokenSet"] != nil {
		t.Errorf("after changing the type: %v", auth)
	}
	stored, err := h.store.Datasource(ctx, v.ID)
	if err != nil || !stored.Auth.Token.IsZero() {
		t.Errorf("the bearer token is still stored after the type changed (%v)", err)
	}
}

// TestSigV4LargeBody: a body over the proxy's replay buffer streams
// through unread, so its hash cannot be signed: to s3 it goes as
// UNSIGNED-PAYLOAD (and verifies); to any other service the call is a 413
// that says why, and nothing reaches the upstream unsigned.
func TestSigV4LargeBody(t *testing.T) {
	h := newHarness(t, harnessOptions{proxyBody: 8 << 20})
	h.addSecret(atSecretKey)
	u := newAuthUpstream(t, h)
	mk := func(name, service string) string {
		return h.create(map[string]any{"name": name, "url": u.URL, "auth": map[string]any{"type": "awsSigV4",
			"accessKeyId": atAccessKeyID, "secretAccessKey": atSecretKey, "region": "eu-west-1", "service": service}}).ID
	}
	s3, api := mk("bucket", "s3"), mk("gateway", "execute-api")
	big := strings.Repeat("x", 3<<20)

	code, b, _ := h.do("PUT", "/api/v1/datasources/"+s3+"/proxy/s3/object", big, "Content-Type", "application/octet-stream")
	u.mu.Lock()
	payload := u.payload
	u.mu.Unlock()
	if code != 200 || string(b) != "ok s3 "+strconv.Itoa(len(big)) || payload != "UNSIGNED-PAYLOAD" {
		t.Errorf("a large body to s3: %d %.80s (payload %q, upstream: %s)", code, b, payload, u.lastError("s3"))
	}
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+s3+"/proxy/s3/small", "tiny", "Content-Type", "application/octet-stream")
	u.mu.Lock()
	payload = u.payload
	u.mu.Unlock()
	if code != 200 || payload == "UNSIGNED-PAYLOAD" || payload == "" {
		t.Errorf("a small body to s3 is not signed with its hash: %d %s (payload %q)", code, b, payload)
	}

	// Just over what is buffered (1 MiB): grantd answers before reading
	// the rest, and a body much larger than the socket buffers would be
	// cut off by that early answer (connection reset) before the client
	// read it.
	over := strings.Repeat("x", 1<<20+1024)
	code, b, _ = h.do("POST", "/api/v1/datasources/"+api+"/proxy/aws/big", over, "Content-Type", "application/octet-stream")
	if p := decode[problem](t, b); code != 413 || !strings.Contains(p.Detail, "only service s3") {
		t.Errorf("a large body to execute-api: %d %s", code, b)
	}
	if e := u.lastError("aws"); e != "" {
		t.Errorf("the refused body reached the upstream: %s", e)
	}
}

// TestAuthTypesInvalidChangesNothing: a bad update of a working static
// datasource (a prefix with CR/LF, an AWS region that is not one) is a
// 400 naming the field, and the stored datasource — and what the
// upstream receives through the proxy — is unchanged; a bad credential on
// a per-user connect form (a key with CR/LF) is named on the form, stores
// nothing for that end user, and leaves the form usable.
func TestAuthTypesInvalidChangesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.addSecret(atAPIKey, atAccessKeyID, atSecretKey, atSessionToken)
	u := newAuthUpstream(t, h)
	key := h.create(map[string]any{"name": "key", "url": u.URL,
		"auth": map[string]any{"type": "apiKey", "apiKey": atAPIKey, "headerName": "X-Api-Key", "headerPrefix": ""}})
	aws := h.create(map[string]any{"name": "aws", "url": u.URL, "auth": map[string]any{"type": "awsSigV4", "accessKeyId": atAccessKeyID,
		"secretAccessKey": atSecretKey, "sessionToken": atSessionToken, "region": "eu-west-1", "service": "execute-api"}})
	proxy := func(id, seg string) {
		t.Helper()
		if code, b, _ := h.do("POST", "/api/v1/datasources/"+id+"/proxy/"+seg+"/x", "v"); code != 200 {
			t.Errorf("proxy %s: %d %s (upstream: %s)", seg, code, b, u.lastError(seg))
		}
	}
	proxy(key.ID, "key")
	proxy(aws.ID, "aws")
	for _, c := range []struct {
		id, field string
		edit      func(auth map[string]any)
	}{
		{key.ID, "auth.headerPrefix", func(a map[string]any) { a["headerPrefix"] = "Token\r\nX-Evil: 1" }},
		{key.ID, "auth.headerName", func(a map[string]any) { a["headerName"] = "X-Api-Key\r\nX-Evil" }},
		{aws.ID, "auth.region", func(a map[string]any) { a["region"] = "Frankfurt" }},
		{aws.ID, "auth.service", func(a map[string]any) { a["service"] = "" }},
	} {
		code, b, _ := h.do("GET", "/api/v1/datasources/"+c.id, nil)
		if code != 200 {
			t.Fatalf("get %s: %d %s", c.id, code, b)
		}
		before := string(b)
		view := decode[map[string]any](t, b)
		c.edit(view["auth"].(map[string]any))
		code, b, _ = h.do("PUT", "/api/v1/datasources/"+c.id, view)
		if p := decode[problem](t, b); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != c.field {
			t.Errorf("PUT with a bad %s: %d %s", c.field, code, b)
		}
		if code, b, _ = h.do("GET", "/api/v1/datasources/"+c.id, nil); code != 200 || string(b) != before {
			t.Errorf("after a refused PUT of %s the datasource changed:\n%s\n%s", c.field, before, b)
		}
	}
	proxy(key.ID, "key")
	proxy(aws.ID, "aws")

	pu := h.create(map[string]any{"name": "per-user key", "url": u.URL, "connectionMode": "perUser",
		"auth": map[string]any{"type": "apiKey", "headerName": "X-Api-Key", "headerPrefix": ""}})
	code, b, _ := h.do("POST", "/api/v1/connect/sessions", map[string]any{"datasource": pu.ID, "endUserId": "dave"})
	if code != 201 {
		t.Fatalf("connect session: %d %s", code, b)
	}
	link := strings.TrimPrefix(decode[struct{ ConnectURL string }](t, b).ConnectURL, h.URL)
	dave := browser()
	if code, b, _ := h.doWith(dave, "GET", link, nil, "Accept", "text/html"); code != 200 {
		t.Fatalf("the form: %d %s", code, b)
	}
	post := func(v string) (int, string) {
		code, b, _ := h.doWith(dave, "POST", link, "apiKey="+url.QueryEscape(v), "Content-Type", "application/x-www-form-urlencoded",
			"Accept", "text/html", "Origin", h.URL)
		return code, string(b)
	}
	if code, page := post(atAPIKey + "\r\nX-Evil: 1"); code != 400 || !strings.Contains(page, "control characters") || !strings.Contains(page, `name="apiKey"`) {
		t.Errorf("a key with CR/LF: %d %s", code, page)
	}
	if code, page := post("${env:GRANTD_ADMIN_TOKEN}"); code != 400 || !strings.Contains(page, "not a reference") {
		t.Errorf("a reference from an end user: %d %s", code, page)
	}
	if code, b, _ := h.do("GET", "/api/v1/datasources/"+pu.ID+"/connections/dave", nil); code != 404 {
		t.Errorf("dave's connection after refused forms: %d %s", code, b)
	}
	if code, page := post(atAPIKey); code != 303 {
		t.Fatalf("the form after the refusals: %d %s", code, page)
	}
	if code, b, _ := h.do("GET", "/api/v1/datasources/"+pu.ID+"/proxy/key/x", nil, "Grantd-End-User", "dave"); code != 200 {
		t.Errorf("dave's call: %d %s (upstream: %s)", code, b, u.lastError("key"))
	}
}
