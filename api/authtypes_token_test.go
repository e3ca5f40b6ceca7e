package api_test

import (
	"net/url"
	"strings"
	"testing"
)

// connectStatic connects endUser to the per-user static datasource id
// the way their browser does: a connect session, the link opened (which
// sets the form's cookie), the form posted from grantd's own origin.
func connectStatic(t *testing.T, h *harness, id, endUser string, form url.Values) {
	t.Helper()
	code, b, _ := h.do("POST", "/api/v1/connect/sessions", map[string]any{"datasource": id, "endUserId": endUser, "returnTo": "/done"})
	if code != 201 {
		t.Fatalf("connect session for %s: %d %s", endUser, code, b)
	}
	link := strings.TrimPrefix(decode[struct{ ConnectURL string }](t, b).ConnectURL, h.URL)
	c := browser()
	if code, b, _ := h.doWith(c, "GET", link, nil, "Accept", "text/html"); code != 200 {
		t.Fatalf("opening %s's link: %d %s", endUser, code, b)
	}
	code, b, hdr := h.doWith(c, "POST", link, form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"Accept", "text/html", "Origin", h.URL)
	if loc, _ := url.Parse(hdr.Get("Location")); code != 303 || loc == nil || loc.Query().Get("result") != "authorized" {
		t.Fatalf("%s's form: %d %s (%s)", endUser, code, b, hdr.Get("Location"))
	}
}

// TestTokenEndpointStaticTypes: the token endpoint hands out a bearer
// datasource's token and an apiKey datasource's key when exposeToken is
// set (token_type "Bearer" or "api_key", no expires_in: they do not
// expire), with Cache-Control: no-store and a token.handed_out event; not
// without exposeToken (403); for a per-user one, only the end user's own
// key, and a connect link for one who has not connected. Basic, awsSigV4
// and none refuse exposeToken when the datasource is written (400 naming
// it, nothing stored). The values never reach a log line or the bbolt
// file in clear.
func TestTokenEndpointStaticTypes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const (
		bearerTok = "bt-exposed-4e1a9c07-TOKEN"
		key       = "ak-exposed-7b3d2e58-KEY"
		alicesKey = "ak-alice-exposed-0c9f6a13"
	)
	h.addLogSecret(bearerTok, key, alicesKey) // answered by design, never logged
	u := newAuthUpstream(t, h)
	u.bearer, u.apiKey = bearerTok, key

	type answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	token := func(id string, hdr ...string) (int, []byte, answer) {
		t.Helper()
		code, b, h2 := h.do("POST", "/api/v1/datasources/"+id+"/token", nil, hdr...)
		if code == 200 {
			if h2.Get("Cache-Control") != "no-store" {
				t.Errorf("token answer Cache-Control %q", h2.Get("Cache-Control"))
			}
			if _, ok := decode[map[string]any](t, b)["expires_in"]; ok {
				t.Errorf("a credential that does not expire has expires_in: %s", b)
			}
		}
		return code, b, decode[answer](t, b)
	}

	bearer := h.create(map[string]any{"name": "exposed bearer", "url": u.URL,
		"auth": map[string]any{"type": "bearer", "token": bearerTok, "exposeToken": true}})
	if bearer.Auth["exposeToken"] != true || bearer.Auth["token"] != nil {
		t.Errorf("bearer view: %v", bearer.Auth)
	}
	if code, b, a := token(bearer.ID); code != 200 || a.AccessToken != bearerTok || a.TokenType != "Bearer" {
		t.Errorf("bearer token: %d %s", code, b)
	}
	keyDS := h.create(map[string]any{"name": "exposed key", "url": u.URL,
		"auth": map[string]any{"type": "apiKey", "apiKey": key, "headerName": "X-Api-Key", "headerPrefix": "", "exposeToken": true}})
	if code, b, a := token(keyDS.ID); code != 200 || a.AccessToken != key || a.TokenType != "api_key" {
		t.Errorf("apiKey token: %d %s", code, b)
	}
	// Handing the credential out changes nothing for the proxy.
	for id, seg := range map[string]string{bearer.ID: "bearer", keyDS.ID: "key"} {
		if code, b, _ := h.do("GET", "/api/v1/datasources/"+id+"/proxy/"+seg+"/x", nil); code != 200 {
			t.Errorf("proxy %s: %d %s (upstream: %s)", seg, code, b, u.lastError(seg))
		}
	}
	evs := h.events("?type=token.handed_out", func(e []eventJSON) bool { return len(e) >= 2 })
	for _, e := range evs {
		if e.DatasourceID != bearer.ID && e.DatasourceID != keyDS.ID {
			t.Errorf("unexpected event %+v", e)
		}
	}

	// exposeToken taken back: a 403 that points at the proxy.
	code, b, _ := h.do("GET", "/api/v1/datasources/"+bearer.ID, nil)
	view := decode[map[string]any](t, b)
	view["auth"].(map[string]any)["exposeToken"] = false
	if code, b, _ = h.do("PUT", "/api/v1/datasources/"+bearer.ID, view); code != 200 {
		t.Fatalf("put: %d %s", code, b)
	}
	if code, b, _ := token(bearer.ID); code != 403 || !strings.HasSuffix(decode[problem](t, b).Type, "/token-not-exposed") {
		t.Errorf("without exposeToken: %d %s", code, b)
	}

	// Types whose credential is not a token refuse exposeToken.
	before := h.count()
	for _, auth := range []map[string]any{
		{"type": "basic", "username": "alice", "password": "p", "exposeToken": true},
		{"type": "awsSigV4", "accessKeyId": "AKIAX", "secretAccessKey": "s", "region": "us-east-1", "service": "s3", "exposeToken": true},
		{"type": "none", "exposeToken": true},
	} {
		code, b, _ := h.do("POST", "/api/v1/datasources", map[string]any{"name": "no", "url": u.URL, "auth": auth})
		if p := decode[problem](t, b); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "auth.exposeToken" {
			t.Errorf("%s with exposeToken: %d %s", auth["type"], code, b)
		}
	}
	if h.count() != before {
		t.Errorf("a refused datasource was stored")
	}

	// Per user: each end user's own key, after they connected.
	pu := h.create(map[string]any{"name": "per-user key", "url": u.URL, "connectionMode": "perUser",
		"auth": map[string]any{"type": "apiKey", "headerName": "X-Api-Key", "headerPrefix": "", "exposeToken": true}})
	code, b, _ = token(pu.ID, "Grantd-End-User", "alice")
	if p := decode[struct{ ConnectURL string }](t, b); code != 424 || !strings.Contains(p.ConnectURL, "/connect/") {
		t.Errorf("before alice connects: %d %s", code, b)
	}
	if code, b, _ := token(pu.ID); code != 400 {
		t.Errorf("per-user without an end user: %d %s", code, b)
	}
	connectStatic(t, h, pu.ID, "alice", url.Values{"apiKey": {alicesKey}})
	if code, b, a := token(pu.ID, "Grantd-End-User", "alice"); code != 200 || a.AccessToken != alicesKey || a.TokenType != "api_key" {
		t.Errorf("alice's key: %d %s", code, b)
	}
	if code, b, _ := token(pu.ID, "Grantd-End-User", "bob"); code != 424 || strings.Contains(string(b), alicesKey) {
		t.Errorf("bob gets: %d %s", code, b)
	}
	h.assertNotInDB(bearerTok, key, alicesKey)
}
