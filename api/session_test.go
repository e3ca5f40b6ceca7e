package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/grants/grantstest"
)

// signIn trades the admin token for a session cookie and returns it as a
// Cookie header value.
func (h *harness) signIn() string {
	h.t.Helper()
	code, b, hdr := h.doWith(http.DefaultClient, "POST", "/api/v1/session", map[string]string{"token": adminToken})
	if code != 201 {
		h.t.Fatalf("sign in: %d %s", code, b)
	}
	return strings.SplitN(hdr.Get("Set-Cookie"), ";", 2)[0]
}

// TestSessionCookieAloneNeverReachesProxyOrToken: a session cookie is what
// a browser attaches to anything it is made to load. On the proxy and the
// token endpoint it counts only with the CSRF header — which no cross-site
// page, link, form or image can add — on every method, and never for a
// top-level navigation. The admin token as Bearer is unaffected.
func TestSessionCookieAloneNeverReachesProxyOrToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	body := ccBody(p, "exposed", "svc-secret-9f8e7d")
	body["auth"].(map[string]any)["exposeToken"] = true
	d := h.create(body)
	cookie := h.signIn()
	proxy := "/api/v1/datasources/" + d.ID + "/proxy/me"
	token := "/api/v1/datasources/" + d.ID + "/token"
	const (
		csrf = "https://grantd.dev/problems/csrf"
		nav  = "https://grantd.dev/problems/navigation-refused"
	)
	for _, c := range []struct {
		name, method, path string
		hdr                []string
		want               int
		problem            string
	}{
		{"proxy GET, cookie only", "GET", proxy, nil, 403, csrf},
		{"proxy HEAD, cookie only", "HEAD", proxy, nil, 403, ""},
		{"proxy OPTIONS, cookie only", "OPTIONS", proxy, nil, 403, csrf},
		{"proxy POST, cookie only", "POST", proxy, nil, 403, csrf},
		{"token POST, cookie only", "POST", token, nil, 403, csrf},
		{"proxy GET, cookie and header", "GET", proxy, []string{"X-Grantd-CSRF", "1"}, 200, ""},
		{"proxy HEAD, cookie and header", "HEAD", proxy, []string{"X-Grantd-CSRF", "1"}, 200, ""},
		{"token POST, cookie and header", "POST", token, []string{"X-Grantd-CSRF", "1"}, 200, ""},
		{"proxy navigation", "GET", proxy, []string{"X-Grantd-CSRF", "1", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}, 403, nav},
		{"proxy navigation, mode only", "GET", proxy, []string{"X-Grantd-CSRF", "1", "Sec-Fetch-Mode", "navigate"}, 403, nav},
		{"proxy document, dest only", "GET", proxy, []string{"X-Grantd-CSRF", "1", "Sec-Fetch-Dest", "document"}, 403, nav},
		{"proxy navigation, no header", "GET", proxy, []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}, 403, nav},
		{"token form post navigation", "POST", token, []string{"X-Grantd-CSRF", "1", "Sec-Fetch-Mode", "navigate"}, 403, nav},
		{"proxy fetch from the UI", "GET", proxy, []string{"X-Grantd-CSRF", "1", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "Sec-Fetch-Site", "same-origin"}, 200, ""},
	} {
		code, b, _ := h.doWith(http.DefaultClient, c.method, c.path, nil, append([]string{"Cookie", cookie}, c.hdr...)...)
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, b, c.want)
			continue
		}
		if c.problem != "" {
			if pr := decode[problem](t, b); pr.Type != c.problem || pr.Detail == "" {
				t.Errorf("%s: problem %+v, want %s", c.name, pr, c.problem)
			}
		}
	}
	// Bearer callers are unaffected, even with navigation headers.
	for _, path := range []string{proxy, token} {
		method := map[string]string{proxy: "GET", token: "POST"}[path]
		if code, b, _ := h.do(method, path, nil, "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"); code != 200 {
			t.Errorf("Bearer %s %s: %d %s", method, path, code, b)
		}
	}
	// Elsewhere the cookie alone still reads: the UI's GETs send no header.
	if code, b, _ := h.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", cookie); code != 200 {
		t.Errorf("cookie GET of the list: %d %s", code, b)
	}
}

// TestSignOutEndsTheSession: after DELETE /api/v1/session the old cookie —
// kept by an attacker who copied it, or by a browser that ignored the
// clearing — is refused, on this server at once and on another replica of
// the same store within the refresh window; other sessions go on.
func TestSignOutEndsTheSession(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	stolen, other := h.signIn(), h.signIn()
	replica := h.replica() // started before the sign-out, on the same store
	for _, c := range []string{stolen, other} {
		if code, b, _ := h.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", c); code != 200 {
			t.Fatalf("signed in: %d %s", code, b)
		}
		if code, b, _ := replica.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", c); code != 200 {
			t.Fatalf("signed in, on the replica: %d %s", code, b)
		}
	}
	code, _, hdr := h.doWith(http.DefaultClient, "DELETE", "/api/v1/session", nil, "Cookie", stolen, "X-Grantd-CSRF", "1")
	if code != 204 || !strings.Contains(hdr.Get("Set-Cookie"), "grantd_session=;") {
		t.Fatalf("sign out: %d %v", code, hdr)
	}
	code, b, _ := h.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", stolen)
	if code != 401 || decode[problem](t, b).Type != "https://grantd.dev/problems/unauthorized" {
		t.Fatalf("the signed-out cookie: %d %s", code, b)
	}
	if code, b, _ := h.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", other); code != 200 {
		t.Fatalf("another session after the sign-out: %d %s", code, b)
	}
	// A replica that starts now reads the revocation from the store.
	late := h.replica()
	if code, _, _ := late.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", stolen); code != 401 {
		t.Fatalf("the signed-out cookie on a replica started later: %d", code)
	}
	// A replica that was running sees it once its copy is older than the
	// refresh window (a few seconds), without a store read per request.
	h.clock.Advance(6 * time.Second)
	if code, _, _ := replica.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", stolen); code != 401 {
		t.Fatalf("the signed-out cookie on a running replica after the window: %d", code)
	}
	if code, _, _ := replica.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Cookie", other); code != 200 {
		t.Fatalf("another session on the replica: %d", code)
	}
	// Signing out with a cookie already signed out changes nothing more.
	if code, _, _ := h.doWith(http.DefaultClient, "DELETE", "/api/v1/session", nil, "Cookie", stolen, "X-Grantd-CSRF", "1"); code != 401 {
		t.Fatalf("signing out twice: %d", code)
	}
}
