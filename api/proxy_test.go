package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
)

// upstream is a test API behind the proxy whose behaviour a test sets.
type upstream struct {
	*httptest.Server
	mu      sync.Mutex
	handler http.HandlerFunc
	calls   int
	tokens  []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.calls++
		u.tokens = append(u.tokens, r.Header.Get("Authorization"))
		h := u.handler
		u.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) set(h http.HandlerFunc) {
	u.mu.Lock()
	u.handler = h
	u.calls = 0
	u.tokens = nil
	u.mu.Unlock()
}

func (u *upstream) stats() (int, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls, append([]string(nil), u.tokens...)
}

func TestProxyBehaviour(t *testing.T) {
	h := newHarness(t, harnessOptions{proxyTimeout: 300 * time.Millisecond})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	up := newUpstream(t)
	body := ccBody(p, "proxied", "svc-secret-9f8e7d")
	body["url"] = up.URL + "/base"
	d := h.create(body)
	path := "/api/v1/datasources/" + d.ID + "/proxy"

	t.Run("answers pass through, cookies do not", func(t *testing.T) {
		up.set(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "grantd_session", Value: "evil"})
			w.Header().Set("X-Upstream", "yes")
			w.WriteHeader(418)
			fmt.Fprint(w, "teapot "+r.URL.Path)
		})
		code, b, hdr := h.do("GET", path+"/tea", nil)
		if code != 418 || string(b) != "teapot /base/tea" || hdr.Get("X-Upstream") != "yes" || hdr.Get("Set-Cookie") != "" {
			t.Fatalf("%d %q %v", code, b, hdr)
		}
		code, _, _ = h.do("HEAD", path+"/tea", nil)
		if code != 418 {
			t.Fatalf("HEAD: %d", code)
		}
		code, b, _ = h.do("GET", path, nil)
		if code != 418 || string(b) != "teapot /base" {
			t.Fatalf("no path: %d %q", code, b)
		}
	})

	t.Run("a 401 refreshes once and retries once", func(t *testing.T) {
		h.clock.Advance(grants.MinAgeForForcedRefresh)
		refused := 0
		up.set(func(w http.ResponseWriter, r *http.Request) {
			if refused == 0 {
				refused++
				w.WriteHeader(401)
				return
			}
			b, _ := io.ReadAll(r.Body)
			fmt.Fprint(w, "ok:"+string(b))
		})
		before := p.Count("client_credentials")
		code, b, _ := h.do("POST", path+"/x", "payload")
		calls, toks := up.stats()
		if code != 200 || string(b) != "ok:payload" || calls != 2 || toks[0] == toks[1] || p.Count("client_credentials") != before+1 {
			t.Fatalf("%d %q after %d calls with %d token requests", code, b, calls, p.Count("client_credentials")-before)
		}
	})

	t.Run("a 401 loop ends after one retry", func(t *testing.T) {
		h.clock.Advance(grants.MinAgeForForcedRefresh)
		up.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401); fmt.Fprint(w, "go away") })
		before := p.Count("client_credentials")
		code, b, _ := h.do("GET", path+"/x", nil)
		calls, _ := up.stats()
		if code != 401 || string(b) != "go away" || calls != 2 || p.Count("client_credentials") != before+1 {
			t.Fatalf("%d %q after %d calls with %d token requests", code, b, calls, p.Count("client_credentials")-before)
		}
	})

	// An upstream that refuses everything: sequential 401s pass through
	// without a token request each (the review saw five 401s make five).
	t.Run("sequential 401s force at most one refresh per token", func(t *testing.T) {
		h.clock.Advance(grants.MinAgeForForcedRefresh)
		up.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
		before := p.Count("client_credentials")
		for range 5 {
			if code, _, _ := h.do("GET", path+"/x", nil); code != 401 {
				t.Fatalf("%d", code)
			}
		}
		calls, _ := up.stats()
		if n := p.Count("client_credentials") - before; n != 1 || calls != 6 {
			t.Fatalf("5 refused calls: %d token requests, %d upstream calls; want 1 and 6", n, calls)
		}
		// A token younger than 30 s is never refreshed for a 401.
		h.clock.Advance(grants.MinAgeForForcedRefresh - time.Second)
		h.do("GET", path+"/x", nil)
		if n := p.Count("client_credentials") - before; n != 1 {
			t.Fatalf("a young token was refreshed: %d token requests", n)
		}
	})

	t.Run("upstream timeout is a 504 problem", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		up.set(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		code, b, _ := h.do("GET", path+"/slow", nil)
		if code != 504 || decode[problem](t, b).Type != "https://grantd.dev/problems/upstream-timeout" {
			t.Fatalf("%d %s", code, b)
		}
	})

	t.Run("large bodies stream both ways", func(t *testing.T) {
		up.set(func(w http.ResponseWriter, r *http.Request) {
			hsh := sha256.New()
			n, _ := io.Copy(hsh, r.Body)
			w.Header().Set("X-Got", fmt.Sprintf("%d %x", n, hsh.Sum(nil)))
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			for range 320 { // 20 MiB
				w.Write(chunk)
			}
		})
		big := bytes.Repeat([]byte("x"), 5<<20)
		sum := sha256.Sum256(big)
		code, b, hdr := h.do("PUT", path+"/upload", big)
		if code != 200 || hdr.Get("X-Got") != fmt.Sprintf("%d %s", len(big), hex.EncodeToString(sum[:])) {
			t.Fatalf("upload: %d %q", code, hdr.Get("X-Got"))
		}
		if len(b) != 20<<20 {
			t.Fatalf("download: %d bytes", len(b))
		}
	})
}

func TestProxyProviderFailures(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		fmt.Fprint(w, `{"error":"temporarily_unavailable","error_description":"maintenance"}`)
	}))
	defer failing.Close()
	body := map[string]any{"name": "down", "url": failing.URL, "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": failing.URL + "/token", "clientId": "c", "clientSecret": "down-secret-5566"}}
	h.addSecret("down-secret-5566")
	d := h.create(body)
	if d.Authorization.Status != "error" || !strings.Contains(d.Authorization.LastError, "maintenance") {
		t.Fatalf("created: %+v", d.Authorization)
	}
	code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/x", nil)
	pr := decode[problem](t, b)
	if code != 502 || pr.Type != "https://grantd.dev/problems/token-endpoint-failed" || !strings.Contains(pr.Detail, "temporarily_unavailable") {
		t.Fatalf("%d %+v", code, pr)
	}
}

func TestProxyDialGuard(t *testing.T) {
	h := newHarness(t, harnessOptions{proxyDialer: &outbound.Dialer{}})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(ccBody(p, "loopback-upstream", "svc-secret-9f8e7d"))
	code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/x", nil)
	pr := decode[problem](t, b)
	if code != 502 || !strings.Contains(pr.Detail, "private or loopback") {
		t.Fatalf("%d %+v", code, pr)
	}
}
