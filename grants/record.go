package grants

import (
	"context"
	"errors"
	"time"

	"github.com/grantd/grantd/datasource"
	"golang.org/x/oauth2"
)

// succeed stores a new token and installs it. The record, with any rotated
// refresh token, is committed before the access token is handed out.
func (e *Engine) succeed(ctx context.Context, en *entry, ds *datasource.Datasource, rec *datasource.TokenRecord,
	tok *oauth2.Token, detected datasource.ClientAuth, sent time.Time) (*AccessToken, error) {
	// The token's life is counted from when the request was sent, not
	// when the answer came: the provider started counting somewhere in
	// between, and a token must never be thought valid after it expired.
	now := sent
	var prev uint64
	var prevRefresh datasource.Secret
	var prevScope string
	var prevKept map[string]string
	if rec != nil {
		prev, prevRefresh, prevScope, prevKept = rec.Generation, rec.RefreshToken, rec.GrantedScope, rec.Kept
	}
	nr := newRecord(ds, tok, now, prev+1, prevRefresh, prevScope, prevKept, detected)
	if err := e.save(ctx, en.key, nr, prev); err != nil {
		if errors.Is(err, datasource.ErrConflict) {
			return e.adopt(ctx, en, ds)
		}
		return nil, err
	}
	return e.install(en, ds, nr), nil
}

// adopt installs whatever record the store holds now, after somebody else
// changed it first, and returns its token if it is fresh.
func (e *Engine) adopt(ctx context.Context, en *entry, ds *datasource.Datasource) (*AccessToken, error) {
	stored, err := e.record(ctx, en.key)
	if err != nil {
		return nil, err
	}
	if t := e.install(en, ds, stored); fresh(t, e.clock.Now()) {
		return t, nil
	}
	return nil, &TokenError{Kind: Transient, Reason: "the token was changed concurrently; try again"}
}

// newRecord builds the record of a token response. The fields the
// datasource keeps (auth.tokenResponse.keep) come from the answer, or
// from prevKept when it lacks one; a new authorization passes none.
func newRecord(ds *datasource.Datasource, tok *oauth2.Token, now time.Time, gen uint64, prevRefresh datasource.Secret,
	prevScope string, prevKept map[string]string, detected datasource.ClientAuth) *datasource.TokenRecord {
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
		Kept:            keptFields(tok, ds.Auth.TokenResponse.Keep, prevKept),
		Status:          datasource.StatusAuthorized,
		LastRefreshedAt: now,
		DetectedAuth:    detected,
	}
}

// save commits r. A datasource deleted meanwhile gives ErrNotFound; a
// concurrent change gives ErrConflict (another replica without a shared
// lock, or a revoke): the caller's token is then discarded.
func (e *Engine) save(ctx context.Context, k datasource.Key, r *datasource.TokenRecord, prev uint64) error {
	err := e.store.SaveTokenRecord(ctx, k, r, prev)
	if err != nil && !errors.Is(err, datasource.ErrConflict) {
		e.log.Warn("storing token record failed", "datasource", k.Datasource, "endUser", k.EndUser, "err", err)
		if h := e.opts.Hooks.StoreFailure; h != nil {
			h("save", err)
		}
	}
	return err
}

// unsentRetry is when a token request that could not be coordinated
// (TokenError.Unsent) is tried again.
const unsentRetry = time.Second

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
		wait := unsentRetry
		if !te.Unsent {
			wait = e.backoff(nr.Failures, te.RetryAfter)
		}
		nr.RetryAt = now.Add(wait)
		if nr.HasToken() && now.Before(nr.Expiry) {
			nr.Status = datasource.StatusAuthorized
		} else {
			nr.Status = datasource.StatusError
		}
	}
	attrs := []any{"datasource", en.key.Datasource, "endUser", en.key.EndUser, "kind", te.Kind, "reason", te.Reason, "failures", nr.Failures}
	if !nr.RetryAt.IsZero() {
		attrs = append(attrs, "retryAt", nr.RetryAt)
	}
	e.log.Warn("token request failed", attrs...)
	if err := e.save(ctx, en.key, &nr, prev); err != nil {
		if errors.Is(err, datasource.ErrConflict) {
			// Somebody else stored a newer record; install it, report ours.
			if _, aerr := e.adopt(ctx, en, ds); aerr != nil && !isTokenError(aerr) {
				return errors.Join(te, aerr)
			}
			return te.outcome()
		}
		return errors.Join(te, err)
	}
	e.install(en, ds, &nr)
	return te.outcome()
}

// install makes rec, just stored or read, en's record and token, then
// publishes it (afterRecord). ds replaces the entry's datasource when it is
// another (a code exchange stores the configuration it was made under);
// nil keeps it. It returns the token now held, nil if none.
// A stored record goes through here whoever stored it: a token request, a
// failure, a revocation, a code exchange, another replica.
func (e *Engine) install(en *entry, ds *datasource.Datasource, rec *datasource.TokenRecord) *AccessToken {
	en.mu.Lock()
	switch {
	case ds == nil:
		ds = en.ds
	case ds != en.ds:
		en.ds = ds
		en.dsp.Store(ds)
	}
	old := en.rec
	e.setRecordLocked(en, rec)
	t := en.tok.Load()
	en.mu.Unlock()
	e.afterRecord(en.key, ds, rec)
	e.tokenChange(en.key, old, rec)
	return t
}

// tokenChange tells Hooks.TokenChange what changed between old and rec.
func (e *Engine) tokenChange(k datasource.Key, old, rec *datasource.TokenRecord) {
	h := e.opts.Hooks.TokenChange
	if h == nil || rec == nil {
		return
	}
	var was datasource.TokenRecord
	if old != nil {
		was = *old
	}
	switch {
	case rec.HasToken() && (rec.Generation != was.Generation || !was.HasToken()):
		kind := "refreshed"
		if !was.HasToken() {
			kind = "obtained"
		}
		at := rec.LastRefreshedAt
		if at.IsZero() {
			at = e.clock.Now()
		}
		h(TokenChange{Key: k, Kind: kind, At: at, ExpiresAt: rec.Expiry})
	case rec.Failures > was.Failures:
		h(TokenChange{Key: k, Kind: "failed", At: e.clock.Now(), Detail: rec.LastError})
	case was.HasToken() && !rec.HasToken():
		h(TokenChange{Key: k, Kind: "dropped", At: e.clock.Now(), Detail: rec.LastError})
	}
}

// isTokenError reports whether err is a classified token failure (which
// callers already learn of) rather than a store failure.
func isTokenError(err error) bool {
	var te *TokenError
	return errors.As(err, &te)
}

// afterRecord publishes a stored record: status counts and hooks, and the
// next background refresh.
func (e *Engine) afterRecord(k datasource.Key, ds *datasource.Datasource, rec *datasource.TokenRecord) {
	a := rec.Authorization()
	e.setStatus(k, ds.Name, a.Status, a.LastError, failureReason(rec), true)
	sc := scheduleOf(ds.Auth.GrantType, rec)
	sc.AuthType = ds.Auth.Kind()
	e.replan(k, sc)
}

// failureReason classifies what a record's status says went wrong, for
// connection.failed events: the grant revoked, the client refused, the
// provider unavailable, or grantd's own configuration. Empty when the
// record is not a failure.
func failureReason(rec *datasource.TokenRecord) string {
	switch {
	case rec == nil || rec.Failures == 0:
		return ""
	case rec.LocalFailure:
		return datasource.ReasonConfiguration
	case rec.Status == datasource.StatusNeedsReauthorization:
		return datasource.ReasonRevoked
	case rec.PermanentFailure:
		return datasource.ReasonInvalidClient
	}
	return datasource.ReasonProviderUnavailable
}
