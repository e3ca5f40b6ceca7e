package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/grants/grantstest"
)

// TestMisbehavingUpstreams: an upstream that hangs, one that sends a body
// over the limit, one that resets connections — the proxy answers each
// with a problem or a cut stream, holds its limits, and stays responsive
// for a healthy datasource meanwhile.
func TestMisbehavingUpstreams(t *testing.T) {
	h := newHarness(t, harnessOptions{proxyTimeout: 2 * time.Second, proxyBody: 1 << 20, proxyResponse: 4 << 20})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	release := make(chan struct{})
	defer close(release)
	bad := newUpstream(t)
	bad.set(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/huge":
			chunk := bytes.Repeat([]byte("z"), 64<<10)
			for range 256 { // 16 MiB against a 4 MiB limit
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/reset":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case "/echo":
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
		}
	})
	good := newUpstream(t)
	good.set(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mk := func(name, url string) string {
		b := ccBody(p, name, "svc-secret-9f8e7d")
		b["url"] = url
		return h.create(b).ID
	}
	badID, goodID := mk("bad", bad.URL), mk("good", good.URL)

	// Eight hanging calls in flight; the healthy datasource still answers.
	var wg sync.WaitGroup
	hung := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := h.do("GET", "/api/v1/datasources/"+badID+"/proxy/hang", nil)
			hung <- code
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) { // polling, with a hang guard
		bad.mu.Lock()
		n := bad.calls
		bad.mu.Unlock()
		if n >= 8 || time.Now().After(deadline) {
			break
		}
	}
	var worst time.Duration
	for range 20 {
		start := time.Now()
		code, b, _ := h.do("GET", "/api/v1/datasources/"+goodID+"/proxy/x", nil)
		worst = max(worst, time.Since(start))
		if code != 200 || string(b) != "ok" {
			t.Fatalf("healthy datasource while another hangs: %d %q", code, b)
		}
	}
	wg.Wait()
	close(hung)
	for code := range hung {
		if code != 504 {
			t.Errorf("hanging upstream answered %d, want 504", code)
		}
	}
	t.Logf("misbehaving upstreams: 20 calls to a healthy datasource while 8 calls hang on another: slowest %v; the hanging ones got 504 after the 2s idle timeout", worst.Round(time.Microsecond))

	// A response over the limit is cut: the client does not get 16 MiB.
	resp := h.raw("GET", "/api/v1/datasources/"+badID+"/proxy/huge", nil)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil || n > 4<<20+64<<10 {
		t.Errorf("huge answer: read %d bytes, err %v; want it cut near 4 MiB with an error", n, err)
	}
	// A request body over the limit never reaches the upstream whole:
	// announced, it is refused with 413 before it is read (a client still
	// sending may see the connection closed instead); streamed, it is cut.
	for _, body := range []io.Reader{bytes.NewReader(bytes.Repeat([]byte("a"), 2<<20)),
		io.MultiReader(strings.NewReader(""), bytes.NewReader(bytes.Repeat([]byte("a"), 3<<20)))} {
		req, _ := http.NewRequest("POST", h.URL+"/api/v1/datasources/"+badID+"/proxy/echo", body)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // closed while sending: refused
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("a body over the 1 MiB limit went through: the upstream read %s bytes", got)
		}
	}
	// A reset is a 502 problem, and the next call works.
	code, b, _ := h.do("GET", "/api/v1/datasources/"+badID+"/proxy/reset", nil)
	if code != 502 || !strings.Contains(string(b), "upstream") {
		t.Errorf("reset: %d %s", code, b)
	}
	if code, _, _ := h.do("GET", "/api/v1/datasources/"+goodID+"/proxy/x", nil); code != 200 {
		t.Errorf("after the reset: %d", code)
	}
}

// raw sends a request with the admin token and returns the response
// unread (for streaming checks); a body of unknown length is sent chunked.
func (h *harness) raw(method, path string, body io.Reader) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}
