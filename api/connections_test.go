package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

// connectInBrowser is an end user's browser opening a connect link,
// logging in at the provider as account, and coming back through the
// callback. It returns where grantd finally sends the browser.
func connectInBrowser(t *testing.T, h *harness, connectURL, account string) *url.URL {
	t.Helper()
	br := browser()
	resp, err := br.Get(connectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("opening the connect link: %d", resp.StatusCode)
	}
	authorize := resp.Header.Get("Location")
	h.addLogSecret(mustURL(authorize).Query().Get("state"))
	resp, err = br.PostForm(authorize, url.Values{"username": {account}, "password": {grantstest.Users[account]}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	h.addSecret(mustURL(cb).Query().Get("code"))
	resp, err = br.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	return mustURL(resp.Header.Get("Location"))
}

type connectAnswer struct {
	Token, ConnectURL string
}

type connView struct {
	EndUserID     string `json:"endUserId"`
	Authorization struct{ Status string }
	EndUser       struct{ DisplayName string }
}

// TestPerUserOverHTTP: the app backend makes connect links, three end
// users connect their own accounts in their browsers, and every proxied
// call and handed-out token for a user is that user's; a user without a
// connection gets a 424 that carries a fresh connect link.
func TestPerUserOverHTTP(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	body := acBody(p, "Sheets", "web-secret-1a2b3c")
	body["connectionMode"] = "perUser"
	body["auth"].(map[string]any)["exposeToken"] = true
	d := h.create(body)

	cc := ccBody(p, "cc", "svc-secret-9f8e7d")
	cc["connectionMode"] = "perUser"
	if code, b, _ := h.do("POST", "/api/v1/datasources", cc); code != 400 || !strings.Contains(string(b), `"connectionMode"`) {
		t.Fatalf("per-user client credentials: %d %s", code, b)
	}

	for _, u := range []string{"alice", "bob", "carol"} {
		code, b, _ := h.do("POST", "/api/v1/connect/sessions", map[string]any{"datasource": "sheets", "endUserId": "user-" + u,
			"endUser": map[string]string{"displayName": strings.ToUpper(u)}, "returnTo": "/app/done"})
		if code != 201 {
			t.Fatalf("connect session: %d %s", code, b)
		}
		cs := decode[connectAnswer](t, b)
		h.addLogSecret(cs.Token)
		if !strings.HasPrefix(cs.ConnectURL, h.URL+"/connect/") {
			t.Fatalf("connect URL %q", cs.ConnectURL)
		}
		// A link-preview bot's HEAD does not use the link up.
		if resp, err := browser().Head(cs.ConnectURL); err != nil || resp.StatusCode != 204 {
			t.Fatalf("HEAD of a connect link: %v %v", resp, err)
		}
		back := connectInBrowser(t, h, cs.ConnectURL, u)
		if back.Path != "/app/done" || back.Query().Get("result") != "authorized" || back.Query().Get("endUserId") != "user-"+u || back.Query().Get("datasource") != d.ID {
			t.Fatalf("back at %s", back)
		}
		// A connect link works once.
		resp, err := browser().Get(cs.ConnectURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("a used connect link: %d", resp.StatusCode)
		}
		// An end user's browser is told in plain words, with no way into grantd.
		req, _ := http.NewRequest("GET", cs.ConnectURL, nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		resp, err = browser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(page), "already been used or has expired") || strings.Contains(string(page), `href="/"`) {
			t.Fatalf("a used connect link in a browser: %d %s", resp.StatusCode, page)
		}
	}

	proxy := "/api/v1/datasources/" + d.ID + "/proxy/whoami"
	for _, u := range []string{"alice", "bob", "carol"} {
		code, b, _ := h.do("GET", proxy, nil, "Grantd-End-User", "user-"+u)
		if ans := decode[grantstest.APIAnswer](t, b); code != 200 || ans.Subject != u {
			t.Fatalf("proxy for user-%s: %d %s", u, code, b)
		}
		if _, ok := decode[grantstest.APIAnswer](t, b).Headers["Grantd-End-User"]; ok {
			t.Fatal("Grantd-End-User went upstream")
		}
		code, b, _ = h.do("POST", "/api/v1/datasources/"+d.ID+"/token", nil, "Grantd-End-User", "user-"+u)
		if code != 200 {
			t.Fatalf("token for user-%s: %d %s", u, code, b)
		}
		h.addLogSecret(decode[struct {
			AccessToken string `json:"access_token"`
		}](t, b).AccessToken)
	}

	// No end user: 400 naming the header. A user with no connection: 424
	// with a fresh connect link, which works.
	if code, b, _ := h.do("GET", proxy, nil); code != 400 || !strings.Contains(string(b), "Grantd-End-User") {
		t.Fatalf("no end user: %d %s", code, b)
	}
	code, b, _ := h.do("GET", proxy, nil, "Grantd-End-User", "user-dave")
	pr := decode[struct {
		Status     int
		ConnectURL string `json:"connectUrl"`
	}](t, b)
	if code != 424 || !strings.HasPrefix(pr.ConnectURL, h.URL+"/connect/") {
		t.Fatalf("an end user with no connection: %d %s", code, b)
	}
	h.addLogSecret(strings.TrimPrefix(pr.ConnectURL, h.URL+"/connect/"))
	connectInBrowser(t, h, pr.ConnectURL, "alice") // dave's browser, logging in with the alice account
	if code, b, _ := h.do("GET", proxy, nil, "Grantd-End-User", "user-dave"); code != 200 || decode[grantstest.APIAnswer](t, b).Subject != "alice" {
		t.Fatalf("after connecting from the 424's link: %d %s", code, b)
	}
	if code, b, _ := h.do("GET", proxy, nil, "Grantd-End-User", "bad/user"); code != 400 {
		t.Fatalf("an end user id with a slash: %d %s", code, b)
	}

	// The connections API: pages, one, delete.
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/connections?limit=2", nil)
	var page struct {
		Connections []connView
		NextCursor  string `json:"nextCursor"`
	}
	json.Unmarshal(b, &page)
	if code != 200 || len(page.Connections) != 2 || page.Connections[0].EndUserID != "user-alice" || page.NextCursor != "user-bob" {
		t.Fatalf("first page: %d %s", code, b)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/connections?limit=2&cursor="+page.NextCursor, nil)
	json.Unmarshal(b, &page)
	if code != 200 || len(page.Connections) != 2 || page.Connections[0].EndUserID != "user-carol" || page.NextCursor != "" {
		t.Fatalf("second page: %d %s", code, b)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/connections?prefix=user-&cursor=user-alice&limit=1", nil)
	json.Unmarshal(b, &page)
	if code != 200 || len(page.Connections) != 1 || page.Connections[0].EndUserID != "user-bob" || page.NextCursor != "user-bob" {
		t.Fatalf("a search page: %d %s", code, b)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/connections?prefix=user-c", nil)
	json.Unmarshal(b, &page)
	if code != 200 || len(page.Connections) != 1 || page.Connections[0].EndUserID != "user-carol" {
		t.Fatalf("search user-c: %d %s", code, b)
	}
	code, b, _ = h.do("GET", "/api/v1/events?datasource="+d.ID+"&endUserId=user-bob", nil)
	var evs struct {
		Events []struct {
			Type      string
			EndUserID string `json:"endUserId"`
		}
	}
	json.Unmarshal(b, &evs)
	if code != 200 || len(evs.Events) == 0 {
		t.Fatalf("bob's events: %d %s", code, b)
	}
	for _, e := range evs.Events {
		if e.EndUserID != "user-bob" {
			t.Fatalf("bob's events hold %+v", e)
		}
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/connections/user-bob", nil)
	if c := decode[connView](t, b); code != 200 || c.Authorization.Status != "authorized" || c.EndUser.DisplayName != "BOB" {
		t.Fatalf("one connection: %d %s", code, b)
	}
	if code, _, _ := h.do("DELETE", "/api/v1/datasources/"+d.ID+"/connections/user-bob", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/connections/user-bob", nil); code != 404 {
		t.Fatalf("after delete: %d", code)
	}
	if code, _, _ := h.do("GET", proxy, nil, "Grantd-End-User", "user-bob"); code != 424 {
		t.Fatalf("proxy after bob's connection was deleted: %d", code)
	}
	if code, _, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/connections?status=bogus", nil); code != 400 {
		t.Fatalf("bad status filter: %d", code)
	}

	// returnTo: relative, or absolute only on an allowed origin.
	if code, b, _ := h.do("POST", "/api/v1/connect/sessions", map[string]any{"datasource": d.ID, "endUserId": "x", "returnTo": "https://evil.example/"}); code != 400 || !strings.Contains(string(b), "returnTo") {
		t.Fatalf("absolute returnTo on another origin: %d %s", code, b)
	}
	// What the app backend says about the end user is checked, field by field.
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"datasource": d.ID, "endUserId": "a b"}, `"endUserId"`},
		{map[string]any{"datasource": d.ID, "endUserId": "x", "endUser": map[string]string{"displayName": "A\x1b[31m"}}, `"endUser.displayName"`},
		{map[string]any{"datasource": d.ID, "endUserId": "x", "endUser": map[string]string{"email": "a <b@c>"}}, `"endUser.email"`},
		{map[string]any{"datasource": d.ID, "endUserId": "x", "connectionConfig": map[string]string{"9lives": "v"}}, `"connectionConfig"`},
		{map[string]any{"datasource": d.ID, "endUserId": "x", "connectionConfig": map[string]string{"shop": "a\nb"}}, `"connectionConfig.shop"`},
	} {
		if code, b, _ := h.do("POST", "/api/v1/connect/sessions", bad.body); code != 400 || !strings.Contains(string(b), bad.field) || strings.Contains(string(b), "datasource: ") {
			t.Errorf("connect session %v: %d %s", bad.body, code, b)
		}
	}
	// Datasource-wide token routes point a per-user datasource's caller at
	// its connections.
	for _, route := range []string{"refresh", "revoke", "authorize", "authorize/start"} {
		if code, b, _ := h.do("POST", "/api/v1/datasources/"+d.ID+"/"+route, nil); code != 400 || !strings.Contains(string(b), "connect/sessions") || strings.Contains(string(b), "Grantd-End-User") {
			t.Errorf("POST …/%s on a per-user datasource: %d %s", route, code, b)
		}
	}
	// A shared datasource has no connections.
	shared := h.create(ccBody(p, "shared", "svc-secret-9f8e7d"))
	if code, _, _ := h.do("POST", "/api/v1/connect/sessions", map[string]any{"datasource": shared.ID, "endUserId": "x"}); code != 400 {
		t.Fatalf("connect session on a shared datasource: %d", code)
	}
	// The end user header is ignored (and not forwarded) for a shared one.
	if code, _, _ := h.do("GET", "/api/v1/datasources/"+shared.ID+"/proxy/whoami", nil, "Grantd-End-User", "someone"); code != 200 {
		t.Fatalf("shared datasource with an end user header: %d", code)
	}
}
