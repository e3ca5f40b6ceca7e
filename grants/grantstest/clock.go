// Package grantstest has what tests of grantd need to run the engine for
// real: a controllable clock and an in-process OAuth 2.0 authorization
// server built on ory/fosite.
package grantstest

import (
	"sync"
	"time"

	"github.com/grantd/grantd/grants"
)

// Clock is a grants.Clock that moves only when told to. Timers fire when
// Advance or Set passes their deadline. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex // guards now and timers
	now    time.Time
	timers map[*Timer]struct{}
}

var _ grants.Clock = (*Clock)(nil)

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t, timers: map[*Timer]struct{}{}} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and fires due timers.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t (never backwards) and fires due timers.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	now := c.now
	var due []*Timer
	for tm := range c.timers {
		if !tm.deadline.After(now) {
			due = append(due, tm)
			delete(c.timers, tm)
		}
	}
	c.mu.Unlock()
	for _, tm := range due {
		tm.fire(now)
	}
}

// NewTimer implements grants.Clock.
func (c *Clock) NewTimer(d time.Duration) grants.Timer {
	t := &Timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Timer is a timer of a Clock.
type Timer struct {
	c        *Clock
	ch       chan time.Time
	deadline time.Time // guarded by c.mu
}

// C implements grants.Timer.
func (t *Timer) C() <-chan time.Time { return t.ch }

// Stop implements grants.Timer.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	_, active := t.c.timers[t]
	delete(t.c.timers, t)
	t.c.mu.Unlock()
	t.drain()
	return active
}

// Reset implements grants.Timer: a pending firing is discarded.
func (t *Timer) Reset(d time.Duration) {
	t.c.mu.Lock()
	delete(t.c.timers, t)
	t.drain()
	t.deadline = t.c.now.Add(d)
	now := t.c.now
	if d > 0 {
		t.c.timers[t] = struct{}{}
	}
	t.c.mu.Unlock()
	if d <= 0 {
		t.fire(now)
	}
}

func (t *Timer) fire(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

func (t *Timer) drain() {
	select {
	case <-t.ch:
	default:
	}
}
