package grants

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/datasource"
)

// Connection is an end user's connection with its authorization and
// health, as the engine shows it.
type Connection struct {
	*datasource.Connection
	Authorization datasource.Authorization
	Health        *datasource.Health
}

// Connections returns a page of datasource q.DatasourceID's connections
// in end user id order, and the cursor of the next page ("" after the
// last). Nothing is unsealed. Errors: datasource.ErrNotFound,
// ErrNotPerUser for a shared datasource, a store failure.
func (e *Engine) Connections(ctx context.Context, q datasource.ConnectionQuery) ([]Connection, string, error) {
	d, err := e.store.Datasource(ctx, q.DatasourceID)
	if err != nil {
		return nil, "", err
	}
	if !d.PerUser() {
		return nil, "", ErrNotPerUser
	}
	page, next, err := e.store.ListConnections(ctx, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]Connection, len(page))
	for i, cs := range page {
		out[i] = Connection{Connection: cs.Connection, Authorization: e.authorization(cs.Schedule), Health: cs.Schedule.Health}
	}
	return out, next, nil
}

// Connection returns one connection. Errors: datasource.ErrNotFound (no
// such datasource or connection), ErrNotPerUser.
func (e *Engine) Connection(ctx context.Context, datasourceID, endUserID string) (*Connection, error) {
	d, err := e.store.Datasource(ctx, datasourceID)
	if err != nil {
		return nil, err
	}
	if !d.PerUser() {
		return nil, ErrNotPerUser
	}
	c, err := e.store.Connection(ctx, datasourceID, endUserID)
	if err != nil {
		return nil, err
	}
	sc, err := e.store.TokenSchedule(ctx, c.Key())
	if err != nil {
		return nil, err
	}
	return &Connection{Connection: c, Authorization: e.authorization(sc), Health: sc.Health}, nil
}

// DeleteConnection revokes an end user's tokens at the provider when it
// can and removes the connection. A provider that fails to revoke does not
// keep it (the result says what happened there).
func (e *Engine) DeleteConnection(ctx context.Context, datasourceID, endUserID string) (*RevokeResult, error) {
	if _, err := e.Connection(ctx, datasourceID, endUserID); err != nil {
		return nil, err
	}
	k := datasource.Key{Datasource: datasourceID, EndUser: endUserID}
	res, err := e.Revoke(ctx, k)
	switch {
	case errors.Is(err, datasource.ErrNotFound):
		return nil, err
	case err != nil:
		e.log.Warn("revoking before deleting a connection failed", "datasource", datasourceID, "endUser", endUserID, "err", err)
		res = &RevokeResult{ProviderError: "revocation failed"}
	}
	if err := e.store.DeleteConnection(ctx, datasourceID, endUserID); err != nil {
		return nil, err
	}
	e.forgetKey(k)
	return res, nil
}

// connectionTokens reads the tokens of d's connections that could be
// revoked at the provider, before the datasource is deleted.
func (e *Engine) connectionTokens(ctx context.Context, d *datasource.Datasource) []*datasource.TokenRecord {
	if !d.PerUser() {
		return nil
	}
	var out []*datasource.TokenRecord
	q := datasource.ConnectionQuery{DatasourceID: d.ID, Limit: datasource.MaxConnectionPage}
	for {
		page, next, err := e.store.ListConnections(ctx, q)
		if err != nil {
			e.log.Warn("reading connections to revoke failed", "datasource", d.ID, "err", err)
			return out
		}
		for _, cs := range page {
			if !cs.Schedule.HasToken && !cs.Schedule.HasRefreshToken {
				continue
			}
			if rec, err := e.store.TokenRecord(ctx, cs.Connection.Key()); err == nil {
				out = append(out, rec)
			}
		}
		if next == "" {
			return out
		}
		q.After = next
	}
}

// revokeInBackground revokes tokens of a deleted datasource's connections
// at the provider, a few at a time, until done or the engine closes.
func (e *Engine) revokeInBackground(d *datasource.Datasource, recs []*datasource.TokenRecord) {
	if len(recs) == 0 {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		sem := make(chan struct{}, 8)
		var failed atomic.Int64
		for _, rec := range recs {
			select {
			case sem <- struct{}{}:
			case <-e.ctx.Done():
				return
			}
			e.wg.Add(1)
			go func() {
				defer func() { <-sem; e.wg.Done() }()
				ctx, cancel := context.WithTimeout(e.ctx, e.opts.TokenTimeout)
				defer cancel()
				// The connections are gone with their config: templates
				// are filled from the datasource's own.
				if _, perr := e.revokeAtProvider(ctx, d, nil, rec); perr != "" {
					failed.Add(1)
				}
			}()
		}
		for range cap(sem) {
			sem <- struct{}{}
		}
		e.log.Info("revoked the connections of a deleted datasource", "datasource", d.ID, "connections", len(recs), "failed", failed.Load())
	}()
}

// ConnectRequest asks for a connect link for one end user.
type ConnectRequest struct {
	DatasourceID     string
	EndUserID        string
	EndUser          datasource.EndUser
	ConnectionConfig map[string]string
	// ReturnTo is where the browser goes after connecting, with
	// datasource, endUserId and result added: checked by the caller.
	ReturnTo string
	// TTL of the link; default and maximum datasource.ConnectSessionTTL.
	TTL time.Duration
}

// ConnectSession is a link an end user opens to connect their account.
type ConnectSession struct {
	// Token is the one-time secret of the link (<public URL>/connect/<token>).
	Token     string
	ExpiresAt time.Time
}

// CreateConnectSession makes a single-use connect link for one end user of
// a per-user datasource. Only a hash of its token is stored.
//
// Errors: datasource.ErrNotFound; ErrNotPerUser; ErrNotInteractive for a
// grant that needs no browser; a *datasource.ValidationError; a store failure.
func (e *Engine) CreateConnectSession(ctx context.Context, r ConnectRequest) (*ConnectSession, error) {
	d, err := e.store.Datasource(ctx, r.DatasourceID)
	if err != nil {
		return nil, err
	}
	if !d.PerUser() {
		return nil, ErrNotPerUser
	}
	if !d.Auth.Kind().Static() && !interactive(d.Auth.GrantType) {
		return nil, ErrNotInteractive // (a static type's end users enter their credential on the connect page)
	}
	if err := datasource.ValidateConnect(r.EndUserID, r.EndUser, r.ConnectionConfig); err != nil {
		return nil, err
	}
	// The values must fill the datasource's templates where they stand
	// (host-safe, one path segment), and may not pick a whole host.
	if err := d.CheckConnectionConfig(r.ConnectionConfig); err != nil {
		return nil, err
	}
	ttl := r.TTL
	if ttl <= 0 || ttl > datasource.ConnectSessionTTL {
		ttl = datasource.ConnectSessionTTL
	}
	e.purgeStates(ctx)
	tok := randomToken()
	now := e.clock.Now()
	st := &datasource.State{
		Key: ConnectKey(tok), DatasourceID: d.ID, ReturnTo: r.ReturnTo, CreatedAt: now, ExpiresAt: now.Add(ttl),
		Connect: true, EndUserID: r.EndUserID, EndUser: r.EndUser, ConnectionConfig: r.ConnectionConfig,
	}
	if err := e.store.SaveState(ctx, st); err != nil {
		return nil, err
	}
	return &ConnectSession{Token: tok, ExpiresAt: st.ExpiresAt}, nil
}

// ConnectKey is the store key of a connect link's token: a hash, kept apart
// from the state keys by a prefix.
func ConnectKey(token string) string { return "c" + StateKey("connect\x00"+token) }

// OpenConnectSession opens a connect link in the end user's browser: it
// consumes the link (a link works once) and starts the authorization for
// that end user, bound to the browser (binding), returning the provider
// URL to send the browser to.
//
// Errors: ErrInvalidState (unknown, used or expired link), and those of
// AuthorizeURL.
func (e *Engine) OpenConnectSession(ctx context.Context, token, binding string) (string, error) {
	if token == "" || len(token) > 512 {
		return "", &StateError{Reason: "no connect link"}
	}
	st, err := e.store.ConsumeState(ctx, ConnectKey(token))
	if errors.Is(err, datasource.ErrNotFound) {
		return "", &StateError{Reason: "unknown or already used connect link"}
	}
	if err != nil {
		return "", err
	}
	if !st.Connect {
		return "", &StateError{Reason: "not a connect link"}
	}
	if st.Expired(e.clock.Now()) {
		return "", &StateError{Reason: "expired connect link"}
	}
	u, err := e.AuthorizeURL(ctx, st.DatasourceID, AuthorizeRequest{ReturnTo: st.ReturnTo, Binding: binding,
		EndUserID: st.EndUserID, EndUser: st.EndUser, ConnectionConfig: st.ConnectionConfig})
	if err != nil {
		return "", fmt.Errorf("grants: opening a connect link: %w", err)
	}
	return u, nil
}
