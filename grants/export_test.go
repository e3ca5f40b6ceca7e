package grants

import (
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
