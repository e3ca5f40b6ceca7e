package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestBadInput sends a table of bad requests; each must get its exact
// status and problem type, and none may change what is stored.
func TestBadInput(t *testing.T) {
	h := newHarness(t, harnessOptions{jsonLimit: 4096})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	cc := h.create(ccBody(p, "existing", "svc-secret-9f8e7d"))
	ac := h.create(acBody(p, "ac", "web-secret-1a2b3c"))
	valid := func(mut func(m map[string]any)) map[string]any {
		b := ccBody(p, "new-one", "svc-secret-9f8e7d")
		mut(b)
		return b
	}
	auth := func(m map[string]any) map[string]any { return m["auth"].(map[string]any) }
	stateOf := func(raw string) string { return mustURL(raw).Query().Get("state") }
	startFlow := func() string {
		_, b, _ := h.do("POST", "/api/v1/datasources/"+ac.ID+"/authorize", nil)
		return decode[struct{ AuthorizeURL string }](t, b).AuthorizeURL
	}

	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		hdr        []string
		wantStatus int
		wantType   string
		wantFields []string
	}{
		{"malformed JSON", "POST", "/api/v1/datasources", `{"name": "x",`, nil, 400, "malformed-json", nil},
		{"not an object", "POST", "/api/v1/datasources", `[1,2]`, nil, 400, "malformed-json", nil},
		{"empty body", "POST", "/api/v1/datasources", ``, nil, 400, "malformed-json", nil},
		{"trailing garbage", "POST", "/api/v1/datasources", `{"name":"x"} {}`, nil, 400, "malformed-json", nil},
		{"oversized JSON", "POST", "/api/v1/datasources", `{"name":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, "body-too-large", nil},
		{"unknown fields", "POST", "/api/v1/datasources", valid(func(m map[string]any) { m["colour"] = "red"; auth(m)["grant"] = "x" }), nil, 400, "invalid-input", []string{"auth.grant", "colour"}},
		{"wrong types", "POST", "/api/v1/datasources", valid(func(m map[string]any) {
			auth(m)["pkce"] = "yes"
			auth(m)["expiresInDefault"] = "3600"
			auth(m)["clientSecret"] = 12
		}), nil, 400, "invalid-input", []string{"auth.expiresInDefault", "auth.pkce", "auth.clientSecret"}},
		{"wrong type and invalid together", "POST", "/api/v1/datasources", valid(func(m map[string]any) { m["url"] = "ftp://x"; auth(m)["tokenParams"] = []int{1} }), nil, 400, "invalid-input", []string{"auth.tokenParams", "url"}},
		{"bad URLs", "POST", "/api/v1/datasources", valid(func(m map[string]any) { m["url"] = "javascript:alert(1)"; auth(m)["accessTokenUrl"] = "/relative" }), nil, 400, "invalid-input", []string{"url", "auth.accessTokenUrl"}},
		{"missing everything", "POST", "/api/v1/datasources", map[string]any{}, nil, 400, "invalid-input", []string{"name", "url", "auth.grantType", "auth.accessTokenUrl", "auth.clientId"}},
		{"duplicate name", "POST", "/api/v1/datasources", ccBody(p, "existing", "x"), nil, 409, "duplicate-name", []string{"name"}},
		{"put unknown id", "PUT", "/api/v1/datasources/ds_nope", ccBody(p, "z", "x"), nil, 404, "not-found", nil},
		{"put duplicate name", "PUT", "/api/v1/datasources/" + ac.ID, ccBody(p, "existing", "x"), nil, 409, "duplicate-name", []string{"name"}},
		{"put invalid", "PUT", "/api/v1/datasources/" + cc.ID, valid(func(m map[string]any) { auth(m)["tokenPlacement"] = "body" }), nil, 400, "invalid-input", []string{"auth.tokenPlacement"}},
		{"get unknown id", "GET", "/api/v1/datasources/ds_nope", nil, nil, 404, "not-found", nil},
		{"delete unknown id", "DELETE", "/api/v1/datasources/ds_nope", nil, nil, 404, "not-found", nil},
		{"missing auth", "GET", "/api/v1/datasources", nil, []string{"Authorization", ""}, 401, "unauthorized", nil},
		{"wrong token", "GET", "/api/v1/datasources", nil, []string{"Authorization", "Bearer " + strings.Repeat("x", 32)}, 401, "unauthorized", nil},
		{"basic instead of bearer", "GET", "/api/v1/datasources", nil, []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, 401, "unauthorized", nil},
		{"forged session cookie", "GET", "/api/v1/datasources", nil, []string{"Authorization", "", "Cookie", "grantd_session=AAAA"}, 401, "unauthorized", nil},
		{"javascript: returnTo", "POST", "/api/v1/datasources/" + ac.ID + "/authorize", map[string]string{"returnTo": "javascript:alert(1)"}, nil, 400, "invalid-input", []string{"returnTo"}},
		{"absolute returnTo", "POST", "/api/v1/datasources/" + ac.ID + "/authorize", map[string]string{"returnTo": "https://evil.example/"}, nil, 400, "invalid-input", []string{"returnTo"}},
		{"scheme-relative returnTo", "POST", "/api/v1/datasources/" + ac.ID + "/authorize/start", map[string]string{"returnTo": "//evil.example"}, nil, 400, "invalid-input", []string{"returnTo"}},
		{"backslash returnTo", "POST", "/api/v1/datasources/" + ac.ID + "/authorize/start", map[string]string{"returnTo": "/\\evil.example"}, nil, 400, "invalid-input", []string{"returnTo"}},
		{"start without a token", "GET", "/api/v1/datasources/" + ac.ID + "/authorize/start?returnTo=/", nil, nil, 400, "invalid-input", []string{"start"}},
		{"start with a forged token", "GET", "/api/v1/datasources/" + ac.ID + "/authorize/start?start=forged", nil, nil, 400, "invalid-start-token", nil},
		{"authorize a client-credentials datasource", "POST", "/api/v1/datasources/" + cc.ID + "/authorize", nil, nil, 400, "not-interactive", nil},
		{"token not exposed", "POST", "/api/v1/datasources/" + cc.ID + "/token", nil, nil, 403, "token-not-exposed", nil},
		{"tampered state", "GET", "/api/v1/datasources/authorize?code=abc&state=" + url.QueryEscape(stateOf(startFlow())+"x"), nil, []string{"Authorization", ""}, 400, "invalid-state", nil},
		{"no state", "GET", "/api/v1/datasources/authorize?code=abc", nil, []string{"Authorization", ""}, 400, "invalid-state", nil},
		{"doubled state", "GET", "/api/v1/datasources/authorize?code=abc&state=a&state=b", nil, []string{"Authorization", ""}, 400, "invalid-state", nil},
		{"proxy dot-dot", "GET", "/api/v1/datasources/" + cc.ID + "/proxy/a/../../admin", nil, nil, 400, "proxy-path-rejected", nil},
		{"proxy encoded dot-dot", "GET", "/api/v1/datasources/" + cc.ID + "/proxy/%2e%2e/admin", nil, nil, 400, "proxy-path-rejected", nil},
		{"proxy encoded slash", "GET", "/api/v1/datasources/" + cc.ID + "/proxy/a%2F..%2Fb", nil, nil, 400, "proxy-path-rejected", nil},
		{"proxy ..; (Tomcat, Spring)", "GET", "/api/v1/datasources/" + cc.ID + "/proxy/..;/admin", nil, nil, 400, "proxy-path-rejected", nil},
		{"proxy overlong dots", "GET", "/api/v1/datasources/" + cc.ID + "/proxy/%c0%ae%c0%ae/admin", nil, nil, 400, "proxy-path-rejected", nil},
		{"proxy full-width dots", "GET", "/api/v1/datasources/" + cc.ID + "/proxy/%ef%bc%8e%ef%bc%8e/admin", nil, nil, 400, "proxy-path-rejected", nil},
		{"proxy absolute URL", "GET", "/api/v1/datasources/" + cc.ID + "/proxy//evil.example/x", nil, nil, 400, "proxy-path-rejected", nil},
		{"proxy unknown id", "GET", "/api/v1/datasources/ds_nope/proxy/x", nil, nil, 404, "not-found", nil},
		{"unknown API route", "GET", "/api/v1/nothing", nil, nil, 404, "not-found", nil},
	}
	before := h.count()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b, hdr := h.do(tt.method, tt.path, tt.body, tt.hdr...)
			if code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", code, tt.wantStatus, b)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			pr := decode[problem](t, b)
			if pr.Type != "https://grantd.dev/problems/"+tt.wantType || pr.Status != code || pr.Title == "" || pr.RequestID == "" {
				t.Errorf("problem %+v, want type %s", pr, tt.wantType)
			}
			var fields []string
			for _, e := range pr.Errors {
				fields = append(fields, e.Field)
				if e.Message == "" {
					t.Errorf("field %s without message", e.Field)
				}
			}
			for _, f := range tt.wantFields {
				if !contains(fields, f) {
					t.Errorf("errors %v lack %s", fields, f)
				}
			}
			if len(tt.wantFields) > 0 && len(fields) != len(tt.wantFields) {
				t.Errorf("errors %v, want exactly %v", fields, tt.wantFields)
			}
		})
	}
	// Nothing stored, nothing changed.
	if n := h.count(); n != before {
		t.Errorf("%d datasources after bad input, want %d", n, before)
	}
	for _, id := range []string{cc.ID, ac.ID} {
		d, err := h.store.Datasource(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if id == cc.ID && (d.Name != "existing" || d.Auth.TokenPlacement != datasource.PlacementHeader) {
			t.Errorf("a refused PUT changed %s: %+v", id, d)
		}
		if id == ac.ID && d.Name != "ac" {
			t.Errorf("a refused PUT renamed %s", id)
		}
	}
	if r, err := h.store.TokenRecord(ctx, datasource.SharedKey(ac.ID)); err == nil && r.HasToken() {
		t.Error("a refused callback stored a token")
	}
}

// TestCallbackStates covers the states a callback can meet: expired,
// replayed, and from another browser. Each answers 400 and stores nothing.
func TestCallbackStates(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(acBody(p, "ac", "web-secret-1a2b3c"))
	loginAt := func(br *http.Client, authorize string) string {
		resp, err := br.PostForm(authorize, url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"allow"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cb := resp.Header.Get("Location")
		h.addSecret(mustURL(cb).Query().Get("code"))
		h.addLogSecret(mustURL(cb).Query().Get("state"))
		return cb
	}
	startIn := func(br *http.Client) string { return h.browserStart(br, d.ID, "") }
	callback := func(br *http.Client, cb string) (int, string) {
		req, _ := http.NewRequest("GET", cb, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := br.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type")
	}

	// Another browser (no or another binding cookie) is refused — CSRF —
	// and the refusal leaves the state be: the person whose flow it is
	// can still finish it, even after someone else got the callback URL
	// (from a log, a Referer, a shoulder) and tried it first.
	victim, attacker, bare := browser(), browser(), browser()
	cb := loginAt(victim, startIn(victim))
	startIn(attacker) // the attacker has a binding cookie of its own
	if code, ct := callback(attacker, cb); code != 400 || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("callback from another browser: %d %s", code, ct)
	}
	if code, _ := callback(bare, cb); code != 400 {
		t.Fatalf("callback from a browser without a binding cookie: %d", code)
	}
	if r, err := h.store.TokenRecord(ctx, datasource.SharedKey(d.ID)); err == nil && r.HasToken() {
		t.Fatal("a refused callback stored a token")
	}
	if code, _ := callback(victim, cb); code != 302 {
		t.Fatalf("the right browser after refused attempts: %d", code)
	}
	if code, _ := callback(victim, cb); code != 400 {
		t.Fatalf("replay: %d", code)
	}
	authorized, err := h.store.TokenRecord(ctx, datasource.SharedKey(d.ID))
	if err != nil || !authorized.HasToken() {
		t.Fatalf("after the right browser's callback: %+v %v", authorized, err)
	}

	// Expired: eleven minutes at the provider.
	cb = loginAt(victim, startIn(victim))
	h.clock.Advance(datasource.StateTTL + time.Minute)
	if code, _ := callback(victim, cb); code != 400 {
		t.Fatalf("expired state: %d", code)
	}
	if r, err := h.store.TokenRecord(ctx, datasource.SharedKey(d.ID)); err != nil || r.Generation != authorized.Generation {
		t.Fatal("a refused callback changed the token")
	}

	// The good path still works, once.
	cb = loginAt(victim, startIn(victim))
	if code, _ := callback(victim, cb); code != 302 {
		t.Fatalf("right browser: %d", code)
	}
	if code, _ := callback(victim, cb); code != 400 {
		t.Fatalf("replay: %d", code)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// A known route asked with another method is 405 with Allow, not 404.
func TestWrongMethodIs405(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tt := range []struct{ method, path, allow string }{
		{"DELETE", "/api/v1/datasources", "GET, HEAD, POST"},
		{"PATCH", "/api/v1/datasources/ds_x", "DELETE, GET, HEAD, PUT"},
		{"GET", "/api/v1/datasources/ds_x/refresh", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
		{"PUT", "/api/v1/session", "DELETE, GET, HEAD, POST"},
	} {
		code, b, hdr := h.do(tt.method, tt.path, nil)
		if code != 405 || hdr.Get("Allow") != tt.allow || decode[problem](t, b).Status != 405 {
			t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q", tt.method, tt.path, code, hdr.Get("Allow"), b, tt.allow)
		}
	}
	for _, path := range []string{"/api/v1/nope", "/api/v1/datasources/ds_x/nope"} {
		if code, _, _ := h.do("POST", path, nil); code != 404 {
			t.Errorf("POST %s: %d, want 404", path, code)
		}
	}
}
