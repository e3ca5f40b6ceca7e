package api

import (
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// failureLimiter rate-limits failed credential checks per client address
// with a token bucket: an address may fail burst times in a row, and wins
// back one attempt every per. An address with no attempt left is refused
// before its credential is even looked at, so a blocked guesser cannot
// tell a right guess from a wrong one; an attempt that succeeds is given
// back, so right credentials never wear the budget down.
//
// Memory is bounded: at most max addresses are tracked. A full bucket
// carries no information and is dropped when room is needed; if all are
// partly spent, an arbitrary one is dropped (that address gets its budget
// back early — the price of a bound under an attack from very many
// addresses). IPv6 addresses count by their /64, which one host usually
// holds whole.
//
// Time comes from now, so tests advance a clock instead of sleeping. Safe
// for concurrent use.
type failureLimiter struct {
	now   func() time.Time
	burst float64
	per   time.Duration // one attempt comes back every per
	max   int

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was right
}

func newFailureLimiter(now func() time.Time) *failureLimiter {
	return &failureLimiter{now: now, burst: 10, per: 6 * time.Second, max: 10000, buckets: map[string]*bucket{}}
}

// addressKey is the key of a client address: the address, or its /64 for
// IPv6.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// refill brings b up to now. l.mu must be held.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if now.After(b.at) {
		b.tokens = math.Min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.per))
	}
	b.at = now
}

// admit reports whether address key may present a credential now, and
// when not, how long until it may. It spends nothing: only a wrong
// credential does (fail). Spending on admission and giving back on
// success, as it once did, refused right credentials of an address that
// had more than burst requests in flight at once (64 concurrent MCP
// calls with a good API key got 429).
func (l *failureLimiter) admit(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true, 0
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.per))
	}
	return true, 0
}

// fail spends an attempt of address key: its credential was wrong.
// Wrong credentials checked at once may take the balance below zero; the
// address then waits that much longer.
func (l *failureLimiter) fail(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		l.makeRoom(now)
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens = math.Max(b.tokens-1, -l.burst)
}

// makeRoom keeps the map under max. l.mu must be held.
func (l *failureLimiter) makeRoom(now time.Time) {
	if len(l.buckets) < l.max {
		return
	}
	for k, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max {
			break
		}
		delete(l.buckets, k)
	}
}

// tooManyAttempts answers 429 with Retry-After in whole seconds.
func tooManyAttempts(c *fiber.Ctx, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
	return probTooMany.with("too many failed attempts from this address; try again in " + strconv.Itoa(max(secs, 1)) + " s")
}
