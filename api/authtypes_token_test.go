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
	if code != 200 {
		t.Fatalf("get: %d %s", code, b)
	}
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

// TestAPIKeysOnStaticDatasources: API-key permissions and datasource
// scope hold for datasources of every static type as for OAuth 2.0 ones:
// a key with proxy reaches the bearer datasource it covers (the upstream
// gets the datasource's token, never the key) and not an uncovered
// apiKey one (403 naming it); without proxy it is refused; the token
// endpoint of an exposed bearer datasource needs token; a read key sees
// the covered datasource's view without its credential, and events of
// that datasource only, where its creation and the hand-out are
// recorded.
func TestAPIKeysOnStaticDatasources(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const bearerTok = "bt-keys-2b7e0c94-TOKEN"
	h.addLogSecret(bearerTok) // handed out once below, never logged
	h.addSecret(atAPIKey)
	u := newAuthUpstream(t, h)
	u.bearer = bearerTok
	orders := h.create(map[string]any{"name": "Orders", "url": u.URL, "auth": map[string]any{"type": "bearer", "token": bearerTok, "exposeToken": true}})
	search := h.create(map[string]any{"name": "Search", "url": u.URL,
		"auth": map[string]any{"type": "apiKey", "apiKey": atAPIKey, "headerName": "X-Api-Key", "headerPrefix": ""}})

	proxyKey := h.newKey("orders app", []string{"proxy", "read"}, "Orders").Key
	if code, b := h.as(proxyKey, "GET", "/api/v1/datasources/"+orders.ID+"/proxy/bearer/x", nil); code != 200 || string(b) != "ok bearer " {
		t.Errorf("a covered bearer datasource: %d %s (upstream: %s)", code, b, u.lastError("bearer"))
	}
	code, b := h.as(proxyKey, "GET", "/api/v1/datasources/"+search.ID+"/proxy/key/x", nil)
	if pr := decode[forbiddenProblem](t, b); code != 403 || pr.Datasource != search.ID {
		t.Errorf("an uncovered apiKey datasource: %d %s", code, b)
	}
	code, b = h.as(proxyKey, "POST", "/api/v1/datasources/"+orders.ID+"/token", nil)
	if pr := decode[forbiddenProblem](t, b); code != 403 || pr.Permission != "token" {
		t.Errorf("the token endpoint without token: %d %s", code, b)
	}
	readOnly := h.newKey("reader", []string{"read"}, "Orders").Key
	code, b = h.as(readOnly, "GET", "/api/v1/datasources/"+orders.ID+"/proxy/bearer/x", nil)
	if pr := decode[forbiddenProblem](t, b); code != 403 || pr.Permission != "proxy" {
		t.Errorf("the proxy without proxy: %d %s", code, b)
	}
	code, b = h.as(readOnly, "GET", "/api/v1/datasources/"+orders.ID, nil)
	if v := decode[dsView](t, b); code != 200 || v.Auth["tokenSet"] != true || strings.Contains(string(b), bearerTok) {
		t.Errorf("the view for a read key: %d %s", code, b)
	}
	tokenKey := h.newKey("token", []string{"token"}, "Orders").Key
	code, b = h.as(tokenKey, "POST", "/api/v1/datasources/"+orders.ID+"/token", nil)
	if code != 200 || decode[struct {
		AccessToken string `json:"access_token"`
	}](t, b).AccessToken != bearerTok {
		t.Errorf("the token endpoint with token: %d %s", code, b)
	}

	// Events: the read key sees Orders' own, its creation and the hand-out
	// among them, and none of Search's.
	h.events("?datasource="+orders.ID, func(e []eventJSON) bool {
		return len(e) > 0 && e[0].Type == "token.handed_out"
	})
	code, b = h.as(readOnly, "GET", "/api/v1/events", nil)
	evs := decode[struct{ Events []eventJSON }](t, b).Events
	var types []string
	for _, e := range evs {
		if e.DatasourceID != orders.ID {
			t.Errorf("a read key for Orders sees %+v", e)
		}
		types = append(types, e.Type)
	}
	if code != 200 || !contains(types, "datasource.created") || !contains(types, "token.handed_out") {
		t.Errorf("Orders' events: %d %v", code, types)
	}
}
