package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
	"github.com/grantd/grantd/outbound/outboundtest"
)

// TestEveryRouteNeedsCredentials enumerates the routes the server really
// registers and checks each answers 401 without credentials, except the
// allowlist.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	public := map[string]bool{
		"GET /healthz": true, "GET /readyz": true,
		"GET /api/v1/datasources/authorize": true, // the callback: the state is its credential
		"GET /connect/:token":               true, // a connect link: its one-time token is its credential
		"POST /connect/:token":              true, // its form: the link token and the browser's cookie are its credential
		"GET /api/v1/openapi.json":          true,
		"POST /api/v1/session":              true, // where the admin token is presented
		"GET /*":                            true, // the UI's static files
	}
	seen := 0
	for _, r := range h.server.App().GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "CONNECT" || r.Method == "TRACE" || r.Path == "/" || r.Path == "/api/v1/*" {
			continue // HEAD mirrors GET; "/" and "/api/v1/*" are middleware and the 404 fallback
		}
		key := r.Method + " " + r.Path
		path := strings.NewReplacer(":id", "ds_test", "*", "x").Replace(r.Path)
		code, b, _ := h.doWith(http.DefaultClient, r.Method, path, nil)
		if public[key] {
			if code == 401 {
				t.Errorf("%s is public but answered 401", key)
			}
			continue
		}
		seen++
		if code != 401 || decode[problem](t, b).Type != "https://grantd.dev/problems/unauthorized" {
			t.Errorf("%s without credentials: %d %s", key, code, b)
		}
	}
	if seen < 14 {
		t.Fatalf("only %d protected routes enumerated", seen)
	}
}

func TestSessionCookie(t *testing.T) {
	h := newHarness(t, harnessOptions{https: true})
	br := browser()
	code, _, _ := h.doWith(br, "POST", "/api/v1/session", map[string]string{"token": "wrong-token-wrong-token"})
	if code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	code, b, hdr := h.doWith(br, "POST", "/api/v1/session", map[string]string{"token": adminToken})
	if code != 201 || strings.Contains(string(b), adminToken) {
		t.Fatalf("session: %d %s", code, b)
	}
	sc := hdr.Get("Set-Cookie")
	for _, want := range []string{"grantd_session=", "httponly", "samesite=strict", "secure", "path=/"} {
		if !strings.Contains(strings.ToLower(sc), want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	// The harness's public URL is https, so the jar would not send a
	// Secure cookie over http: send it by hand.
	cookie := strings.SplitN(sc, ";", 2)[0]
	code, _, _ = h.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", cookie)
	if code != 200 {
		t.Fatalf("GET with session: %d", code)
	}
	body := map[string]any{"name": "x", "url": "https://api.example.com", "auth": map[string]any{"grantType": "authorization_code",
		"accessTokenUrl": "https://id.example.com/token", "authorizationUrl": "https://id.example.com/auth", "clientId": "c"}}
	code, b, _ = h.doWith(http.DefaultClient, "POST", "/api/v1/datasources", body, "Cookie", cookie)
	if code != 403 || decode[problem](t, b).Type != "https://grantd.dev/problems/csrf" {
		t.Fatalf("POST with session, no CSRF header: %d %s", code, b)
	}
	code, _, _ = h.doWith(http.DefaultClient, "POST", "/api/v1/datasources", body, "Cookie", cookie, "X-Grantd-CSRF", "1")
	if code != 201 {
		t.Fatalf("POST with session and CSRF header: %d", code)
	}
	code, _, _ = h.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", "grantd_session=tampered"+cookie[len("grantd_session="):])
	if code != 401 {
		t.Fatalf("tampered session: %d", code)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(ccBody(p, "m", "svc-secret-9f8e7d"))
	h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/x", nil)
	if code, _, _ := h.doWith(http.DefaultClient, "GET", "/metrics", nil); code != 401 {
		t.Fatalf("metrics without credentials: %d", code)
	}
	code, b, _ := h.do("GET", "/metrics", nil)
	for _, want := range []string{
		`grantd_token_requests_total{grant="client_credentials",request="client_credentials",result="ok"} 1`,
		`grantd_token_request_duration_seconds_count{grant="client_credentials",request="client_credentials"} 1`,
		`grantd_proxy_requests_total{status="200"} 1`,
		`grantd_datasources{status="authorized"} 1`,
		`grantd_datasources{status="needs_reauthorization"} 0`,
	} {
		if code != 200 || !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestDNSRebindingRefused: host names that resolve to loopback or the
// cloud metadata address are refused at dial time, for token requests
// and for proxied calls, unless private networks are allowed.
func TestDNSRebindingRefused(t *testing.T) {
	strict := &outbound.Dialer{LookupIP: outboundtest.Resolver(outboundtest.Rebinding), Timeout: time.Second}
	h := newHarness(t, harnessOptions{proxyDialer: strict, engineDialer: strict})
	up := newUpstream(t)
	up.set(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "internal") })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))

	// The token URL resolves to the metadata address: refused, reported.
	d := h.create(map[string]any{"name": "metadata", "url": "http://rebind.test:" + port, "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": "http://metadata.test/latest/meta-data/iam", "clientId": "c", "clientSecret": "s-0123456789"}})
	if d.Authorization.Status != "error" || !strings.Contains(d.Authorization.LastError, "private or loopback") {
		t.Fatalf("token URL on the metadata address: %+v", d.Authorization)
	}
	// The proxy refuses an upstream that resolves to loopback, even with a
	// valid token.
	p := newProvider(t, h, grantstest.ProviderOptions{})
	body := ccBody(p, "rebinding", "svc-secret-9f8e7d")
	body["url"] = "http://rebind.test:" + port
	h.engineDialer.AllowPrivate = true // the provider itself is on loopback in this test
	d = h.create(body)
	h.engineDialer.AllowPrivate = false
	code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/secret", nil)
	if code != 502 || !strings.Contains(string(b), "private or loopback") {
		t.Fatalf("proxy to a rebinding host: %d %s", code, b)
	}
	if n, _ := up.stats(); n != 0 {
		t.Fatalf("the internal upstream was reached %d times", n)
	}
	// Allowed explicitly, the same call goes through.
	strict.AllowPrivate = true
	if code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/secret", nil); code != 200 || string(b) != "internal" {
		t.Fatalf("with private networks allowed: %d %s", code, b)
	}
}

// A request grantd cannot parse (Content-Length: -1) gets a 400 that does
// not echo its head: the caller's Authorization stays out of the answer.
func TestMalformedRequestHeadNotEchoed(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const secret = "Bearer leaked-credential-4f8e2a"
	h.addSecret("leaked-credential-4f8e2a")
	for _, head := range []string{
		"GET /api/v1/datasources HTTP/1.1\r\nHost: x\r\nAuthorization: " + secret + "\r\nContent-Length: -1\r\n\r\n",
		"POST /api/v1/datasources HTTP/1.1\r\nHost: x\r\nAuthorization: " + secret + "\r\nContent-Length: abc\r\n\r\n",
		"GET /api/v1/datasources HTTP/1.1\r\nHost: x\r\nAuthorization: " + secret + "\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n",
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(head))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.Contains(string(b), "leaked-credential") {
			t.Errorf("the answer echoes the request head:\n%s", b)
		}
		if !strings.HasPrefix(string(b), "HTTP/1.1 4") {
			t.Errorf("answer to a malformed request:\n%s", b)
		}
	}
}

// Whoever may edit a datasource must not be able to collect its secrets by
// pointing it elsewhere: a stored client secret does not follow a changed
// token (or authorization) URL origin, and a person's tokens do not follow
// a changed url origin.
func TestSecretsBoundToOrigin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	var mu sync.Mutex
	var collected []string
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		collected = append(collected, r.Header.Get("Authorization")+" "+r.PostForm.Encode())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"evil-issued-token-5a5a","token_type":"Bearer"}`)
	}))
	defer evil.Close()

	cc := h.create(ccBody(p, "cc", "svc-secret-9f8e7d"))
	_, b, _ := h.do("GET", "/api/v1/datasources/"+cc.ID, nil)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["auth"].(map[string]any)["accessTokenUrl"] = evil.URL + "/token"
	code, b, _ := h.do("PUT", "/api/v1/datasources/"+cc.ID, m)
	pr := decode[problem](t, b)
	if code != 400 || len(pr.Errors) != 1 || pr.Errors[0].Field != "auth.clientSecret" {
		t.Fatalf("moving the token URL without the secret: %d %s", code, b)
	}
	h.do("POST", "/api/v1/datasources/"+cc.ID+"/refresh", nil)
	mu.Lock()
	if len(collected) != 0 {
		t.Fatalf("the other host received %v", collected)
	}
	mu.Unlock()
	// Same origin, another path: the secret stays.
	m["auth"].(map[string]any)["accessTokenUrl"] = p.TokenURL() + "?v=2"
	if code, b, _ := h.do("PUT", "/api/v1/datasources/"+cc.ID, m); code != 200 {
		t.Fatalf("same origin: %d %s", code, b)
	}
	// Given again, the move is the owner's informed choice.
	m["auth"].(map[string]any)["accessTokenUrl"] = evil.URL + "/token"
	m["auth"].(map[string]any)["clientSecret"] = "a-new-secret-for-evil"
	h.addSecret("a-new-secret-for-evil")
	if code, b, _ := h.do("PUT", "/api/v1/datasources/"+cc.ID, m); code != 200 {
		t.Fatalf("with the secret given again: %d %s", code, b)
	}

	// An authorization-code datasource: its authorization URL is bound
	// too, and a person's tokens stay with the upstream they were for.
	ac := h.create(acBody(p, "ac", "web-secret-1a2b3c"))
	authorizeViaAPI(t, h, ac.ID)
	_, b, _ = h.do("GET", "/api/v1/datasources/"+ac.ID, nil)
	json.Unmarshal(b, &m)
	m["auth"].(map[string]any)["authorizationUrl"] = evil.URL + "/authorize"
	if code, b, _ := h.do("PUT", "/api/v1/datasources/"+ac.ID, m); code != 400 || !strings.Contains(string(b), "auth.clientSecret") {
		t.Fatalf("moving the authorization URL without the secret: %d %s", code, b)
	}
	_, b, _ = h.do("GET", "/api/v1/datasources/"+ac.ID, nil)
	json.Unmarshal(b, &m)
	m["url"] = evil.URL + "/api"
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+ac.ID, m)
	if got := decode[dsView](t, b); code != 200 || got.Authorization.Status != "unauthorized" || got.Authorization.HasRefreshToken {
		t.Fatalf("moving url: %d %+v, want the person's tokens dropped", code, got.Authorization)
	}
	if code, _, _ := h.do("GET", "/api/v1/datasources/"+ac.ID+"/proxy/x", nil); code != 424 {
		t.Fatalf("proxy after the move: %d, want 424", code)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range collected {
		if strings.Contains(c, "web-secret") || strings.Contains(c, "svc-secret") || strings.Contains(c, "Bearer ") {
			t.Fatalf("the other host received a secret or a token: %q", c)
		}
	}
}

// /readyz answers anyone, so a failure says nothing of grantd's insides.
func TestReadyzKeepsItsCauseToTheLog(t *testing.T) {
	srv := api.New(api.Config{PublicURL: mustURL("http://127.0.0.1"), Logger: slog.New(slog.DiscardHandler),
		Ready: func(context.Context) error {
			return errors.New("bolt: open /srv/grantd/data/grantd.db: permission denied")
		}})
	resp, err := srv.App().Test(httptest.NewRequest("GET", "/readyz", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || strings.Contains(string(b), "grantd.db") || strings.Contains(string(b), "permission") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
