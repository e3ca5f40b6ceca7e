package mcp_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCallDatasourceBodies: a text body past the limit (4 KiB in the
// harness) is cut at a UTF-8 boundary and flagged; a binary body is
// described, never included; selected headers only come back.
func TestCallDatasourceBodies(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("é", 3000) // 6000 bytes
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 2000)...)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("X-RateLimit-Remaining", "41")
		w.Header().Set("Set-Cookie", "s=1")
		w.Header().Set("X-Internal", "no")
		switch r.URL.Path {
		case "/files/long.txt":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte(long))
		case "/files/logo.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(png)
		default:
			w.WriteHeader(404)
		}
	}))
	defer up.Close()
	h.create(map[string]any{"name": "Files", "url": up.URL + "/files", "description": "Files",
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": h.provider.TokenURL(),
			"clientId": "svc", "clientSecret": "svc-secret-9f8e7d", "scope": "api/read"}})
	cs, _ := h.client(h.key("files agent", []string{"mcp"}))

	r := callOK(t, cs, map[string]any{"datasource": "Files", "path": "/long.txt"})
	if !r.Truncated || r.Binary || r.BodyBytes != int64(len(long)) || len(r.Body) > 4<<10 || len(r.Body) < 4<<10-1 ||
		!strings.HasPrefix(long, r.Body) {
		t.Errorf("long text: truncated %v, %d bytes of %d shown", r.Truncated, len(r.Body), r.BodyBytes)
	}
	if r.Headers["X-Ratelimit-Remaining"] != "41" || r.Headers["Set-Cookie"] != "" || r.Headers["X-Internal"] != "" {
		t.Errorf("headers %v", r.Headers)
	}
	r = callOK(t, cs, map[string]any{"datasource": "Files", "path": "/logo.png"})
	if !r.Binary || r.Body != "" || r.BodyBytes != int64(len(png)) || r.ContentType != "image/png" {
		t.Errorf("binary: %+v", r)
	}
	if r = callOK(t, cs, map[string]any{"datasource": "Files", "path": "/missing"}); r.Status != 404 {
		t.Errorf("missing: %d", r.Status)
	}
}
