package grants

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/datasource"
)

// entry is the engine's in-memory state of one token record — a shared
// datasource's or one connection's: the cached token for the fast path,
// and, under mu, the decrypted record and the token request in flight.
//
// Entries exist for datasources in use ("hot") and, briefly, for those the
// background refresher is working on; a cold entry is dropped when its
// request ends, so 100,000 idle datasources cost no memory but their
// schedule.
type entry struct {
	key datasource.Key
	tok atomic.Pointer[AccessToken]           // current usable token, nil if none
	dsp atomic.Pointer[datasource.Datasource] // the datasource once loaded
	hot atomic.Bool                           // used by callers, keep after requests
	// static is the prepared credential of a static auth type (see
	// static.go), nil until read and whenever the record changes.
	static atomic.Pointer[staticAuth]

	mu     sync.Mutex // guards the fields below
	dead   bool       // removed from the map; callers must take a new entry
	loaded bool
	ds     *datasource.Datasource
	conn   *datasource.Connection  // the connection, for a per-user key; nil when none
	rec    *datasource.TokenRecord // nil when none is stored
	flight *flight                 // the token request in progress, if any
}

// flight is one token request; everyone who needs its result waits on done.
type flight struct {
	done    chan struct{}
	tok     *AccessToken
	err     error
	waiters atomic.Int32 // callers waiting on done, for tests
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

// Token returns a fresh access token for k — a shared datasource's
// (datasource.SharedKey) or an end user's connection — requesting or
// refreshing one when needed. Concurrent callers share one token request
// (single-flight). The cached path takes no lock and allocates nothing.
//
// Errors: datasource.ErrNotFound; ErrEndUserRequired (a per-user
// datasource without an end user); ErrNotAuthorized (no usable grant: a
// person must authorize or connect, or the provider rejected the client —
// see the status); *TokenError for a failed token request (Kind Transient:
// the provider is failing, or the datasource is in backoff).
func (e *Engine) Token(ctx context.Context, k datasource.Key) (AccessToken, error) {
	if v, ok := e.entries.Load(k); ok {
		en := v.(*entry)
		if t := en.tok.Load(); t != nil && fresh(t, e.clock.Now()) {
			if !en.hot.Load() {
				en.hot.Store(true)
			}
			return *t, nil
		}
	}
	t, err := e.obtain(ctx, k, wantUsable, 0)
	if err != nil {
		return AccessToken{}, err
	}
	return *t, nil
}

// TokenAfter returns a token of another generation than seen: call it when
// the upstream refused a token of generation seen (HTTP 401). If somebody
// already replaced that token, the newer one is returned without a request.
func (e *Engine) TokenAfter(ctx context.Context, k datasource.Key, seen uint64) (AccessToken, error) {
	t, err := e.obtain(ctx, k, wantNewer, seen)
	if err != nil {
		return AccessToken{}, err
	}
	return *t, nil
}

// Refresh makes a token request for k now, whatever the cached token and
// the backoff say, and returns the resulting status. A failed request is
// reported in the status, not as error.
func (e *Engine) Refresh(ctx context.Context, k datasource.Key) (datasource.Authorization, error) {
	if e.staticDatasource(ctx, k.Datasource) != nil {
		return e.recheckStatic(ctx, k) // no token: the credential is read again
	}
	_, err := e.obtain(ctx, k, wantForced, 0)
	if err != nil && (errors.Is(err, datasource.ErrNotFound) || errors.Is(err, ErrEndUserRequired)) {
		return datasource.Authorization{}, err
	}
	return e.Status(ctx, k)
}

func (e *Engine) entry(k datasource.Key) *entry {
	if v, ok := e.entries.Load(k); ok {
		return v.(*entry)
	}
	v, _ := e.entries.LoadOrStore(k, &entry{key: k})
	return v.(*entry)
}

func (e *Engine) forgetEntry(k datasource.Key) {
	e.exch.forget(k.Datasource)
	if v, ok := e.entries.LoadAndDelete(k); ok {
		en := v.(*entry)
		en.mu.Lock()
		en.dead = true
		en.mu.Unlock()
	}
}

// replaced reports whether k's token of generation seen has been replaced
// already — in memory, by a token request in flight, or in the store by
// another replica — so that a retry costs no token request of its own (a
// provider that revokes the old access token when it refreshes refuses
// calls made with it meanwhile). The store is read only when memory does
// not tell: after an upstream's refusal, never per call.
func (e *Engine) replaced(ctx context.Context, k datasource.Key, seen uint64) bool {
	if v, ok := e.entries.Load(k); ok {
		en := v.(*entry)
		if t := en.tok.Load(); t != nil && t.Generation != seen {
			return true
		}
		en.mu.Lock()
		inFlight := en.flight != nil
		en.mu.Unlock()
		if inFlight {
			return true
		}
	}
	if l := e.opts.Locker; l != nil {
		// Another replica may be refreshing right now (the provider has
		// revoked the old token already): its lock is held until the new
		// record is stored, so wait for it, then look.
		unlock, err := l.Lock(ctx, k.String())
		if err != nil {
			return false
		}
		defer unlock()
	}
	sc, err := e.store.TokenSchedule(ctx, k)
	return err == nil && sc.Generation != seen
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
func (e *Engine) obtain(ctx context.Context, k datasource.Key, w want, seen uint64) (*AccessToken, error) {
	for {
		if e.ctx.Err() != nil {
			return nil, ErrClosed
		}
		en, err := e.lockedEntry(ctx, k, w == wantUsable || w == wantNewer)
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
		own := f == nil
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
		f.waiters.Add(1)
		select {
		case <-f.done:
			if f.err != nil {
				return nil, f.err
			}
			if w == wantDue || w == wantForced {
				return f.tok, nil
			}
			if f.tok == nil {
				continue // the flight was not a token request: look again
			}
			if !fresh(f.tok, e.clock.Now()) || w == wantNewer && f.tok.Generation == seen {
				// A flight started for another want (the refresher's, say)
				// may end with a token this caller cannot use: never hand
				// out an expired one. Ask again — unless this caller's own
				// request brought it (born expired, or it took that long).
				if own {
					return nil, &TokenError{Kind: Transient, Reason: "the token endpoint answered with a token that has already expired (expires_in or exp too short)"}
				}
				continue
			}
			return f.tok, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// lockedEntry returns the live entry of k, loaded, with its mu held. hot
// marks it as in use by callers. A key that does not load (unknown, or a
// store failure) leaves no entry behind.
func (e *Engine) lockedEntry(ctx context.Context, k datasource.Key, hot bool) (*entry, error) {
	for {
		en := e.entry(k)
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
	d, err := e.store.Datasource(ctx, en.key.Datasource)
	if err != nil {
		return err
	}
	switch {
	case d.PerUser() && en.key.EndUser == "":
		return ErrEndUserRequired
	case !d.PerUser() && en.key.EndUser != "":
		return ErrNotPerUser
	case d.PerUser():
		c, err := e.store.Connection(ctx, en.key.Datasource, en.key.EndUser)
		if err != nil && !errors.Is(err, datasource.ErrNotFound) {
			return err
		}
		if c == nil && d.Auth.GrantType == datasource.JWTBearer {
			// The app backend vouches for its end user, and grantd signs
			// for them (sub = the end user): no browser, so the connection
			// is made by the first call for that end user.
			if c, err = e.implicitConnection(ctx, en.key); err != nil {
				return err
			}
		}
		en.conn = c
	}
	rec, err := e.record(ctx, en.key)
	if err != nil {
		return err
	}
	en.ds, en.loaded = d, true
	en.dsp.Store(d)
	e.setRecordLocked(en, rec)
	return nil
}

// implicitConnection stores (or, when a concurrent call or another
// replica was first, reads) the connection of end user k.EndUser.
func (e *Engine) implicitConnection(ctx context.Context, k datasource.Key) (*datasource.Connection, error) {
	if err := datasource.ValidEndUserID(k.EndUser); err != nil {
		return nil, err
	}
	now := e.now()
	c := &datasource.Connection{DatasourceID: k.Datasource, EndUserID: k.EndUser, CreatedAt: now, UpdatedAt: now}
	created, err := e.store.SaveConnection(ctx, c)
	if err != nil {
		return nil, err
	}
	if !created {
		return e.store.Connection(ctx, k.Datasource, k.EndUser)
	}
	return c, nil
}

// Datasource returns datasource id as the engine holds it: cached for
// datasources in use, else read from the store. The returned value is
// shared: do not modify it.
func (e *Engine) Datasource(ctx context.Context, id string) (*datasource.Datasource, error) {
	if v, ok := e.entries.Load(datasource.SharedKey(id)); ok {
		if d := v.(*entry).dsp.Load(); d != nil {
			return d, nil
		}
	}
	return e.store.Datasource(ctx, id)
}

// setRecordLocked installs rec as en's record and token. en.mu is held.
func (e *Engine) setRecordLocked(en *entry, rec *datasource.TokenRecord) {
	en.rec = rec
	en.static.Store(nil)
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
	if en.ds.Auth.Kind().Static() {
		return ErrNoTokens // its credential is Target.Send's
	}
	if onDemandGrant(en.ds.Auth.GrantType) {
		return ErrSubjectTokenRequired // tokens come per caller: Target
	}
	if en.ds.PerUser() && en.conn == nil {
		if w == wantForced || w == wantDue {
			return ErrNoConnection
		}
		return notAuthorized("unauthorized: this end user has not connected yet", ErrNoConnection)
	}
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
		return notAuthorized(statusText(rec), &TokenError{Kind: Permanent, Reason: rec.LastError})
	}
	if interactive && (rec == nil || rec.RefreshToken.IsZero()) {
		return notAuthorized(statusText(rec), nil)
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
		e.entries.CompareAndDelete(en.key, en)
	}
}

// dropIfCold removes an entry nobody uses from memory: the background
// refresher alone does not keep datasources cached. en.mu is held.
func (e *Engine) dropIfCold(en *entry) {
	if !en.hot.Load() && !en.dead && en.flight == nil {
		en.dead = true
		e.entries.CompareAndDelete(en.key, en)
	}
}

// exclusive runs fn while no token request of k is in flight
// and none can start, under the cross-replica lock, with the record as
// stored now. The entry is loaded.
func (e *Engine) exclusive(ctx context.Context, k datasource.Key, fn func(en *entry, cur *datasource.TokenRecord) error) error {
	for {
		en, err := e.lockedEntry(ctx, k, false)
		if err != nil {
			return err
		}
		if f := en.flight; f != nil {
			en.mu.Unlock()
			select {
			case <-f.done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		f := &flight{done: make(chan struct{})}
		en.flight = f
		en.mu.Unlock()

		err = func() error {
			if l := e.opts.Locker; l != nil {
				unlock, err := l.Lock(ctx, k.String())
				if err != nil {
					return err
				}
				defer unlock()
			}
			cur, err := e.record(ctx, k)
			if err != nil {
				return err
			}
			return fn(en, cur)
		}()

		en.mu.Lock()
		en.flight = nil
		f.err = err
		if err == nil {
			f.tok = en.tok.Load()
		}
		e.dropIfCold(en)
		en.mu.Unlock()
		close(f.done)
		return err
	}
}
