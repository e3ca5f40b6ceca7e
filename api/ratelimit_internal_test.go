package api

import (
	"strconv"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newFailureLimiter(clock.now)
	l.max = 100

	// attempt is what a request does: admitted, then its credential wrong.
	attempt := func(key string) (bool, time.Duration) {
		ok, wait := l.admit(key)
		if ok {
			l.fail(key)
		}
		return ok, wait
	}
	for i := range 10 {
		if ok, _ := attempt("a"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	ok, wait := attempt("a")
	if ok || wait != 6*time.Second {
		t.Fatalf("11th attempt: %v, wait %s", ok, wait)
	}
	clock.advance(4 * time.Second)
	if ok, wait := attempt("a"); ok || wait != 2*time.Second {
		t.Fatalf("4 s later: %v, wait %s", ok, wait)
	}
	clock.advance(2 * time.Second)
	if ok, _ := attempt("a"); !ok {
		t.Fatal("one attempt should be back after 6 s")
	}
	if ok, _ := attempt("a"); ok {
		t.Fatal("only one attempt should be back after 6 s")
	}

	// Right credentials spend nothing, however many are in flight at
	// once: 64 admitted before any is done are all admitted.
	for range 64 {
		if ok, _ := l.admit("b"); !ok {
			t.Fatal("right credentials in flight at once were refused")
		}
	}
	// Wrong ones checked at once go below zero, and wait that much.
	for range 15 {
		l.fail("c")
	}
	if _, wait := l.admit("c"); wait != 6*6*time.Second { // balance 10-15 = -5: six attempts owed
		t.Fatalf("after 15 failures at once: wait %v", wait)
	}

	// Memory stays bounded under very many addresses.
	for i := range 1000 {
		l.fail("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
		if len(l.buckets) > l.max {
			t.Fatalf("%d buckets, max %d", len(l.buckets), l.max)
		}
	}

	// IPv6 addresses count by /64; IPv4-mapped ones as IPv4.
	for _, c := range []struct{ in, want string }{
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::2", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"192.0.2.7", "192.0.2.7"},
	} {
		if got := addressKey(c.in); got != c.want {
			t.Errorf("addressKey(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
