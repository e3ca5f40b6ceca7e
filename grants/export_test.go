package grants

import (
	"context"
	"time"

	"github.com/grantd/grantd/datasource"
)

// Internals exposed to the external tests.

func (e *Engine) Plan(sc datasource.Schedule, now time.Time) (time.Time, bool) {
	return e.plan(sc, now)
}
func (e *Engine) Backoff(failures int, retryAfter time.Duration) time.Duration {
	return e.backoff(failures, retryAfter)
}
func (e *Engine) Planned(id string) (time.Time, bool) {
	return e.sched.planned(datasource.SharedKey(id))
}
func (e *Engine) PlannedCount() int { return e.sched.len() }
func (e *Engine) CachedEntries() int {
	n := 0
	e.entries.Range(func(any, any) bool { n++; return true })
	return n
}
func JWTExpiry(tok string) (time.Time, bool)            { return jwtExpiry(tok) }
func MetadataURLs(tokenURL string) []string             { return metadataURLs(tokenURL) }
func SetQueryParam(rawQuery, name, value string) string { return setQueryParam(rawQuery, name, value) }

// Waiting returns how many callers wait on k's token request in flight.
func (e *Engine) Waiting(k datasource.Key) int {
	v, ok := e.entries.Load(k)
	if !ok {
		return 0
	}
	en := v.(*entry)
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.flight == nil {
		return 0
	}
	return int(en.flight.waiters.Load())
}

// Refresher is the background scheduler alone, for its own tests.
type Refresher struct{ r *refresher }

// NewRefresher returns a scheduler on c with one worker that runs do for
// each due key. Plans given before Start are worked on in its first turn.
func NewRefresher(c Clock, do func(k datasource.Key)) *Refresher {
	return &Refresher{newRefresher(&Engine{clock: c}, func(_ context.Context, it item) { do(it.key) })}
}
func (r *Refresher) Start(ctx context.Context)               { r.r.start(ctx, 1) }
func (r *Refresher) Wait()                                   { r.r.wait() }
func (r *Refresher) Schedule(k datasource.Key, at time.Time) { r.r.schedule(k, at, 0) }
func (r *Refresher) Later(k datasource.Key, at time.Time)    { r.r.later(k, at, 0) }

// Poke wakes the loop, as a plan that becomes the earliest does: after a
// test moved the clock, the loop's timer may have been set from the time
// before.
func (r *Refresher) Poke() { r.r.poke() }
