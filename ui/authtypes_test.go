package ui_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// apiDo calls the API with the admin token and decodes the JSON answer.
func (s *server) apiDo(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

// TestUIAuthTypes: the datasource form picks the auth type and shows that
// type's fields only; an API key datasource saved from it stores the
// key (write-only: the edit page says "set", the page never holds the
// value) with its placement.
func TestUIAuthTypes(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	const key = "ui-api-key-4b7e1d90-SECRET"
	run(t, ctx, "new", chromedp.Navigate(s.URL+"/datasources/new"), visible("#f-auth-type-oauth2"), visible("#f-auth-clientId"))
	shown := func(sel string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+jsString(sel)+`); return !!e && e.offsetParent !== null; })()`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		typ        string
		show, hide []string
	}{
		{"apiKey", []string{"#f-auth-apiKey", "#f-auth-headerName"}, []string{"#f-auth-clientId", "#f-auth-password", "#f-auth-region"}},
		{"basic", []string{"#f-auth-username", "#f-auth-password"}, []string{"#f-auth-apiKey", "#f-auth-headerName", "#f-auth-accessTokenUrl"}},
		{"bearer", []string{"#f-auth-token"}, []string{"#f-auth-username", "#f-auth-headerName"}},
		{"awsSigV4", []string{"#f-auth-accessKeyId", "#f-auth-secretAccessKey", "#f-auth-sessionToken", "#f-auth-region", "#f-auth-service"},
			[]string{"#f-auth-token", "#f-auth-clientSecret"}},
		{"none", nil, []string{"#f-auth-apiKey", "#f-auth-clientId", "#f-auth-headerName", "#credential-card"}},
		{"oauth2", []string{"#f-auth-clientId", "#f-auth-accessTokenUrl", "#f-auth-headerName"}, []string{"#credential-card"}},
	} {
		run(t, ctx, "pick "+c.typ, click("#f-auth-type-"+c.typ))
		for _, sel := range c.show {
			if !shown(sel) {
				t.Errorf("%s: %s is not shown", c.typ, sel)
			}
		}
		for _, sel := range c.hide {
			if shown(sel) {
				t.Errorf("%s: %s is shown", c.typ, sel)
			}
		}
		// The token endpoint can hand out an access token, a bearer token
		// or an API key; a password or AWS keys, never.
		hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-field="auth.exposeToken"]').hidden`))
		if want := c.typ != "oauth2" && c.typ != "apiKey" && c.typ != "bearer"; err != nil || hidden != want {
			t.Errorf("%s: exposeToken hidden %v, want %v (%v)", c.typ, hidden, want, err)
		}
	}
	run(t, ctx, "fill an API key datasource", click("#f-auth-type-apiKey"),
		fill("#f-name", "Keyed API"), fill("#f-url", s.provider.URL+"/api"), fill("#f-auth-apiKey", key),
		fill("#f-auth-headerName", "X-Api-Key"), chromedp.Clear(chromedp.CSS("#f-auth-headerPrefix")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#f-auth-exposeToken').closest('details').open = true`)); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "expose the key", click("#f-auth-exposeToken"))
	shot(t, ctx, shots, "30-api-key-form")
	run(t, ctx, "save", click("#save"), visible("#ds-name"))
	if kind := text(t, ctx, "#ds-kind"); !strings.Contains(kind, "API key") {
		t.Errorf("detail page says %q, want API key", kind)
	}
	id := strings.TrimPrefix(location(t, ctx), s.URL+"/datasources/")
	code, d := s.apiDo(t, "GET", "/api/v1/datasources/"+url.PathEscape(id), nil)
	auth, _ := d["auth"].(map[string]any)
	if code != 200 || auth["type"] != "apiKey" || auth["apiKeySet"] != true || auth["headerName"] != "X-Api-Key" || auth["headerPrefix"] != "" ||
		auth["exposeToken"] != true {
		t.Fatalf("saved: %d %v", code, d)
	}
	if _, ok := auth["grantType"]; ok {
		t.Errorf("an API key datasource saved with a grant type: %v", auth)
	}
	run(t, ctx, "edit", chromedp.Navigate(s.URL+"/datasources/"+id+"/edit"), visible("#auth-apiKey-state"))
	if st := text(t, ctx, "#auth-apiKey-state"); st != "set" {
		t.Errorf("the key's state on the edit page: %q", st)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil || strings.Contains(html, key) {
		t.Errorf("the edit page holds the key (%v)", err)
	}
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#f-auth-type-apiKey').checked`))
	if err != nil || !checked {
		t.Errorf("the edit page's auth type is not apiKey (%v)", err)
	}
	// Saved again untouched, the key is kept.
	run(t, ctx, "save again", click("#save"), visible("#ds-name"))
	if _, d = s.apiDo(t, "GET", "/api/v1/datasources/"+url.PathEscape(id), nil); d["auth"].(map[string]any)["apiKeySet"] != true {
		t.Errorf("after saving the edit page untouched: %v", d["auth"])
	}
}

// TestUIConnectForm: an end user opens the connect link of a per-user
// bearer datasource in Chromium; grantd's form renders under its strict
// CSP (its nonce'd style applies), takes their token and sends the
// browser back (no returnTo: grantd's own outcome page); the token is on
// their connection, never on a page.
func TestUIConnectForm(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	const token = "ui-end-user-token-8c2a5f13"
	id := s.create(t, map[string]any{"name": "Per-user bearer", "url": s.provider.URL + "/api", "connectionMode": "perUser",
		"auth": map[string]any{"type": "bearer"}})
	code, cs := s.apiDo(t, "POST", "/api/v1/connect/sessions", map[string]any{"datasource": id, "endUserId": "alice"})
	if code != 201 {
		t.Fatalf("connect session: %d %v", code, cs)
	}
	run(t, ctx, "open the link", chromedp.Navigate(cs["connectUrl"].(string)), visible("#f-token"))
	// The page's own style applies: the CSP's nonce matches.
	maxWidth, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).maxWidth`))
	if err != nil || maxWidth == "none" {
		t.Errorf("the form's style was blocked: max-width %q (%v)", maxWidth, err)
	}
	shot(t, ctx, shots, "31-connect-form")
	run(t, ctx, "submit", fill("#f-token", token), click(`button[type="submit"]`))
	run(t, ctx, "back", visible(`#connect-outcome[data-result="authorized"]`))
	shot(t, ctx, shots, "32-connected")
	loc, _ := url.Parse(location(t, ctx))
	if q := loc.Query(); q.Get("result") != "authorized" || q.Get("endUserId") != "alice" || q.Get("datasource") != id {
		t.Errorf("back at %s", loc)
	}
	code, conn := s.apiDo(t, "GET", "/api/v1/datasources/"+id+"/connections/alice", nil)
	if a, _ := conn["authorization"].(map[string]any); code != 200 || a["status"] != "authorized" {
		t.Errorf("alice's connection: %d %v", code, conn)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil || strings.Contains(html, token) {
		t.Errorf("the page after connecting holds the token (%v)", err)
	}
	// The used link does not open the form again.
	run(t, ctx, "reopen", chromedp.Navigate(cs["connectUrl"].(string)), visible("h1"))
	if h1 := text(t, ctx, "h1"); !strings.Contains(h1, "no longer works") {
		t.Errorf("the used link shows %q", h1)
	}
}

// TestUIConnectFormAPIKey: a per-user API-key datasource (filled from the
// vectara-api-key catalogue entry: the key in x-api-key) whose end user
// alice enters her own key on grantd's connect page in Chromium; the
// proxy then sends that key upstream for alice's calls only — bob, who
// has not connected, gets a connect link and the upstream never sees a
// key for him — and no page holds the key.
func TestUIConnectFormAPIKey(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	const alicesKey = "ui-alice-api-key-2e7c91d4"
	var mu sync.Mutex
	var seen []string // x-api-key of each upstream request
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Api-Key"))
		mu.Unlock()
		if r.Header.Get("X-Api-Key") != alicesKey || r.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "corpora of alice")
	}))
	t.Cleanup(upstream.Close)
	id := s.create(t, map[string]any{"name": "Vectara per user", "provider": "vectara-api-key", "url": upstream.URL, "connectionMode": "perUser",
		"auth": map[string]any{}})
	code, d := s.apiDo(t, "GET", "/api/v1/datasources/"+url.PathEscape(id), nil)
	if auth, _ := d["auth"].(map[string]any); code != 200 || auth["type"] != "apiKey" || auth["headerName"] != "x-api-key" || auth["apiKeySet"] != false {
		t.Fatalf("the datasource: %d %v", code, d)
	}
	proxy := func(endUser string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/datasources/"+url.PathEscape(id)+"/proxy/v2/corpora", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Grantd-End-User", endUser)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := proxy("alice"); code != 424 {
		t.Errorf("alice before connecting: %d %s", code, b)
	}

	code, cs := s.apiDo(t, "POST", "/api/v1/connect/sessions", map[string]any{"datasource": id, "endUserId": "alice"})
	if code != 201 {
		t.Fatalf("connect session: %d %v", code, cs)
	}
	run(t, ctx, "open the link", chromedp.Navigate(cs["connectUrl"].(string)), visible("#f-apiKey"))
	if typ, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#f-apiKey').type`)); err != nil || typ != "password" {
		t.Errorf("the key field is %q, want password (%v)", typ, err)
	}
	shot(t, ctx, shots, "33-connect-api-key")
	run(t, ctx, "submit", fill("#f-apiKey", alicesKey), click(`button[type="submit"]`))
	run(t, ctx, "back", visible(`#connect-outcome[data-result="authorized"]`))
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil || strings.Contains(html, alicesKey) {
		t.Errorf("the page after connecting holds the key (%v)", err)
	}

	if code, b := proxy("alice"); code != 200 || b != "corpora of alice" {
		t.Errorf("alice's call: %d %s", code, b)
	}
	if code, b := proxy("bob"); code != 424 || strings.Contains(b, alicesKey) {
		t.Errorf("bob's call: %d %s", code, b)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != alicesKey {
		t.Errorf("the upstream saw keys %q, want alice's once (bob's call must not reach it)", seen)
	}
	mu.Unlock()
	code, conn := s.apiDo(t, "GET", "/api/v1/datasources/"+url.PathEscape(id)+"/connections/alice", nil)
	if a, _ := conn["authorization"].(map[string]any); code != 200 || a["status"] != "authorized" {
		t.Errorf("alice's connection: %d %v", code, conn)
	}
	if b, _ := json.Marshal(conn); strings.Contains(string(b), alicesKey) {
		t.Errorf("alice's connection shows her key: %s", b)
	}

	// The owner (signed in: after alice's outcome page, which a signed-in
	// browser would not get) starts a form from the same entry: it is on
	// the API key type with the entry's header and url.
	signIn(t, ctx, s)
	run(t, ctx, "new from the entry", chromedp.Navigate(s.URL+"/datasources/new?provider=vectara-api-key"), visible("#f-auth-apiKey"))
	picked, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.querySelector('#f-auth-type-apiKey').checked + ' ' + document.querySelector('#f-auth-headerName').value + ' ' + document.querySelector('#f-url').value`))
	if err != nil || picked != "true x-api-key https://api.vectara.io" {
		t.Errorf("the form from vectara-api-key: %q (%v)", picked, err)
	}
}
