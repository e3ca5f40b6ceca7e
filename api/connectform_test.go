package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestConnectFormStatic: the connect link of a per-user bearer datasource
// opens grantd's own form (strict CSP, no script), the end user's token
// posted there is sealed on their connection, the browser goes to
// returnTo, and their calls through the proxy carry it. Attacks are made
// the way an attacker makes them: another browser posting to the link, a
// cross-site POST with the victim's cookies, replaying the used link and
// the used form. The token is never in an answer, a log line or the
// bbolt file.
func TestConnectFormStatic(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const alicesToken = "bt-alice-6d0e1f2a-OWN-TOKEN"
	h.addSecret(alicesToken, "planted-by-attacker-token")
	u := newAuthUpstream(t, h)
	u.bearer = alicesToken
	d := h.create(map[string]any{"name": "per-user bearer", "url": u.URL, "connectionMode": "perUser",
		"auth": map[string]any{"type": "bearer"}})
	if d.Auth["tokenSet"] != false {
		t.Errorf("a per-user datasource's view: tokenSet %v, want false", d.Auth["tokenSet"])
	}
	proxy := func() (int, []byte) {
		code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/bearer/me?q=1", nil, "Grantd-End-User", "alice")
		return code, b
	}
	code, b := proxy()
	if p := decode[struct{ ConnectURL string }](t, b); code != 424 || !strings.Contains(p.ConnectURL, "/connect/") {
		t.Fatalf("before connecting: %d %s", code, b)
	}
	code, b, _ = h.do("POST", "/api/v1/connect/sessions", map[string]any{"datasource": d.ID, "endUserId": "alice", "returnTo": "/done"})
	if code != 201 {
		t.Fatalf("connect session: %d %s", code, b)
	}
	link := strings.TrimPrefix(decode[struct{ ConnectURL string }](t, b).ConnectURL, h.URL)

	// A POST to a link nobody has opened is refused and does not use it up.
	if code, b, _ := h.doWith(browser(), "POST", link, url.Values{"token": {"planted-by-attacker-token"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded"); code != 400 {
		t.Errorf("a POST to an unopened link: %d %s", code, b)
	}

	alice := browser()
	code, b, hdr := h.doWith(alice, "GET", link, nil, "Accept", "text/html")
	page := string(b)
	if code != 200 || !strings.Contains(page, `name="token"`) || !strings.Contains(page, `type="password"`) || !strings.Contains(page, "per-user bearer") {
		t.Fatalf("the form: %d %s", code, page)
	}
	csp := hdr.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(page, "<script") {
		t.Errorf("the form page allows or has script: %q", csp)
	}
	if c := hdr.Get("Set-Cookie"); !strings.Contains(c, "grantd_connect=") || !strings.Contains(c, "SameSite=Strict") || !strings.Contains(c, "HttpOnly") {
		t.Errorf("connect cookie: %q", c)
	}
	if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("cache/referrer: %q %q", hdr.Get("Cache-Control"), hdr.Get("Referrer-Policy"))
	}

	post := func(c *http.Client, origin string, form url.Values) (int, string, http.Header) {
		t.Helper()
		code, b, hdr := h.doWith(c, "POST", link, form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html", "Origin", origin)
		return code, string(b), hdr
	}
	// Another browser, which got the link somehow, posts its own token
	// for alice: it has not the cookie of the browser that opened it.
	mallory := browser()
	if code, page, _ := post(mallory, h.URL, url.Values{"token": {"planted-by-attacker-token"}}); code != 400 || !strings.Contains(page, "no longer works") {
		t.Errorf("another browser posting the form: %d %s", code, page)
	}
	// A page on another site makes alice's own browser post (her cookie
	// would go along if it were not SameSite=Strict; the browser's Origin
	// and Sec-Fetch-Site show it), also from a sandboxed frame (Origin null).
	if code, page, _ := post(alice, "https://evil.example", url.Values{"token": {"planted-by-attacker-token"}}); code != 403 {
		t.Errorf("a cross-site post: %d %s", code, page)
	}
	code, b, _ = h.doWith(alice, "POST", link, url.Values{"token": {"planted-by-attacker-token"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "null", "Sec-Fetch-Site", "cross-site")
	if code != 403 {
		t.Errorf("a cross-site post from a sandboxed frame: %d %s", code, b)
	}
	// The used link does not open again elsewhere.
	if code, b, _ := h.doWith(mallory, "GET", link, nil, "Accept", "text/html"); code != 400 {
		t.Errorf("replaying the used link: %d %s", code, b)
	}
	if code, _ := proxy(); code != 424 {
		t.Errorf("after the attacks, alice is connected: %d", code)
	}
	// An empty token is named; the form stays usable.
	if code, page, _ := post(alice, h.URL, url.Values{"token": {""}}); code != 400 || !strings.Contains(page, "is required") || !strings.Contains(page, `name="token"`) {
		t.Errorf("an empty token: %d %s", code, page)
	}
	code, page, hdr = post(alice, h.URL, url.Values{"token": {alicesToken}})
	loc, _ := url.Parse(hdr.Get("Location"))
	if code != 303 || loc == nil || loc.Path != "/done" || loc.Query().Get("result") != "authorized" || loc.Query().Get("endUserId") != "alice" ||
		loc.Query().Get("datasource") != d.ID {
		t.Fatalf("submitting: %d %s %v", code, page, hdr.Get("Location"))
	}
	// The form works once.
	if code, page, _ := post(alice, h.URL, url.Values{"token": {"planted-by-attacker-token"}}); code != 400 {
		t.Errorf("replaying the form: %d %s", code, page)
	}
	if code, b := proxy(); code != 200 || string(b) != "ok bearer " {
		t.Fatalf("alice's call: %d %s (upstream: %s)", code, b, u.lastError("bearer"))
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/connections/alice", nil)
	if code != 200 || decode[struct{ Authorization struct{ Status string } }](t, b).Authorization.Status != "authorized" {
		t.Errorf("alice's connection: %d %s", code, b)
	}
	if code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/bearer/me?q=1", nil, "Grantd-End-User", "bob"); code != 424 {
		t.Errorf("bob calls with alice's token: %d %s", code, b)
	}
	h.assertNotInDB(alicesToken)

	// Revoking alice's connection erases her token; her calls then need
	// a new connect link.
	if code, b, _ := h.do("POST", "/api/v1/datasources/"+d.ID+"/connections/alice/revoke", nil); code != 200 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	code, b = proxy()
	if p := decode[struct{ ConnectURL string }](t, b); code != 424 || p.ConnectURL == "" {
		t.Errorf("after revoking: %d %s", code, b)
	}
}
