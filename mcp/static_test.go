package mcp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/mcp"
)

// TestStaticDatasourcesOverMCP: datasources authenticated by a fixed
// credential (a bearer token, an API key; issue 22) work over MCP as
// OAuth 2.0 ones do. An API key holding mcp lists the shared ones it
// covers as authorized and call_datasource reaches the upstream with
// their credential, which the caller cannot replace and never sees; a
// datasource outside the key's set is refused. An agent session for a
// per-user API-key datasource gets a connect link that opens grantd's
// own form, then calls with that end user's key only. Calls are audited.
func TestStaticDatasourcesOverMCP(t *testing.T) {
	h := newHarness(t)
	const (
		bearerTok = "bt-mcp-6a1c2e93-TOKEN"
		sharedKey = "ak-mcp-0d4f8b27-KEY"
		usersKey  = "ak-mcp-user-a-91e3c5d0"
	)
	h.secret(bearerTok, sharedKey, usersKey)
	var mu sync.Mutex
	var seen []string // the credential of each upstream request
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := r.Header.Get("Authorization") + "|" + r.Header.Get("X-Api-Key")
		mu.Lock()
		seen = append(seen, cred)
		mu.Unlock()
		switch cred {
		case "Bearer " + bearerTok + "|", "|" + sharedKey, "|" + usersKey:
			io.WriteString(w, "ok "+r.URL.Path)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(up.Close)
	h.create(map[string]any{"name": "Orders", "url": up.URL, "description": "Orders API, a bearer token",
		"auth": map[string]any{"type": "bearer", "token": bearerTok}})
	h.create(map[string]any{"name": "Search", "url": up.URL, "description": "Search API, an API key",
		"auth": map[string]any{"type": "apiKey", "apiKey": sharedKey, "headerName": "X-Api-Key", "headerPrefix": ""}})
	h.create(map[string]any{"name": "Secret", "url": up.URL, "auth": map[string]any{"type": "bearer", "token": bearerTok}})
	h.create(map[string]any{"name": "Notes", "url": up.URL, "description": "Each person's notes", "connectionMode": "perUser",
		"auth": map[string]any{"type": "apiKey", "headerName": "X-Api-Key", "headerPrefix": ""}})

	key := h.key("agent", []string{"mcp"}, "Orders", "Search")
	cs, _ := h.client(key)
	l := listed(t, cs)
	if statusOf(l, "Orders") != "authorized" || statusOf(l, "Search") != "authorized" || statusOf(l, "Secret") != "(not listed)" {
		t.Errorf("list: %+v", l)
	}
	r := callOK(t, cs, map[string]any{"datasource": "Orders", "path": "/v1/orders", "headers": map[string]string{"Authorization": "Bearer stolen"}})
	if r.Status != 200 || r.Body != "ok /v1/orders" || strings.Contains(r.Body, bearerTok) {
		t.Errorf("Orders: %+v", r)
	}
	if r = callOK(t, cs, map[string]any{"datasource": "Search", "path": "/q", "headers": map[string]string{"X-Api-Key": "the-callers"}}); r.Status != 200 {
		t.Errorf("Search: %+v", r)
	}
	if e := callErr(t, cs, map[string]any{"datasource": "Secret", "path": "/"}); e.Code == "" || strings.Contains(e.Error, bearerTok) {
		t.Errorf("a datasource outside the key: %+v", e)
	}

	// Per user: a connect link to grantd's form, then the end user's key.
	a := h.agentSession("", "user-a", 600, "Notes")
	csA, _ := h.client(a.Token)
	if s := statusOf(listed(t, csA), "Notes"); s != mcp.StatusNotConnected {
		t.Errorf("Notes before connecting: %s", s)
	}
	e := callErr(t, csA, map[string]any{"datasource": "Notes", "path": "/mine"})
	if e.Code != "not_connected" || !strings.HasPrefix(e.ConnectURL, h.URL+"/connect/") {
		t.Fatalf("unconnected call: %+v", e)
	}
	h.secret(strings.TrimPrefix(e.ConnectURL, h.URL+"/connect/"))
	br := browser()
	resp, err := br.Get(e.ConnectURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `name="apiKey"`) {
		t.Fatalf("the connect link: %d %s", resp.StatusCode, page)
	}
	req, _ := http.NewRequest("POST", e.ConnectURL, strings.NewReader(url.Values{"apiKey": {usersKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.URL)
	resp, err = br.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the form: %d", resp.StatusCode)
	}
	if r := callOK(t, csA, map[string]any{"datasource": "Notes", "path": "/mine"}); r.Status != 200 || r.Body != "ok /mine" {
		t.Errorf("user-a's call: %+v", r)
	}
	b := h.agentSession("", "user-b", 600, "Notes")
	csB, _ := h.client(b.Token)
	if e := callErr(t, csB, map[string]any{"datasource": "Notes", "path": "/mine"}); e.Code != "not_connected" {
		t.Errorf("user-b uses user-a's key: %+v", e)
	}

	mu.Lock()
	want := []string{"Bearer " + bearerTok + "|", "|" + sharedKey, "|" + usersKey}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("the upstream saw %q, want %q", seen, want)
	}
	mu.Unlock()
	if n := len(h.audited()); n < 5 {
		t.Errorf("%d MCP calls audited, want one per call_datasource", n)
	}
}
