package grants

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
)

// entry is the engine's in-memory state of one datasource: the cached
// token for the fast path, and, under mu, the decrypted record and the
// token request in flight.
//
// Entries exist for datasources in use ("hot") and, briefly, for those the
// background refresher is working on; a cold entry is dropped when its
// request ends, so 100,000 idle datasources cost no memory but their
// schedule.
type entry struct {
	id  string
	tok atomic.Pointer[AccessToken]           // current usable token, nil if none
	dsp atomic.Pointer[datasource.Datasource] // the datasource once loaded
	hot atomic.Bool                           // used by callers, keep after requests

	mu     sync.Mutex // guards the fields below
	dead   bool       // removed from the map; callers must take a new entry
	loaded bool
	ds     *datasource.Datasource
	rec    *datasource.TokenRecord // nil when none is stored
	flight *flight                 // the token request in progress, if any
}

// flight is one token request; everyone who needs its result waits on done.
type flight struct {
	done chan struct{}
	tok  *AccessToken
	err  error
}

// want says what a caller needs from obtain.
type want int

const (
	// wantUsable: any token that is still fresh (callers, the proxy).
	wantUsable want = iota
	// wantNewer: a fresh token of another generation than the one seen
	// (after an upstream 401 with the seen token).
	wantNewer
	// wantDue: the background refresher's turn; refresh unless another
	// generation than the one planned is stored already.
	wantDue
	// wantForced: always a new token request, even during backoff
	// (POST …/refresh).
	wantForced
	// wantFirst: like wantUsable, for the engine itself (Reconcile): it
	// does not mark the datasource as in use.
	wantFirst
)

// expirySkew is how long before expiry a token stops being handed out, so
// it does not expire on its way to the upstream: 10 s, or a quarter of the
// token's lifetime for tokens that live less than 40 s.
const expirySkew = 10 * time.Second

func fresh(t *AccessToken, now time.Time) bool {
	return t != nil && now.Add(t.skew).Before(t.Expiry)
}

// Token returns a fresh access token for datasource id, requesting or
// refreshing one when needed. Concurrent callers share one token request
// (single-flight). The cached path takes no lock and allocates nothing.
//
// Errors: datasource.ErrNotFound; ErrNotAuthorized (no usable grant: a
// person must authorize, or the provider rejected the client — see the
// status); *TokenError for a failed token request (Kind Transient: the
// provider is failing, or the datasource is in backoff).
func (e *Engine) Token(ctx context.Context, id string) (AccessToken, error) {
	if v, ok := e.entries.Load(id); ok {
		en := v.(*entry)
		if t := en.tok.Load(); t != nil && fresh(t, e.clock.Now()) {
			if !en.hot.Load() {
				en.hot.Store(true)
			}
			return *t, nil
		}
	}
	t, err := e.obtain(ctx, id, wantUsable, 0)
	if err != nil {
		return AccessToken{}, err
	}
	return *t, nil
}

// TokenAfter returns a token of another generation than seen: call it when
// the upstream refused a token of generation seen (HTTP 401). If somebody
// already replaced that token, the newer one is returned without a request.
func (e *Engine) TokenAfter(ctx context.Context, id string, seen uint64) (AccessToken, error) {
	t, err := e.obtain(ctx, id, wantNewer, seen)
	if err != nil {
		return AccessToken{}, err
	}
	return *t, nil
}

// Refresh makes a token request for datasource id now, whatever the
// cached token and the backoff say, and returns the resulting status.
// A failed request is reported in the status, not as error.
func (e *Engine) Refresh(ctx context.Context, id string) (datasource.Authorization, error) {
	_, err := e.obtain(ctx, id, wantForced, 0)
	if err != nil && errors.Is(err, datasource.ErrNotFound) {
		return datasource.Authorization{}, err
	}
	return e.Status(ctx, id)
}

func (e *Engine) entry(id string) *entry {
	if v, ok := e.entries.Load(id); ok {
		return v.(*entry)
	}
	v, _ := e.entries.LoadOrStore(id, &entry{id: id})
	return v.(*entry)
}

func (e *Engine) forgetEntry(id string) {
	if v, ok := e.entries.LoadAndDelete(id); ok {
		en := v.(*entry)
		en.mu.Lock()
		en.dead = true
		en.mu.Unlock()
	}
}

// satisfied reports whether the entry already holds what w asks for.
func satisfied(en *entry, w want, seen uint64, now time.Time) bool {
	t := en.tok.Load()
	switch w {
	case wantUsable, wantFirst:
		return fresh(t, now)
	case wantNewer:
		return fresh(t, now) && t.Generation != seen
	case wantDue:
		return en.rec != nil && en.rec.Generation != seen
	}
	return false
}

// obtain is the slow path of Token: it loads the entry, checks again under
// its lock, joins or starts the single token request, and waits for it.
func (e *Engine) obtain(ctx context.Context, id string, w want, seen uint64) (*AccessToken, error) {
	for {
		if e.ctx.Err() != nil {
			return nil, ErrClosed
		}
		en, err := e.lockedEntry(ctx, id, w == wantUsable || w == wantNewer)
		if err != nil {
			return nil, err
		}
		now := e.clock.Now()
		if satisfied(en, w, seen, now) {
			t := en.tok.Load()
			e.dropIfCold(en)
			en.mu.Unlock()
			return t, nil
		}
		f := en.flight
		if f == nil {
			if err := e.blocked(en, w, now); err != nil {
				en.mu.Unlock()
				return nil, err
			}
			f = &flight{done: make(chan struct{})}
			en.flight = f
			ds, rec := en.ds, en.rec
			e.wg.Add(1)
			go e.fly(en, f, ds, rec, w, seen)
		}
		en.mu.Unlock()
		select {
		case <-f.done:
			if f.err != nil {
				return nil, f.err
			}
			if f.tok == nil && w != wantDue {
				continue // the flight was not a token request: look again
			}
			return f.tok, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// lockedEntry returns the live entry of id, loaded, with its mu held. hot
// marks the datasource as in use by callers. An id that does not load
// (unknown, or a store failure) leaves no entry behind.
func (e *Engine) lockedEntry(ctx context.Context, id string, hot bool) (*entry, error) {
	for {
		en := e.entry(id)
		if hot {
			en.hot.Store(true)
		}
		en.mu.Lock()
		if en.dead {
			en.mu.Unlock()
			continue
		}
		if err := e.load(ctx, en); err != nil {
			e.discard(en)
			en.mu.Unlock()
			return nil, err
		}
		return en, nil
	}
}

// load reads the datasource and its record into en once. en.mu is held.
func (e *Engine) load(ctx context.Context, en *entry) error {
	if en.loaded {
		return nil
	}
	d, err := e.store.Datasource(ctx, en.id)
	if err != nil {
		return err
	}
	rec, err := e.record(ctx, en.id)
	if err != nil {
		return err
	}
	en.ds, en.loaded = d, true
	en.dsp.Store(d)
	e.setRecordLocked(en, rec)
	return nil
}

// Datasource returns datasource id as the engine holds it: cached for
// datasources in use (the proxy's fast path), else read from the store.
// The returned value is shared: do not modify it.
func (e *Engine) Datasource(ctx context.Context, id string) (*datasource.Datasource, error) {
	if v, ok := e.entries.Load(id); ok {
		if d := v.(*entry).dsp.Load(); d != nil {
			return d, nil
		}
	}
	en, err := e.lockedEntry(ctx, id, true)
	if err != nil {
		return nil, err
	}
	d := en.ds
	en.mu.Unlock()
	return d, nil
}

// setRecordLocked installs rec as en's record and token. en.mu is held.
func (e *Engine) setRecordLocked(en *entry, rec *datasource.TokenRecord) {
	en.rec = rec
	if rec.HasToken() {
		en.tok.Store(newAccessToken(&en.ds.Auth, rec))
	} else {
		en.tok.Store(nil)
	}
}

// blocked returns the error a caller gets without a token request: the
// datasource has no grant a request could use, or it is backing off.
// Background and forced requests go through. en.mu is held.
func (e *Engine) blocked(en *entry, w want, now time.Time) error {
	if w == wantForced || w == wantDue {
		return nil
	}
	rec := en.rec
	g, err := Lookup(en.ds.Auth.GrantType)
	if err != nil {
		return err
	}
	_, interactive := g.(Interactive)
	if rec != nil && rec.PermanentFailure {
		return fmt.Errorf("%w: %w", ErrNotAuthorized, &TokenError{Kind: Permanent, Reason: rec.LastError})
	}
	if interactive && (rec == nil || rec.RefreshToken.IsZero()) {
		return fmt.Errorf("%w: %s", ErrNotAuthorized, statusText(rec))
	}
	if rec != nil && rec.Failures > 0 && now.Before(rec.RetryAt) {
		return &TokenError{Kind: Transient, Reason: rec.LastError + " (next attempt at " + rec.RetryAt.UTC().Format(time.RFC3339) + ")"}
	}
	return nil
}

func statusText(rec *datasource.TokenRecord) string {
	a := rec.Authorization()
	switch {
	case a.LastError != "":
		return string(a.Status) + ": " + a.LastError
	case a.Status == datasource.StatusUnauthorized:
		return "unauthorized: nobody has authorized it yet"
	case a.Status == datasource.StatusNeedsReauthorization:
		return "needs_reauthorization: a person must authorize again"
	}
	return string(a.Status)
}

// fly runs one token request and hands its result to everyone waiting.
func (e *Engine) fly(en *entry, f *flight, ds *datasource.Datasource, rec *datasource.TokenRecord, w want, seen uint64) {
	defer e.wg.Done()
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.TokenTimeout+5*time.Second)
	defer cancel()
	tok, err := e.request(ctx, en, ds, rec, w, seen)
	en.mu.Lock()
	en.flight = nil
	f.tok, f.err = tok, err
	e.dropIfCold(en)
	en.mu.Unlock()
	close(f.done)
}

// discard removes an entry that could not be loaded (an unknown id, say),
// so lookups of ids that do not exist cost no memory. en.mu is held.
func (e *Engine) discard(en *entry) {
	if en.flight == nil && !en.dead {
		en.dead = true
		e.entries.CompareAndDelete(en.id, en)
	}
}

// dropIfCold removes an entry nobody uses from memory: the background
// refresher alone does not keep datasources cached. en.mu is held.
func (e *Engine) dropIfCold(en *entry) {
	if !en.hot.Load() && !en.dead && en.flight == nil {
		en.dead = true
		e.entries.CompareAndDelete(en.id, en)
	}
}

// request makes the token request for en under the cross-process lock,
// and stores its outcome. It returns the new token or the error callers
// get.
func (e *Engine) request(ctx context.Context, en *entry, ds *datasource.Datasource, rec *datasource.TokenRecord, w want, seen uint64) (*AccessToken, error) {
	if l := e.opts.Locker; l != nil {
		unlock, err := l.Lock(ctx, en.id)
		if err != nil && e.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if err != nil {
			return nil, &TokenError{Kind: Transient, Reason: "could not take the refresh lock: " + err.Error(), err: err}
		}
		defer unlock()
		// Another replica may have refreshed while we waited for the lock.
		stored, err := e.record(ctx, en.id)
		if err != nil {
			return nil, err
		}
		if stored.Schedule().Generation != rec.Schedule().Generation {
			en.mu.Lock()
			e.setRecordLocked(en, stored)
			ok := satisfied(en, w, seen, e.clock.Now())
			t := en.tok.Load()
			en.mu.Unlock()
			e.afterRecord(en.id, ds, stored)
			if ok || w == wantDue {
				return t, nil
			}
			rec = stored
		}
	}

	g, err := Lookup(ds.Auth.GrantType)
	if err != nil {
		return nil, err
	}
	hc, err := e.httpClient(ds)
	if err != nil {
		return nil, err
	}
	ds, err = e.withSecret(ctx, ds)
	if err != nil {
		// A missing variable or file may appear (a restart with the
		// variable set, a mounted secret): transient, retried.
		return nil, e.fail(ctx, en, ds, rec, &TokenError{Kind: Transient, Local: true, Reason: err.Error(), err: err})
	}
	if e.ctx.Err() != nil {
		return nil, ErrClosed
	}
	call := &Call{Datasource: ds, HTTPClient: hc, RedirectURI: e.opts.RedirectURI}
	var detected datasource.ClientAuth
	if rec != nil {
		detected = rec.DetectedAuth
	}

	var tok *oauth2.Token
	var kind string
	switch {
	case rec != nil && !rec.RefreshToken.IsZero():
		kind = "refresh_token"
		tok, detected, err = e.withAuth(ctx, call, ds.Auth.RefreshAuth(), detected, true, g.Type(), kind,
			func(ctx context.Context) (*oauth2.Token, error) { return call.refresh(ctx, rec.RefreshToken) })
	default:
		kind = string(g.Type())
		if _, interactive := g.(Interactive); interactive {
			// No refresh token: only a person can get a new token.
			if rec == nil || (!rec.HasToken() && rec.Status != datasource.StatusAuthorized) {
				return nil, fmt.Errorf("%w: %s", ErrNotAuthorized, statusText(rec))
			}
			return nil, e.fail(ctx, en, ds, rec, &TokenError{Kind: Permanent, Code: "invalid_grant",
				Reason: "no refresh token; a person must authorize again"})
		}
		tok, detected, err = e.withAuth(ctx, call, ds.Auth.ClientAuthentication, detected, true, g.Type(), kind,
			func(ctx context.Context) (*oauth2.Token, error) { return g.Token(ctx, call) })
	}
	if err != nil && e.ctx.Err() != nil {
		// Cut short by Close: not the provider's verdict. The stored
		// state stays exactly as it was (on a shared store other
		// replicas would otherwise inherit a false backoff).
		return nil, ErrClosed
	}
	if err != nil {
		var secrets []string
		secrets = append(secrets, ds.Auth.ClientSecret.Reveal())
		if rec != nil {
			secrets = append(secrets, rec.RefreshToken.Reveal(), rec.AccessToken.Reveal())
		}
		return nil, e.fail(ctx, en, ds, rec, classify(err, e.clock.Now(), secrets...))
	}
	return e.succeed(ctx, en, ds, rec, tok, detected)
}

// withAuth runs do with the client authentication resolved from style:
// explicit styles as they are; "auto" from what worked before, else the
// provider's metadata, else Basic. Under auto, a request the provider
// refuses as a client authentication failure is tried once more with the
// other style when it can be repeated (client credentials, refresh), and
// what worked is returned to be remembered. Metadata lists what the server
// accepts, not what this client was registered with (Hydra and
// oidc-provider list both Basic and body), so it is a first guess, not a
// verdict. A single-use request (code exchange) is never retried: its
// failure returns the other style as the one to try next time.
func (e *Engine) withAuth(ctx context.Context, c *Call, style, detected datasource.ClientAuth, repeatable bool,
	g datasource.GrantType, kind string, do func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, datasource.ClientAuth, error) {
	if style != datasource.ClientAuthAuto {
		c.Style = style
		tok, err := e.timed(ctx, g, kind, do)
		return tok, detected, err
	}
	c.Style = detected
	if c.Style == "" {
		if md := e.disc.lookup(ctx, c.HTTPClient, c.Datasource.Auth.AccessTokenURL); md != nil {
			if s, ok := md.authMethod(); ok {
				c.Style = datasource.ClientAuth(s)
			}
		}
	}
	if c.Style == "" {
		c.Style = datasource.ClientAuthBasic
	}
	tok, err := e.timed(ctx, g, kind, do)
	if err == nil {
		return tok, c.Style, nil
	}
	if !clientAuthFailure(err) || c.Datasource.Auth.ClientSecret.IsZero() {
		return nil, detected, err
	}
	other := datasource.ClientAuthBody
	if c.Style == datasource.ClientAuthBody {
		other = datasource.ClientAuthBasic
	}
	if !repeatable {
		e.log.Info("client authentication refused; the next authorization will try the other style", "tokenUrl", c.Datasource.Auth.AccessTokenURL, "tried", c.Style, "next", other)
		return nil, other, err
	}
	e.log.Info("client authentication refused, trying the other style", "tokenUrl", c.Datasource.Auth.AccessTokenURL, "tried", c.Style, "next", other)
	c.Style = other
	tok, err2 := e.timed(ctx, g, kind, do)
	if err2 != nil {
		return nil, detected, err
	}
	return tok, other, nil
}

// withSecret returns ds with its client secret resolved when it is a
// reference (a copy; ds itself is shared and keeps the reference).
func (e *Engine) withSecret(ctx context.Context, ds *datasource.Datasource) (*datasource.Datasource, error) {
	ref := ds.Auth.ClientSecret.Ref()
	if ref == "" {
		return ds, nil
	}
	if e.opts.ResolveSecret == nil {
		return ds, fmt.Errorf("client secret reference %s: references are not enabled", ref)
	}
	v, err := e.opts.ResolveSecret(ctx, ref)
	if err != nil {
		return ds, fmt.Errorf("client secret reference %s: %w", ref, err)
	}
	c := ds.Clone()
	c.Auth.ClientSecret = datasource.NewSecret(v)
	return c, nil
}

// clientAuthFailure reports whether err looks like the provider did not
// accept the way the client authenticated.
func clientAuthFailure(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	switch re.ErrorCode {
	case "invalid_client", "unauthorized_client", "invalid_request":
		return true
	}
	return re.Response != nil && re.Response.StatusCode == 401
}

func (e *Engine) timed(ctx context.Context, g datasource.GrantType, kind string, do func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.TokenTimeout)
	defer cancel()
	start := time.Now()
	tok, err := do(ctx)
	if h := e.opts.Hooks.TokenRequest; h != nil {
		result := "ok"
		if err != nil {
			result = classify(err, e.clock.Now()).Kind.String()
		}
		h(g, kind, result, time.Since(start))
	}
	return tok, err
}

// succeed stores a new token and installs it. The record, with any rotated
// refresh token, is committed before the access token is handed out.
func (e *Engine) succeed(ctx context.Context, en *entry, ds *datasource.Datasource, rec *datasource.TokenRecord,
	tok *oauth2.Token, detected datasource.ClientAuth) (*AccessToken, error) {
	now := e.clock.Now()
	var prev uint64
	var prevRefresh datasource.Secret
	var prevScope string
	if rec != nil {
		prev, prevRefresh, prevScope = rec.Generation, rec.RefreshToken, rec.GrantedScope
	}
	nr := newRecord(ds, tok, now, prev+1, prevRefresh, prevScope, detected)
	if err := e.save(ctx, en.id, nr, prev); err != nil {
		if errors.Is(err, datasource.ErrConflict) {
			return e.adopt(ctx, en, ds)
		}
		return nil, err
	}
	en.mu.Lock()
	e.setRecordLocked(en, nr)
	t := en.tok.Load()
	en.mu.Unlock()
	e.afterRecord(en.id, ds, nr)
	return t, nil
}

// adopt installs whatever record the store holds now, after somebody else
// changed it first, and returns its token if it is fresh.
func (e *Engine) adopt(ctx context.Context, en *entry, ds *datasource.Datasource) (*AccessToken, error) {
	stored, err := e.record(ctx, en.id)
	if err != nil {
		return nil, err
	}
	en.mu.Lock()
	e.setRecordLocked(en, stored)
	t := en.tok.Load()
	en.mu.Unlock()
	e.afterRecord(en.id, ds, stored)
	if fresh(t, e.clock.Now()) {
		return t, nil
	}
	return nil, &TokenError{Kind: Transient, Reason: "the token was changed concurrently; try again"}
}

// newRecord builds the record of a token response.
func newRecord(ds *datasource.Datasource, tok *oauth2.Token, now time.Time, gen uint64, prevRefresh datasource.Secret,
	prevScope string, detected datasource.ClientAuth) *datasource.TokenRecord {
	refresh := datasource.NewSecret(tok.RefreshToken)
	if refresh.IsZero() {
		// No new refresh token: the old one stays valid (RFC 6749 §6).
		refresh = prevRefresh
	}
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &datasource.TokenRecord{
		Generation:      gen,
		AccessToken:     datasource.NewSecret(tok.AccessToken),
		RefreshToken:    refresh,
		TokenType:       typ,
		Expiry:          expiryOf(tok, now, ds.Auth.ExpiresIn()),
		GrantedScope:    grantedScope(tok, prevScope, datasource.JoinScope(ds.Auth.Scopes())),
		Status:          datasource.StatusAuthorized,
		LastRefreshedAt: now,
		DetectedAuth:    detected,
	}
}

// save commits r. A datasource deleted meanwhile gives ErrNotFound; a
// concurrent change gives ErrConflict (another replica without a shared
// lock, or a revoke): the caller's token is then discarded.
func (e *Engine) save(ctx context.Context, id string, r *datasource.TokenRecord, prev uint64) error {
	err := e.store.SaveTokenRecord(ctx, id, r, prev)
	if err != nil {
		e.log.Warn("storing token record failed", "datasource", id, "err", err)
	}
	return err
}

// fail records a failed token request: a permanent failure erases the
// tokens and stops retries; a transient one schedules a retry with backoff
// and keeps a still-valid token in service. It returns the error callers
// get.
func (e *Engine) fail(ctx context.Context, en *entry, ds *datasource.Datasource, rec *datasource.TokenRecord, te *TokenError) error {
	now := e.clock.Now()
	var nr datasource.TokenRecord
	var prev uint64
	if rec != nil {
		nr, prev = *rec, rec.Generation
	}
	nr.Failures++
	nr.LastError = te.Reason
	nr.LocalFailure = te.Local
	if te.Kind == Permanent && te.Local {
		// grantd refused, not the provider: the grant may well be good.
		// Keep the tokens, stop retrying until grantd starts again with
		// another configuration (Start retries local failures).
		nr.PermanentFailure = true
		nr.RetryAt = time.Time{}
		if nr.HasToken() && now.Before(nr.Expiry) {
			nr.Status = datasource.StatusAuthorized
		} else {
			nr.Status = datasource.StatusError
		}
	} else if te.Kind == Permanent {
		nr.Generation = prev + 1
		nr.AccessToken, nr.RefreshToken = datasource.Secret{}, datasource.Secret{}
		nr.Expiry = time.Time{}
		nr.Status = te.statusFor(ds.Auth.GrantType)
		nr.PermanentFailure = true
		nr.RetryAt = time.Time{}
	} else {
		nr.RetryAt = now.Add(e.backoff(nr.Failures, te.RetryAfter))
		if nr.HasToken() && now.Before(nr.Expiry) {
			nr.Status = datasource.StatusAuthorized
		} else {
			nr.Status = datasource.StatusError
		}
	}
	attrs := []any{"datasource", en.id, "kind", te.Kind, "reason", te.Reason, "failures", nr.Failures}
	if !nr.RetryAt.IsZero() {
		attrs = append(attrs, "retryAt", nr.RetryAt)
	}
	e.log.Warn("token request failed", attrs...)
	if err := e.save(ctx, en.id, &nr, prev); err != nil {
		if errors.Is(err, datasource.ErrConflict) {
			// Somebody else stored a newer record; install it, report ours.
			e.adopt(ctx, en, ds)
			return te
		}
		return errors.Join(te, err)
	}
	en.mu.Lock()
	e.setRecordLocked(en, &nr)
	en.mu.Unlock()
	e.afterRecord(en.id, ds, &nr)
	if te.Kind == Permanent {
		return fmt.Errorf("%w: %w", ErrNotAuthorized, te)
	}
	return te
}

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

// afterRecord publishes a stored record: status counts and hooks, and the
// next background refresh.
func (e *Engine) afterRecord(id string, ds *datasource.Datasource, rec *datasource.TokenRecord) {
	a := rec.Authorization()
	e.setStatus(id, ds.Name, a.Status, a.LastError, true)
	e.replan(id, ds.Auth.GrantType, rec)
}

// replan plans the next background work on id from its record.
func (e *Engine) replan(id string, g datasource.GrantType, rec *datasource.TokenRecord) {
	sc := rec.Schedule()
	sc.GrantType = g
	if at, ok := e.plan(sc, e.clock.Now()); ok {
		e.sched.schedule(id, at, sc.Generation)
	} else {
		e.sched.unschedule(id)
	}
}

// plan returns when the refresher should next work on a datasource, and
// false when it should not: refresh ahead of expiry by a fifth of the
// token's lifetime (at most 5 minutes, at least a little) minus jitter;
// retry at RetryAt after failures; get a first token for grants that need
// no person; keep idle refresh tokens alive; for a token that can no
// longer be refreshed, look at it when it expires so the status turns.
func (e *Engine) plan(sc datasource.Schedule, now time.Time) (time.Time, bool) {
	if sc.PermanentFailure {
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
	lifetime := sc.Expiry.Sub(start)
	lead := min(lifetime/5, 5*time.Minute)
	lead = max(lead, min(10*time.Second, lifetime/2))
	at := sc.Expiry.Add(-lead - rand.N(lead/2+1))
	if sc.HasRefreshToken && e.opts.KeepAlive > 0 {
		if ka := sc.LastRefreshedAt.Add(e.opts.KeepAlive); !sc.LastRefreshedAt.IsZero() && ka.Before(at) {
			at = ka
		}
	}
	return at, true
}
