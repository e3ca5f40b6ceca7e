package api_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

func TestClientCredentialsThroughTheProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	for _, placement := range []string{"header", "query"} {
		t.Run(placement, func(t *testing.T) {
			body := ccBody(p, "vectara-"+placement, "svc-secret-9f8e7d")
			body["auth"].(map[string]any)["tokenPlacement"] = placement
			d := h.create(body)
			if d.Authorization.Status != "authorized" || d.Authorization.ExpiresAt == nil || d.Authorization.GrantedScope != "api/read api/write" {
				t.Fatalf("created: %+v", d.Authorization)
			}
			if d.Auth["clientSecretSet"] != true || d.Auth["clientSecret"] != nil {
				t.Fatalf("secret in view: %v", d.Auth)
			}
			// The caller's Authorization (the admin token), Cookie and
			// hop-by-hop headers stay here; its query and body go along;
			// a caller-supplied access_token cannot override grantd's.
			code, b, hdr := h.do("POST", "/api/v1/datasources/"+d.ID+"/proxy/v2/query?corpus=docs&access_token=forged",
				`{"q":"hello"}`, "Cookie", "grantd_session=x", "Connection", "X-Secret-Hop", "X-Secret-Hop", "hop", "X-Custom", "kept")
			if code != 200 {
				t.Fatalf("proxy: %d %s", code, b)
			}
			a := decode[grantstest.APIAnswer](t, b)
			if a.Via != placement || a.ClientID != "svc" || a.Method != "POST" || a.Path != "/api/v2/query" || a.Body != `{"q":"hello"}` {
				t.Fatalf("upstream saw %+v", a)
			}
			q, _ := url.ParseQuery(a.Query)
			if q.Get("corpus") != "docs" || q.Has("access_token") {
				t.Errorf("upstream query %q", a.Query)
			}
			if a.Headers["Cookie"] != "" || a.Headers["X-Secret-Hop"] != "" || a.Headers["X-Custom"] != "kept" {
				t.Errorf("upstream headers %v", a.Headers)
			}
			if placement == "query" && a.Headers["Authorization"] != "" {
				t.Errorf("query placement also sent Authorization: %q", a.Headers["Authorization"])
			}
			if hdr.Get("X-Request-Id") == "" {
				t.Error("no request id")
			}
		})
	}
}

func TestAuthorizationCodeInABrowser(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(acBody(p, "GitHub-ish", "web-secret-1a2b3c"))
	if d.Authorization.Status != "unauthorized" {
		t.Fatalf("new: %+v", d.Authorization)
	}
	code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/me", nil)
	if code != 424 || decode[problem](t, b).Type != "https://grantd.dev/problems/datasource-not-authorized" {
		t.Fatalf("proxy before authorizing: %d %s", code, b)
	}

	br := browser()
	// 1. grantd: start the flow; a binding cookie is set and we go to the provider.
	start := h.mintStart(d.ID, "/datasources/"+d.ID+"?tab=auth")
	code, _, hdr := h.doWith(br, "GET", start.StartURL, nil, "Authorization", "Bearer "+adminToken)
	if code != 302 || !strings.HasPrefix(hdr.Get("Location"), p.AuthURL()) {
		t.Fatalf("start: %d %v", code, hdr)
	}
	var binding *http.Cookie
	for _, c := range br.Jar.Cookies(mustURL(h.redirectURI())) {
		if c.Name == "grantd_flow" {
			binding = c
		}
	}
	if binding == nil {
		t.Fatal("no binding cookie for the callback path")
	}
	if !strings.Contains(strings.Join(hdr.Values("Set-Cookie"), ";"), "HttpOnly") {
		t.Error("binding cookie is not HttpOnly")
	}
	authorize := hdr.Get("Location")
	// 2. provider: log in, it redirects back to the callback.
	resp, err := br.Get(authorize)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = br.PostForm(authorize, url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if !strings.HasPrefix(cb, h.redirectURI()+"?") {
		t.Fatalf("provider sent us to %q", cb)
	}
	cbURL := mustURL(cb)
	h.addSecret(cbURL.Query().Get("code"))
	h.addLogSecret(cbURL.Query().Get("state"))
	// 3. grantd: the callback exchanges the code and goes to returnTo.
	resp, err = br.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc, "/datasources/"+d.ID+"?tab=auth&") {
		t.Fatalf("callback: %d %q", resp.StatusCode, loc)
	}
	q := mustURL(loc).Query()
	if q.Get("result") != "authorized" || q.Get("datasource") != d.ID {
		t.Fatalf("outcome %v", q)
	}
	// The datasource works.
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/me", nil)
	if code != 200 || decode[grantstest.APIAnswer](t, b).Subject != grantstest.Username {
		t.Fatalf("proxy after authorizing: %d %s", code, b)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/status", nil)
	st := decode[struct {
		Status          string
		HasRefreshToken bool
	}](t, b)
	if code != 200 || st.Status != "authorized" || !st.HasRefreshToken {
		t.Fatalf("status: %d %s", code, b)
	}
	// 4. The same callback URL again: refused, nothing changes.
	resp, err = br.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("replayed callback: %d", resp.StatusCode)
	}
	h.responses.Write(page)
}

func TestAuthorizationCodeThroughTheAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(acBody(p, "api-flow", "web-secret-1a2b3c"))
	code, b, _ := h.do("POST", "/api/v1/datasources/"+d.ID+"/authorize", map[string]string{"returnTo": "/app/done"})
	if code != 200 {
		t.Fatalf("authorize: %d %s", code, b)
	}
	authorize := decode[struct{ AuthorizeURL string }](t, b).AuthorizeURL
	u := mustURL(authorize)
	if u.Query().Get("redirect_uri") != h.redirectURI() || u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("prompt") != "consent" {
		t.Fatalf("authorize URL %s", authorize)
	}
	// Any browser may finish an API-started flow: no binding cookie.
	br := browser()
	resp, _ := br.PostForm(authorize, url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"allow"}})
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	h.addSecret(mustURL(cb).Query().Get("code"))
	h.addLogSecret(mustURL(cb).Query().Get("state"))
	resp, _ = br.Get(cb)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, "/app/done?") || mustURL(loc).Query().Get("result") != "authorized" {
		t.Fatalf("callback: %d %q", resp.StatusCode, loc)
	}

	// The provider's error comes back to returnTo, URL-encoded.
	_, b, _ = h.do("POST", "/api/v1/datasources/"+d.ID+"/authorize", nil)
	authorize = decode[struct{ AuthorizeURL string }](t, b).AuthorizeURL
	resp, _ = br.PostForm(authorize, url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"deny"}})
	resp.Body.Close()
	resp, _ = br.Get(resp.Header.Get("Location"))
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	q := mustURL(loc).Query()
	if !strings.HasPrefix(loc, "/datasources/"+d.ID+"?") || q.Get("result") != "error" || q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), "denied") {
		t.Fatalf("denied: %q", loc)
	}
	// Denying a re-authorization leaves the working token alone.
	code, _, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/me", nil)
	if code != 200 {
		t.Fatalf("proxy after a denied re-authorization: %d", code)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
