package api_test

import (
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/grants/grantstest"
)

// idleClosingUpstream is an upstream that closes kept-alive connections
// after a short idle time, as Node (5 s by default), nginx and load
// balancers do. closed receives one value per connection it closed;
// conns counts connections it accepted.
type idleClosingUpstream struct {
	*httptest.Server
	closed chan struct{}
	mu     sync.Mutex
	conns  int
	reqs   int
}

func newIdleClosingUpstream(t *testing.T, tlsOn bool) *idleClosingUpstream {
	u := &idleClosingUpstream{closed: make(chan struct{}, 16)}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.reqs++
		u.mu.Unlock()
		fmt.Fprint(w, "ok "+r.Method)
	}))
	u.Config.IdleTimeout = 30 * time.Millisecond
	u.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			u.mu.Lock()
			u.conns++
			u.mu.Unlock()
		case http.StateClosed:
			u.closed <- struct{}{}
		}
	}
	if tlsOn {
		u.StartTLS()
	} else {
		u.Start()
	}
	t.Cleanup(u.Close)
	return u
}

func (u *idleClosingUpstream) counts() (conns, reqs int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conns, u.reqs
}

// A kept-alive connection the upstream closed while idle is not a 502: the
// request goes again, once, on a new connection — when it is safe to.
func TestProxyRetriesAConnectionClosedWhileIdle(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tlsOn], func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			p := newProvider(t, h, grantstest.ProviderOptions{})
			up := newIdleClosingUpstream(t, tlsOn)
			body := ccBody(p, "node", "svc-secret-9f8e7d")
			body["url"] = up.URL
			if tlsOn {
				body["auth"].(map[string]any)["tlsCACert"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}))
			}
			d := h.create(body)
			path := "/api/v1/datasources/" + d.ID + "/proxy/x"
			call := func(method string, hdr ...string) (int, string) {
				code, b, _ := h.do(method, path, "payload", hdr...)
				return code, string(b)
			}
			idle := func() { // the upstream closes the pooled connection
				t.Helper()
				select {
				case <-up.closed:
				case <-time.After(10 * time.Second):
					t.Fatal("the upstream never closed the idle connection")
				}
			}

			for _, method := range []string{"GET", "PUT", "DELETE"} {
				if code, b := call(method); code != 200 {
					t.Fatalf("%s on a new connection: %d %s", method, code, b)
				}
				idle()
				connsBefore, reqsBefore := up.counts()
				if code, b := call(method); code != 200 || b != "ok "+method {
					t.Fatalf("%s after the upstream closed the idle connection: %d %s", method, code, b)
				}
				conns, reqs := up.counts()
				if conns != connsBefore+1 || reqs != reqsBefore+1 {
					t.Fatalf("%s: %d new connections, %d requests; want 1 and 1", method, conns-connsBefore, reqs-reqsBefore)
				}
				idle()
			}

			// POST may have been acted on: retried only with an
			// Idempotency-Key.
			if code, b := call("POST", "Idempotency-Key", "k-1"); code != 200 {
				t.Fatalf("POST: %d %s", code, b)
			}
			idle()
			if code, b := call("POST", "Idempotency-Key", "k-2"); code != 200 {
				t.Fatalf("POST with Idempotency-Key on a closed connection: %d %s", code, b)
			}
			idle() // the retry's own connection is not kept
			if code, b := call("GET"); code != 200 {
				t.Fatalf("GET: %d %s", code, b)
			}
			idle()
			_, reqsBefore := up.counts()
			code, b := call("POST")
			if code != 502 {
				t.Fatalf("POST without Idempotency-Key on a closed connection: %d %s, want 502", code, b)
			}
			if _, reqs := up.counts(); reqs != reqsBefore {
				t.Fatalf("POST was resent")
			}
			if !strings.Contains(h.logs.String(), "upstream call failed") {
				t.Error("the 502's cause is not logged")
			}
		})
	}
}

// An upstream that fails on a new connection gets one attempt: no silent
// retries.
func TestProxyDoesNotRetryANewConnection(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			buf := make([]byte, 4096)
			c.Read(buf) // read the request, then hang up without a word
			c.Close()
		}
	}()
	body := ccBody(p, "rude", "svc-secret-9f8e7d")
	body["url"] = "http://" + ln.Addr().String()
	d := h.create(body)
	code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/x", nil)
	if code != 502 {
		t.Fatalf("%d %s", code, b)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 1 {
		t.Fatalf("%d connections, want 1 attempt", accepted)
	}
	if !strings.Contains(h.logs.String(), "closed connection before returning the first response byte") {
		t.Errorf("the cause is not logged:\n%s", h.logs.String())
	}
}
