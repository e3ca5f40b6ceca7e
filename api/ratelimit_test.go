package api_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// from returns a client whose connections come from the loopback address
// ip (all of 127.0.0.0/8 is local on Linux), as another client host.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// TestAdminTokenGuessesAreRateLimited: an address that keeps presenting
// wrong admin tokens — as Bearer on any route or to POST /api/v1/session —
// is answered 429 with Retry-After once it has used its budget, whatever
// it presents next; other addresses and right tokens are not slowed; and
// after the window the address may try again.
func TestAdminTokenGuessesAreRateLimited(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	attacker, admin, busy := from("127.0.0.2"), from("127.0.0.3"), from("127.0.0.4")
	guess := func(c *http.Client, i int) (int, []byte, http.Header) {
		if i%2 == 0 {
			return h.doWith(c, "GET", "/api/v1/datasources", nil, "Authorization", "Bearer guess-"+strconv.Itoa(i))
		}
		return h.doWith(c, "POST", "/api/v1/session", map[string]string{"token": "guess-" + strconv.Itoa(i)})
	}
	const budget = 10
	for i := range budget {
		if code, b, _ := guess(attacker, i); code != 401 {
			t.Fatalf("guess %d: %d %s", i+1, code, b)
		}
	}
	for i := budget; i < budget+3; i++ {
		code, b, hdr := guess(attacker, i)
		if code != 429 || decode[problem](t, b).Type != "https://grantd.dev/problems/too-many-attempts" {
			t.Fatalf("guess %d: %d %s", i+1, code, b)
		}
		if s, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("guess %d: Retry-After %q", i+1, hdr.Get("Retry-After"))
		}
	}
	// A blocked address learns nothing: the right token gets 429 too.
	if code, _, _ := h.doWith(attacker, "GET", "/api/v1/datasources", nil, "Authorization", "Bearer "+adminToken); code != 429 {
		t.Fatalf("the right token from the blocked address: %d", code)
	}
	// Another address is not slowed.
	if code, b, _ := h.doWith(admin, "GET", "/api/v1/datasources", nil, "Authorization", "Bearer "+adminToken); code != 200 {
		t.Fatalf("the right token from another address: %d %s", code, b)
	}
	// Right tokens use no budget.
	for i := range 50 {
		if code, _, _ := h.doWith(busy, "GET", "/api/v1/datasources", nil, "Authorization", "Bearer "+adminToken); code != 200 {
			t.Fatalf("right token %d: %d", i+1, code)
		}
	}
	for i := range budget {
		if code, _, _ := guess(busy, i); code != 401 {
			t.Fatalf("a busy address's guess %d: %d", i+1, code)
		}
	}
	if code, _, _ := guess(busy, budget); code != 429 {
		t.Fatalf("a busy address past its budget: %d", code)
	}
	// Requests without credentials are not guesses.
	if code, _, _ := h.doWith(admin, "GET", "/api/v1/datasources", nil); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	// After the window, the address may try again.
	h.clock.Advance(time.Minute)
	if code, b, _ := guess(attacker, 0); code != 401 {
		t.Fatalf("a guess after the window: %d %s", code, b)
	}
	if code, b, _ := h.doWith(attacker, "GET", "/api/v1/datasources", nil, "Authorization", "Bearer "+adminToken); code != 200 {
		t.Fatalf("the right token after the window: %d %s", code, b)
	}
}

// TestRightCredentialsInFlightAtOnceAreNotLimited: an address with many
// requests in flight at once, all with the right credential, is never
// answered 429. (The limiter used to spend an attempt on admission and give
// it back on success, so the eleventh request in flight was refused.)
func TestRightCredentialsInFlightAtOnceAreNotLimited(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c := from("127.0.0.5")
	const n = 64
	codes := make(chan int, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			code, _, _ := h.doWith(c, "GET", "/api/v1/datasources", nil, "Authorization", "Bearer "+adminToken)
			codes <- code
		}()
	}
	close(start)
	for range n {
		if code := <-codes; code != 200 {
			t.Fatalf("a request with the right token: %d", code)
		}
	}
}
