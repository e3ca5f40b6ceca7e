package grants

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/grantd/grantd/datasource"
)

// The engine's side of the static auth types (see Scheme): their
// credential is the datasource's own (shared) or an end user's, stored
// sealed on that connection's token record (per-user). There is no token
// to obtain or refresh; what the engine keeps is
//
//   - the credential prepared for use (staticAuth), cached on the key's
//     entry like a token, so a call unseals and resolves nothing;
//   - the status, on the key's token record: "authorized" when a credential
//     is held, "error" with lastError when a shared datasource's reference
//     (${env:}, ${file:}) does not resolve, "unauthorized" for an end user
//     who has not connected (or whose credential was revoked).
//
// References are read again after staticRefTTL, and at once when the
// upstream refuses the credential (HTTP 401): a rotated secret is picked
// up, and a replayable request is sent once more with it.

// staticRefTTL is how long a credential read from a reference is used
// before the reference is read again.
const staticRefTTL = time.Minute

// staticAuth is a credential prepared for use. Immutable.
type staticAuth struct {
	Authorizer
	cred datasource.Credential // as resolved, to tell a rotated reference
	refs bool                  // read from references: read them again after staticRefTTL
	at   time.Time             // when it was prepared
}

// sendStatic is Target.Send for a static auth type.
func (t Target) sendStatic(ctx context.Context, req Request, replay bool, send func() (int, error)) error {
	p, err := t.e.staticAuthorizer(ctx, t.key, true, nil)
	if err != nil {
		return err
	}
	if err := p.Authorize(req, t.e.clock.Now()); err != nil {
		return err
	}
	status, err := send()
	if err != nil || !replay || status != http.StatusUnauthorized || !p.refs {
		return err
	}
	// The upstream refused the credential: a reference may have been
	// rotated since it was read. A different credential gets one retry;
	// the same one means the refusal is the upstream's answer.
	q, err := t.e.staticAuthorizer(ctx, t.key, true, p)
	if err != nil || q.cred.Equal(&p.cred) {
		return nil
	}
	if err := q.Authorize(req, t.e.clock.Now()); err != nil {
		return nil
	}
	_, err = send()
	return err
}

// Token types of the credentials staticToken hands out.
const (
	// TokenTypeBearer is a bearer datasource's token_type (RFC 6750).
	TokenTypeBearer = "Bearer"
	// TokenTypeAPIKey is an apiKey datasource's token_type: not an OAuth
	// token type, the key goes where the datasource places it
	// (tokenPlacement, headerName, headerPrefix, queryParamName).
	TokenTypeAPIKey = "api_key"
)

// staticToken is Target.Token for a static auth type: a bearer
// datasource's token, an apiKey one's key — the shared one, references
// resolved, or the end user's from their connection — as an AccessToken
// without expiry (zero Expiry) of type TokenTypeBearer or TokenTypeAPIKey.
// Whether it may be handed out (exposeToken) is the caller's to check.
// Other static types have no token to hand out: ErrNoTokens. Errors are
// staticAuthorizer's.
func (t Target) staticToken(ctx context.Context) (AccessToken, error) {
	kind := t.ds.Auth.Kind()
	if kind != datasource.AuthBearer && kind != datasource.AuthAPIKey {
		return AccessToken{}, ErrNoTokens
	}
	p, err := t.e.staticAuthorizer(ctx, t.key, true, nil)
	if err != nil {
		return AccessToken{}, err
	}
	if kind == datasource.AuthBearer {
		return AccessToken{Type: TokenTypeBearer, value: p.cred.Token}, nil
	}
	return AccessToken{Type: TokenTypeAPIKey, value: p.cred.APIKey}, nil
}

// staticAuthorizer returns k's credential prepared for use: cached, or
// read (a shared datasource's references resolved; an end user's from
// their token record) and cached. stale forces a new read when it is what
// the cache holds. hot marks the key as in use by callers.
//
// Errors: those of loading the key (datasource.ErrNotFound,
// ErrEndUserRequired, …); ErrNotAuthorized (wrapping ErrNoConnection)
// for an end user without a credential; *CredentialError for a reference
// that does not resolve.
func (e *Engine) staticAuthorizer(ctx context.Context, k datasource.Key, hot bool, stale *staticAuth) (*staticAuth, error) {
	now := e.clock.Now()
	if v, ok := e.entries.Load(k); ok {
		if p := v.(*entry).static.Load(); p != nil && p != stale && (!p.refs || now.Sub(p.at) < staticRefTTL) {
			return p, nil
		}
	}
	en, err := e.lockedEntry(ctx, k, hot)
	if err != nil {
		return nil, err
	}
	ds, rec, conn := en.ds, en.rec, en.conn
	if p := en.static.Load(); p != nil && p != stale && (!p.refs || now.Sub(p.at) < staticRefTTL) {
		en.mu.Unlock()
		return p, nil
	}
	en.mu.Unlock()
	sch, err := LookupScheme(ds.Auth.Kind())
	if err != nil {
		return nil, err
	}
	a, cred, refs := &ds.Auth, datasource.Credential{}, false
	if ds.PerUser() {
		switch {
		case conn == nil:
			return nil, notAuthorized("unauthorized: this end user has not connected yet", ErrNoConnection)
		case rec == nil || rec.Credential.IsZero():
			return nil, notAuthorized(statusText(rec), ErrNoConnection)
		}
		cred = rec.Credential
	} else {
		refs = hasRefs(ds)
		resolved, err := e.withSecret(ctx, ds)
		if err != nil {
			ce := &CredentialError{Reason: err.Error(), err: err}
			e.noteStatic(ctx, k, ce.Reason)
			return nil, ce
		}
		a, cred = &resolved.Auth, resolved.Auth.Credential()
		e.noteStatic(ctx, k, "")
	}
	az, err := sch.Prepare(a, &cred)
	if err != nil {
		return nil, err
	}
	p := &staticAuth{Authorizer: az, cred: cred, refs: refs, at: now}
	en.static.Store(p)
	return p, nil
}

// hasRefs reports whether any write-only field of d is a reference.
func hasRefs(d *datasource.Datasource) bool {
	for _, f := range datasource.SecretFields {
		if d.SecretField(f).IsRef() {
			return true
		}
	}
	return false
}

// noteStatic records on a shared static datasource's token record whether
// its credential could be had: "authorized", or "error" with lastError
// (a failure of grantd's own configuration, like an unset variable). It
// writes only a change, so the hot path stays read-only.
func (e *Engine) noteStatic(ctx context.Context, k datasource.Key, lastError string) {
	want := datasource.StatusAuthorized
	if lastError != "" {
		want = datasource.StatusError
	}
	if v, ok := e.entries.Load(k); ok {
		en := v.(*entry)
		en.mu.Lock()
		rec := en.rec
		en.mu.Unlock()
		if rec != nil && rec.Status == want && rec.LastError == lastError {
			return
		}
	}
	err := e.exclusive(ctx, k, func(en *entry, cur *datasource.TokenRecord) error {
		if cur != nil && cur.Status == want && cur.LastError == lastError {
			return nil
		}
		nr := &datasource.TokenRecord{Status: want, LastError: lastError, LocalFailure: lastError != ""}
		if cur != nil {
			nr.Generation, nr.Health = cur.Generation, cur.Health
		}
		nr.Generation++
		if lastError != "" {
			nr.Failures = 1
		}
		if err := e.save(ctx, k, nr, nr.Generation-1); err != nil {
			return err
		}
		e.install(en, nil, nr)
		return nil
	})
	if err != nil && !errors.Is(err, datasource.ErrNotFound) {
		e.log.Warn("recording a credential's status failed", "datasource", k.Datasource, "err", err)
	}
}

// reconcileStatic is reconcile for a static auth type: a shared
// datasource's credential is read (references resolved) and its status
// recorded; a per-user one's status is its connections'.
func (e *Engine) reconcileStatic(ctx context.Context, d *datasource.Datasource) (datasource.Authorization, error) {
	k := datasource.SharedKey(d.ID)
	if !d.PerUser() {
		_, err := e.staticAuthorizer(ctx, k, false, nil)
		var ce *CredentialError
		if err != nil && !errors.As(err, &ce) {
			return datasource.Authorization{}, err
		}
	}
	sc, err := e.store.TokenSchedule(ctx, k)
	if err != nil {
		return datasource.Authorization{}, err
	}
	a := e.authorization(sc)
	e.setStatus(k, d.Name, a.Status, a.LastError, "", false)
	e.sched.unschedule(k)
	if a.Status == datasource.StatusAuthorized && !d.PerUser() {
		e.checkSoon(k, d)
	}
	return a, nil
}

// recheckStatic reads a static datasource's credential again (POST
// …/refresh: references resolved anew) and returns its status.
func (e *Engine) recheckStatic(ctx context.Context, k datasource.Key) (datasource.Authorization, error) {
	var stale *staticAuth
	if v, ok := e.entries.Load(k); ok {
		stale = v.(*entry).static.Load()
	}
	_, err := e.staticAuthorizer(ctx, k, false, stale)
	var ce *CredentialError
	if err != nil && !errors.As(err, &ce) && !errors.Is(err, ErrNotAuthorized) {
		return datasource.Authorization{}, err
	}
	return e.Status(ctx, k)
}

// staticDatasource returns datasource id when its auth type is static,
// nil otherwise (or when it cannot be read: the caller's own path reports
// that).
func (e *Engine) staticDatasource(ctx context.Context, id string) *datasource.Datasource {
	d, err := e.Datasource(ctx, id)
	if err != nil || !d.Auth.Kind().Static() {
		return nil
	}
	return d
}
