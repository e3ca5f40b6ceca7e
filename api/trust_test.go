package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

// hostilePage is what a hostile upstream answers: HTML whose script, run
// on grantd's origin, would use the admin's session.
const hostilePage = `<!doctype html><script>
fetch('/api/v1/datasources', {method: 'POST', headers: {'X-Grantd-CSRF': '1', 'Content-Type': 'application/json'}, body: '{}'});
</script>`

// TestProxiedAnswersCannotRunOnGrantdsOrigin: whatever an upstream
// answers, a browser gets it sandboxed (no script, an opaque origin), not
// sniffed, and without the upstream's CORS grants — even when the upstream
// sends its own, weaker values.
func TestProxiedAnswersCannotRunOnGrantdsOrigin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	up := newUpstream(t)
	body := ccBody(p, "hostile", "svc-secret-9f8e7d")
	body["url"] = up.URL
	d := h.create(body)
	up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src * 'unsafe-inline'")
		w.Header().Set("X-Content-Type-Options", "sniff-away")
		w.Header().Set("Access-Control-Allow-Origin", "https://evil.example")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		w.Header().Set("Access-Control-Allow-Headers", "X-Grantd-CSRF")
		w.Header().Set("Access-Control-Expose-Headers", "X-Request-Id")
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.Header().Set("X-Upstream", "kept")
		if r.URL.Path == "/missing" {
			w.WriteHeader(404)
		}
		fmt.Fprint(w, hostilePage)
	})
	for _, c := range []struct{ method, path string }{
		{"GET", "/page"}, {"GET", "/missing"}, {"HEAD", "/page"}, {"POST", "/page"}, {"OPTIONS", "/page"}, {"GET", ""},
	} {
		code, b, hdr := h.do(c.method, "/api/v1/datasources/"+d.ID+"/proxy"+c.path, nil)
		name := c.method + " " + c.path
		if want := map[string]int{"/missing": 404}[c.path]; code != max(want, 200) {
			t.Errorf("%s: %d %s", name, code, b)
		}
		if c.method != "HEAD" && string(b) != hostilePage {
			t.Errorf("%s: the body did not pass through: %q", name, b)
		}
		if got := hdr.Values("Content-Security-Policy"); len(got) != 1 || got[0] != "sandbox" {
			t.Errorf("%s: Content-Security-Policy %q, want exactly sandbox", name, got)
		}
		if got := hdr.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want exactly nosniff", name, got)
		}
		for k := range hdr {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s: the upstream's %s: %s came through", name, k, hdr.Get(k))
			}
		}
		if hdr.Get("X-Upstream") != "kept" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Errorf("%s: the upstream's own headers should pass: %v", name, hdr)
		}
	}
	// grantd's own problems on the proxy route are sandboxed too.
	code, _, hdr := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/a/../../x", nil)
	if code != 400 || hdr.Get("Content-Security-Policy") != "sandbox" {
		t.Errorf("a refused proxy path: %d %v", code, hdr)
	}
}
