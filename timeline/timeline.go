// Package timeline keeps, in memory, the recent history of each
// datasource or connection that people look at on its page: the tokens
// obtained (when, until when), refreshes and failures, and the rate,
// errors and latency of proxied calls per minute for the last hour.
//
// It is grantd's own record, kept by the process that saw it (a replica
// sees the calls it proxied and the token records it stored or read), and
// it starts empty after a restart: the store and the event log hold what
// must last. It is bounded: at most MaxKeys keys each, the least recently
// touched forgotten first, so that a million connections refreshing in
// the background cost a bounded amount of memory.
package timeline

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/datasource"
)

// Bounds of the recorder.
const (
	// MaxKeys bounds the keys kept, separately for token history and for
	// call series.
	MaxKeys = 4096
	// TokenEvents is how many token events are kept per key.
	TokenEvents = 32
	// Window is how far back calls are kept, a minute a bucket.
	Window = time.Hour
)

// Token event kinds.
const (
	Obtained  = "obtained"  // a first token (or after a time without one)
	Refreshed = "refreshed" // a new token replacing a held one
	Failed    = "failed"    // a token request failed
	Dropped   = "dropped"   // the tokens went (revoked, erased, refused for good)
)

// TokenEvent is one thing that happened to a key's token.
type TokenEvent struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// ExpiresAt is the new token's expiry (obtained, refreshed).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Detail is the failure's reason (failed), never a secret.
	Detail string `json:"detail,omitempty"`
}

// Minute is one minute of proxied calls.
type Minute struct {
	Start  time.Time `json:"start"`
	Calls  int       `json:"calls"`
	Errors int       `json:"errors"` // answered 5xx, or failed in grantd
	// P50Ms and P99Ms are upper bounds from a histogram with buckets a
	// factor of 2 apart (0.125 ms … 8 s), in milliseconds; 0 without calls.
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
}

// Snapshot is a key's timeline.
type Snapshot struct {
	Tokens  []TokenEvent `json:"tokens"`
	Minutes []Minute     `json:"minutes"` // oldest first; minutes without calls included
}

// Recorder records timelines. The zero value is not usable; use New.
// Safe for concurrent use.
type Recorder struct {
	now func() time.Time

	tokens bounded[*tokenRing]
	calls  bounded[*callSeries]
}

// New returns a Recorder; now is its clock (time.Now when nil).
func New(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	r := &Recorder{now: now}
	r.tokens.newV = func() *tokenRing { return &tokenRing{} }
	r.calls.newV = func() *callSeries { return &callSeries{} }
	return r
}

// Token records a token event for k.
func (r *Recorder) Token(k datasource.Key, ev TokenEvent) {
	if r == nil {
		return
	}
	ring := r.tokens.get(k, r.now())
	ring.mu.Lock()
	ring.events = append(ring.events, ev)
	if len(ring.events) > TokenEvents {
		ring.events = slices.Delete(ring.events, 0, len(ring.events)-TokenEvents)
	}
	ring.mu.Unlock()
}

// Call records one proxied call for k: when it started, how long it
// took, and whether it failed.
func (r *Recorder) Call(k datasource.Key, at time.Time, took time.Duration, failed bool) {
	if r == nil {
		return
	}
	s := r.calls.get(k, at)
	minute := at.Unix() / 60
	b := &s.buckets[minute%buckets]
	if b.minute.Load() != minute {
		s.mu.Lock()
		if b.minute.Load() != minute { // a new minute takes the slot over
			b.calls.Store(0)
			b.errors.Store(0)
			for i := range b.hist {
				b.hist[i].Store(0)
			}
			b.minute.Store(minute)
		}
		s.mu.Unlock()
	}
	b.calls.Add(1)
	if failed {
		b.errors.Add(1)
	}
	b.hist[histBucket(took)].Add(1)
}

// Snapshot returns k's timeline: its token events, and its calls per
// minute for the last hour.
func (r *Recorder) Snapshot(k datasource.Key) Snapshot {
	out := Snapshot{Tokens: []TokenEvent{}, Minutes: make([]Minute, 0, buckets)}
	now := r.now()
	if ring, ok := r.tokens.peek(k); ok {
		ring.mu.Lock()
		out.Tokens = append(out.Tokens, ring.events...)
		ring.mu.Unlock()
	}
	s, _ := r.calls.peek(k)
	last := now.Unix() / 60
	for m := last - buckets + 1; m <= last; m++ {
		min := Minute{Start: time.Unix(m*60, 0).UTC()}
		if s != nil {
			s.mu.Lock()
			b := &s.buckets[m%buckets]
			if b.minute.Load() == m {
				min.Calls, min.Errors = int(b.calls.Load()), int(b.errors.Load())
				var hist [histBuckets]int64
				for i := range hist {
					hist[i] = b.hist[i].Load()
				}
				min.P50Ms, min.P99Ms = quantileMs(hist, 0.5), quantileMs(hist, 0.99)
			}
			s.mu.Unlock()
		}
		out.Minutes = append(out.Minutes, min)
	}
	return out
}

// Forget drops what is kept of k (a deleted datasource or connection).
func (r *Recorder) Forget(k datasource.Key) {
	r.tokens.forget(k)
	r.calls.forget(k)
}

type tokenRing struct {
	mu     sync.Mutex
	events []TokenEvent
}

const (
	buckets     = int64(Window / time.Minute)
	histBuckets = 17 // ≤0.125 ms, ≤0.25 ms, … ≤8 s, more
)

type callSeries struct {
	mu      sync.Mutex // taken to start a minute, and to read one
	buckets [buckets]minuteBucket
}

type minuteBucket struct {
	minute atomic.Int64 // Unix minute the counters are of
	calls  atomic.Int64
	errors atomic.Int64
	hist   [histBuckets]atomic.Int64
}

// histBucket is the bucket of a duration: bucket i holds durations up to
// 0.125 ms × 2^i; the last holds the rest.
func histBucket(d time.Duration) int {
	us := d.Microseconds()
	if us <= 125 {
		return 0
	}
	i := int(math.Ceil(math.Log2(float64(us) / 125)))
	return min(i, histBuckets-1)
}

// quantileMs is the upper bound, in milliseconds, of the bucket holding
// the q-quantile.
func quantileMs(hist [histBuckets]int64, q float64) float64 {
	var total int64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range hist {
		seen += n
		if seen >= rank {
			return 0.125 * math.Pow(2, float64(i))
		}
	}
	return 0.125 * math.Pow(2, histBuckets-1)
}

// bounded is a map of at most MaxKeys values, the least recently touched
// forgotten first. Touch times are coarse (a second) so that a hot key's
// calls do not write to shared memory more than once a second.
type bounded[V any] struct {
	m    sync.Map // datasource.Key → *slot[V]
	n    atomic.Int64
	newV func() V
	mu   sync.Mutex // serialises eviction
}

type slot[V any] struct {
	v       V
	touched atomic.Int64 // Unix seconds
}

func (b *bounded[V]) get(k datasource.Key, now time.Time) V {
	sec := now.Unix()
	if v, ok := b.m.Load(k); ok {
		s := v.(*slot[V])
		if s.touched.Load() != sec {
			s.touched.Store(sec)
		}
		return s.v
	}
	s := &slot[V]{v: b.newV()}
	s.touched.Store(sec)
	v, loaded := b.m.LoadOrStore(k, s)
	if !loaded && b.n.Add(1) > MaxKeys {
		b.evict()
	}
	return v.(*slot[V]).v
}

func (b *bounded[V]) forget(k datasource.Key) {
	if _, ok := b.m.LoadAndDelete(k); ok {
		b.n.Add(-1)
	}
}

func (b *bounded[V]) peek(k datasource.Key) (V, bool) {
	if v, ok := b.m.Load(k); ok {
		return v.(*slot[V]).v, true
	}
	var zero V
	return zero, false
}

// evict forgets the least recently touched tenth of the keys.
func (b *bounded[V]) evict() {
	if !b.mu.TryLock() {
		return // another caller is evicting
	}
	defer b.mu.Unlock()
	type kt struct {
		k datasource.Key
		t int64
	}
	var all []kt
	b.m.Range(func(k, v any) bool {
		all = append(all, kt{k.(datasource.Key), v.(*slot[V]).touched.Load()})
		return true
	})
	if len(all) <= MaxKeys {
		return
	}
	slices.SortFunc(all, func(a, c kt) int { return int(a.t - c.t) })
	for _, x := range all[:len(all)-MaxKeys*9/10] {
		b.forget(x.k)
	}
}
