package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
)

// TestEveryRouteNeedsCredentials enumerates the routes the server really
// registers and checks each answers 401 without credentials, except the
// allowlist.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	public := map[string]bool{
		"GET /healthz": true, "GET /readyz": true,
		"GET /api/v1/datasources/authorize": true, // the callback: the state is its credential
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
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "rebind.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case "metadata.test":
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		}
		return nil, fmt.Errorf("no such host %s", host)
	}
	strict := &outbound.Dialer{LookupIP: lookup, Timeout: time.Second}
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
