package grants

import (
	"math/rand/v2"
	"time"

	"github.com/grantd/grantd/datasource"
)

// backoff returns the wait before attempt failures+1: exponential from 2s
// up to MaxBackoff, with jitter so that datasources failing together do
// not retry together, and never less than the provider's Retry-After.
func (e *Engine) backoff(failures int, retryAfter time.Duration) time.Duration {
	d := 2 * time.Second << min(failures-1, 16)
	d = min(d, e.opts.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	if retryAfter > 0 && d < retryAfter {
		d = retryAfter + rand.N(retryAfter/10+time.Second)
	}
	return d
}

// replan plans the next background work on id from its record's
// schedule view.
func (e *Engine) replan(k datasource.Key, sc datasource.Schedule) {
	if at, ok := e.plan(sc, e.clock.Now()); ok {
		e.sched.schedule(k, at, sc.Generation)
	} else {
		e.sched.unschedule(k)
	}
}

// plan returns when the refresher should next work on a datasource, and
// false when it should not: refresh ahead of expiry by a fifth of the
// token's lifetime (at most 5 minutes, at least a little) minus jitter;
// retry at RetryAt after failures; get a first token for grants that need
// no person; keep idle refresh tokens alive; for a token that can no
// longer be refreshed, look at it when it expires so the status turns.
func (e *Engine) plan(sc datasource.Schedule, now time.Time) (time.Time, bool) {
	if sc.PermanentFailure || onDemandGrant(sc.GrantType) || sc.AuthType.Static() {
		return time.Time{}, false
	}
	if sc.Failures > 0 && !sc.RetryAt.IsZero() {
		return sc.RetryAt, true
	}
	interactive := true
	if g, err := Lookup(sc.GrantType); err == nil {
		_, interactive = g.(Interactive)
	}
	if !sc.HasToken {
		if !interactive || sc.HasRefreshToken {
			return now, true
		}
		return time.Time{}, false
	}
	if interactive && !sc.HasRefreshToken {
		return sc.Expiry, true
	}
	start := sc.LastRefreshedAt
	if start.IsZero() || start.After(sc.Expiry) {
		start = now
	}
	lifetime := max(sc.Expiry.Sub(start), 0)
	lead := min(lifetime/5, 5*time.Minute)
	lead = max(lead, min(10*time.Second, lifetime/2))
	at := sc.Expiry.Add(-lead - rand.N(lead/2+1))
	if !sc.LastRefreshedAt.IsZero() {
		// A token that lives a few seconds, or was born expired, is not
		// refreshed in a tight loop: callers that need one meanwhile ask.
		at = maxTime(at, sc.LastRefreshedAt.Add(minRefreshInterval))
	}
	if sc.HasRefreshToken && e.opts.KeepAlive > 0 {
		if ka := sc.LastRefreshedAt.Add(e.opts.KeepAlive); !sc.LastRefreshedAt.IsZero() && ka.Before(at) {
			at = ka
		}
	}
	return at, true
}

// scheduleOf is the schedule view of rec under grant type g.
func scheduleOf(g datasource.GrantType, rec *datasource.TokenRecord) datasource.Schedule {
	sc := rec.Schedule()
	sc.GrantType = g
	return sc
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
