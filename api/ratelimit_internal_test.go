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

	for i := range 10 {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	ok, wait := l.take("a")
	if ok || wait != 6*time.Second {
		t.Fatalf("11th attempt: %v, wait %s", ok, wait)
	}
	clock.advance(4 * time.Second)
	if ok, wait := l.take("a"); ok || wait != 2*time.Second {
		t.Fatalf("4 s later: %v, wait %s", ok, wait)
	}
	clock.advance(2 * time.Second)
	if ok, _ := l.take("a"); !ok {
		t.Fatal("one attempt should be back after 6 s")
	}
	if ok, _ := l.take("a"); ok {
		t.Fatal("only one attempt should be back after 6 s")
	}

	// A right credential gives its attempt back.
	for range 100 {
		if ok, _ := l.take("b"); !ok {
			t.Fatal("right credentials wore the budget down")
		}
		l.giveBack("b")
	}

	// Memory stays bounded under very many addresses.
	for i := range 1000 {
		l.take("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
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
