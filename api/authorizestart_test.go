package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

type startAnswer struct {
	StartURL  string `json:"startUrl"`
	ExpiresAt string `json:"expiresAt"`
}

// mintStart asks for a one-time start URL for datasource id.
func (h *harness) mintStart(id, returnTo string) startAnswer {
	h.t.Helper()
	var body any
	if returnTo != "" {
		body = map[string]string{"returnTo": returnTo}
	}
	code, b, _ := h.do("POST", "/api/v1/datasources/"+id+"/authorize/start", body)
	if code != 200 {
		h.t.Fatalf("mint a start URL: %d %s", code, b)
	}
	return decode[startAnswer](h.t, b)
}

// browserStart starts a browser flow in br as the UI does: it mints a
// start URL, opens it, and returns where grantd sends the browser (the
// provider).
func (h *harness) browserStart(br *http.Client, id, returnTo string) string {
	h.t.Helper()
	s := h.mintStart(id, returnTo)
	code, b, hdr := h.doWith(br, "GET", s.StartURL, nil, "Authorization", "Bearer "+adminToken)
	if code != 302 {
		h.t.Fatalf("open the start URL: %d %s", code, b)
	}
	return hdr.Get("Location")
}

// TestAuthorizeStartNeedsAStartToken: a GET of …/authorize/start is what
// any page can make a signed-in browser send (a link, an image, a
// redirect). Alone it starts nothing; it needs a one-time start token that
// only an authenticated POST — with the CSRF header when the session
// cookie authenticates it — hands out.
func TestAuthorizeStartNeedsAStartToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	ac := h.create(acBody(p, "ac", "web-secret-1a2b3c"))
	other := h.create(acBody(p, "other", "web-secret-1a2b3c"))
	cc := h.create(ccBody(p, "cc", "svc-secret-9f8e7d"))
	cookie := h.signIn()
	startPath := "/api/v1/datasources/" + ac.ID + "/authorize/start"
	// The log line is written before the answer (audit events are
	// written asynchronously), so counting it is exact.
	started := func() int { return strings.Count(h.logs.String(), `msg="authorization started"`) }

	// What a page on another site — or a sibling subdomain, which is the
	// same site and gets even a SameSite=Strict cookie — can make the
	// admin's browser send.
	refused := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		problem            string
		field              string
	}{
		{"the old GET", "GET", startPath + "?returnTo=%2F", nil, []string{"Cookie", cookie}, 400, "invalid-input", "start"},
		{"GET without anything", "GET", startPath, nil, []string{"Cookie", cookie}, 400, "invalid-input", "start"},
		{"a guessed start token", "GET", startPath + "?start=" + strings.Repeat("A", 43), nil, []string{"Cookie", cookie}, 400, "invalid-start-token", ""},
		{"an empty start token", "GET", startPath + "?start=", nil, []string{"Cookie", cookie}, 400, "invalid-input", "start"},
		{"a form post without the header", "POST", startPath, nil, []string{"Cookie", cookie}, 403, "csrf", ""},
	}
	for _, c := range refused {
		code, b, hdr := h.doWith(http.DefaultClient, c.method, c.path, c.body, c.hdr...)
		pr := decode[problem](t, b)
		if code != c.status || pr.Type != "https://grantd.dev/problems/"+c.problem {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, b, c.status, c.problem)
		}
		if c.field != "" && (len(pr.Errors) != 1 || pr.Errors[0].Field != c.field) {
			t.Errorf("%s: errors %+v, want one for %s", c.name, pr.Errors, c.field)
		}
		if hdr.Get("Location") != "" || strings.Contains(hdr.Get("Set-Cookie"), "grantd_flow") {
			t.Errorf("%s: redirected or set a binding cookie: %v", c.name, hdr)
		}
	}
	if n := started(); n != 0 {
		t.Fatalf("%d authorizations started by refused requests", n)
	}

	// The UI's way: POST with the header, then open the URL.
	code, b, _ := h.doWith(http.DefaultClient, "POST", startPath, map[string]string{"returnTo": "/datasources/" + ac.ID},
		"Cookie", cookie, "X-Grantd-CSRF", "1")
	if code != 200 {
		t.Fatalf("mint with the session: %d %s", code, b)
	}
	s := decode[startAnswer](t, b)
	u := mustURL(s.StartURL)
	if u.Path != startPath || u.Host != "" || len(u.Query().Get("start")) < 43 {
		t.Fatalf("start URL %q", s.StartURL)
	}
	if exp, err := time.Parse(time.RFC3339, s.ExpiresAt); err != nil || exp.Sub(h.clock.Now()) != grants.StartTTL {
		t.Errorf("expiresAt %q, want now + %s", s.ExpiresAt, grants.StartTTL)
	}
	if n := started(); n != 0 {
		t.Fatal("minting a start URL started an authorization")
	}
	code, b, hdr := h.doWith(browser(), "GET", s.StartURL, nil, "Cookie", cookie)
	if code != 302 || !strings.HasPrefix(hdr.Get("Location"), p.AuthURL()) || !strings.Contains(hdr.Get("Set-Cookie"), "grantd_flow=") {
		t.Fatalf("open the start URL: %d %s %v", code, b, hdr)
	}
	if n := started(); n != 1 {
		t.Fatalf("%d authorizations started, want 1", n)
	}
	// Once only.
	code, b, _ = h.doWith(http.DefaultClient, "GET", s.StartURL, nil, "Cookie", cookie)
	if code != 400 || decode[problem](t, b).Type != "https://grantd.dev/problems/invalid-start-token" {
		t.Fatalf("the start URL again: %d %s", code, b)
	}

	// Only for its datasource, only before it expires, and returnTo is
	// fixed when it is minted.
	s = h.mintStart(ac.ID, "")
	code, b, _ = h.do("GET", "/api/v1/datasources/"+other.ID+"/authorize/start?"+mustURL(s.StartURL).RawQuery, nil)
	if code != 400 || decode[problem](t, b).Type != "https://grantd.dev/problems/invalid-start-token" {
		t.Errorf("a start token on another datasource: %d %s", code, b)
	}
	s = h.mintStart(ac.ID, "")
	h.clock.Advance(grants.StartTTL)
	code, b, _ = h.do("GET", s.StartURL, nil)
	if code != 400 || decode[problem](t, b).Type != "https://grantd.dev/problems/invalid-start-token" {
		t.Errorf("an expired start token: %d %s", code, b)
	}
	s = h.mintStart(ac.ID, "")
	code, b, _ = h.do("GET", s.StartURL+"&returnTo="+url.QueryEscape("/elsewhere"), nil)
	if pr := decode[problem](t, b); code != 400 || pr.Type != "https://grantd.dev/problems/invalid-input" || len(pr.Errors) != 1 || pr.Errors[0].Field != "returnTo" {
		t.Errorf("returnTo beside a start token: %d %s", code, b)
	}
	for _, c := range []struct {
		name    string
		id      string
		body    any
		problem string
		field   string
	}{
		{"client credentials", cc.ID, nil, "not-interactive", ""},
		{"an absolute returnTo", ac.ID, map[string]string{"returnTo": "https://evil.example/"}, "invalid-input", "returnTo"},
		{"an unknown field", ac.ID, map[string]string{"return": "/"}, "invalid-input", ""},
	} {
		code, b, _ := h.do("POST", "/api/v1/datasources/"+c.id+"/authorize/start", c.body)
		pr := decode[problem](t, b)
		if code != 400 || pr.Type != "https://grantd.dev/problems/"+c.problem || (c.field != "" && (len(pr.Errors) != 1 || pr.Errors[0].Field != c.field)) {
			t.Errorf("mint for %s: %d %s", c.name, code, b)
		}
	}
	if code, b, _ := h.do("POST", "/api/v1/datasources/ds_nope/authorize/start", nil); code != 404 {
		t.Errorf("mint for an unknown datasource: %d %s", code, b)
	}
	if n := started(); n != 1 {
		t.Errorf("%d authorizations started, want still 1", n)
	}
}
