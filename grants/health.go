package grants

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/outbound"
)

// HealthChange describes a health check whose outcome differs from the
// previous one: a connection (or shared datasource) failing its check, or
// working again.
type HealthChange struct {
	ID, Name  string
	EndUserID string
	Health    datasource.Health
}

// Check runs the health check of k now — the datasource's healthCheck
// request through the same path as proxied calls (token placed, one
// refresh and retry after a 401) — stores the outcome on k's token record
// and returns it. A datasource without a healthCheck is checked by getting
// a usable token. A check that fails is an outcome, not an error.
//
// Errors: datasource.ErrNotFound, ErrEndUserRequired, a store failure.
func (e *Engine) Check(ctx context.Context, k datasource.Key) (*datasource.Health, error) {
	t, err := e.Resolve(ctx, k)
	if err != nil {
		return nil, err
	}
	h := e.probe(ctx, t)
	if err := e.recordHealth(ctx, t.key, t.ds, h); err != nil {
		return nil, err
	}
	return h, nil
}

// probe runs t's health check and says how it went.
func (e *Engine) probe(ctx context.Context, t Target) *datasource.Health {
	h := &datasource.Health{CheckedAt: e.clock.Now().UTC()}
	hc := t.ds.HealthCheck
	if hc == nil && t.ds.Auth.Kind().Static() {
		if _, err := e.staticAuthorizer(ctx, t.key, false, nil); err != nil {
			h.Detail = healthDetail(err)
			return h
		}
		h.OK, h.Detail = true, "a credential is held (no healthCheck configured)"
		return h
	}
	if hc == nil {
		if _, err := e.Token(ctx, t.key); err != nil {
			h.Detail = healthDetail(err)
			return h
		}
		h.OK, h.Detail = true, "a usable token is held (no healthCheck configured)"
		return h
	}
	client, err := e.probes.Get(t.ds.Auth.TLSCACert)
	if err != nil {
		h.Detail = "the datasource's CA certificate does not load"
		return h
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	base, err := t.URL(ctx)
	if err != nil {
		h.Detail = healthDetail(err)
		return h
	}
	req, err := http.NewRequestWithContext(ctx, hc.Method, strings.TrimRight(base, "/")+hc.Path, nil)
	if err != nil {
		h.Detail = "the health check's URL does not parse"
		return h
	}
	var resp *http.Response
	err = t.Send(ctx, httpRequest{req}, true, func() (int, error) {
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		var err error
		resp, err = client.Do(req)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	})
	if resp != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	switch {
	case err != nil:
		h.Detail = healthDetail(err)
	case !hc.Expects(resp.StatusCode):
		h.Status = resp.StatusCode
		h.Detail = hc.Method + " " + hc.Path + " answered HTTP " + http.StatusText(resp.StatusCode)
	default:
		h.Status, h.OK = resp.StatusCode, true
	}
	return h
}

// healthDetail says why a check could not be made, without internals.
func healthDetail(err error) string {
	var na *NotAuthorizedError
	var te *TokenError
	var ce *CredentialError
	switch {
	case errors.As(err, &ce):
		return "no credential: " + ce.Reason
	case errors.Is(err, ErrBodyNotSignable):
		return "the request could not be signed"
	case errors.As(err, &na):
		return "no usable token: " + na.Reason
	case errors.As(err, &te):
		return "no token: " + te.Reason
	case errors.Is(err, outbound.ErrForbiddenAddress):
		return "the upstream resolves to a private or loopback address, which is not allowed"
	case errors.Is(err, context.DeadlineExceeded):
		return "the upstream did not answer in time"
	}
	return "the upstream could not be reached"
}

// recordHealth stores h on k's token record (a status-only write: the
// generation stays), fires HealthChange when the outcome flipped, and
// plans the next check.
func (e *Engine) recordHealth(ctx context.Context, k datasource.Key, d *datasource.Datasource, h *datasource.Health) error {
	var prev *datasource.Health
	err := e.exclusive(ctx, k, func(en *entry, cur *datasource.TokenRecord) error {
		if cur == nil {
			return nil // nothing authorized to attach it to; the answer carries it
		}
		prev = cur.Health
		nr := *cur
		nr.Health = h
		if err := e.save(ctx, k, &nr, cur.Generation); err != nil {
			return err
		}
		e.install(en, nil, &nr)
		return nil
	})
	if err != nil {
		return err
	}
	if (prev == nil && !h.OK) || (prev != nil && prev.OK != h.OK) {
		e.log.Info("health changed", "datasource", k.Datasource, "endUser", k.EndUser, "ok", h.OK, "detail", h.Detail)
		if hook := e.opts.Hooks.HealthChange; hook != nil {
			hook(HealthChange{ID: k.Datasource, Name: d.Name, EndUserID: k.EndUser, Health: *h})
		}
	}
	e.planHealth(k, d.HealthCheck, h)
	return nil
}

// planHealth plans k's next health check: an interval after the last one,
// or soon (jittered over a tenth of the interval) when it never ran.
func (e *Engine) planHealth(k datasource.Key, hc *datasource.HealthCheck, last *datasource.Health) {
	if hc == nil {
		e.health.unschedule(k)
		return
	}
	iv := hc.Interval()
	at := e.clock.Now().Add(rand.N(iv/10 + 1))
	if last != nil {
		at = last.CheckedAt.Add(iv)
	}
	e.health.schedule(k, at, 0)
}

// healthDue is the health scheduler's work: one check.
func (e *Engine) healthDue(ctx context.Context, it item) {
	if _, err := e.Check(ctx, it.key); err != nil && ctx.Err() == nil && !errors.Is(err, datasource.ErrNotFound) {
		e.log.Warn("health check failed to run", "datasource", it.key.Datasource, "endUser", it.key.EndUser, "err", err)
		e.health.schedule(it.key, e.clock.Now().Add(e.backoff(3, 0)), 0)
	}
}

// checkSoon runs k's health check in the background right after an
// authorization, when its datasource has one.
func (e *Engine) checkSoon(k datasource.Key, d *datasource.Datasource) {
	if d.HealthCheck == nil || e.ctx.Err() != nil {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if _, err := e.Check(e.ctx, k); err != nil && e.ctx.Err() == nil {
			e.log.Warn("health check after authorization failed to run", "datasource", k.Datasource, "endUser", k.EndUser, "err", err)
		}
	}()
}
