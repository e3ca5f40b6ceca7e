package ui_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
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
