package grants

import (
	"context"
	"errors"
	"time"

	"github.com/grantd/grantd/datasource"
)

// MinAgeForForcedRefresh is how old a token must be before an upstream's
// refusal of it forces a refresh. Together with the generation check (a
// refresh happens only while the refused token is still the stored one)
// this makes at most one forced refresh per token generation, and none
// for a token that was just issued: sequential refusals pass through. A
// young token that another caller's refresh — here or on another replica —
// already replaced (or is replacing) is retried with the new one: that
// costs no token request.
const MinAgeForForcedRefresh = 30 * time.Second

// Target is a datasource resolved for outgoing calls: its configuration
// (where calls go, which CA to trust) and the way to authenticate them.
// It is a small value; copy it freely. It reflects the datasource when it
// was resolved: resolve again for each call.
type Target struct {
	e       *Engine
	key     datasource.Key
	ds      *datasource.Datasource
	subject datasource.Secret // the caller's token, for token_exchange (WithSubjectToken)
}

// Resolve returns the target of calls as k: a shared datasource
// (datasource.SharedKey) or an end user's connection to a per-user one.
// An end user named for a shared datasource is dropped (its one token
// serves every caller). For a key in use it takes no lock and allocates
// nothing. Errors: datasource.ErrNotFound; ErrEndUserRequired for a
// per-user datasource without an end user; datasource.ErrEndUserID for an
// end user id that is not one; a store failure.
func (e *Engine) Resolve(ctx context.Context, k datasource.Key) (Target, error) {
	if v, ok := e.entries.Load(k); ok {
		en := v.(*entry)
		if d := en.dsp.Load(); d != nil {
			if !en.hot.Load() {
				en.hot.Store(true)
			}
			return Target{e: e, key: k, ds: d}, nil
		}
	}
	if k.EndUser != "" {
		// A shared datasource in use serves an end user from its one
		// token without a store read.
		if v, ok := e.entries.Load(datasource.SharedKey(k.Datasource)); ok {
			if d := v.(*entry).dsp.Load(); d != nil && !d.PerUser() {
				return e.Resolve(ctx, datasource.SharedKey(k.Datasource))
			}
		}
		if err := datasource.ValidEndUserID(k.EndUser); err != nil {
			return Target{}, err
		}
	}
	en, err := e.lockedEntry(ctx, k, true)
	if errors.Is(err, ErrNotPerUser) {
		return e.Resolve(ctx, datasource.SharedKey(k.Datasource))
	}
	if err != nil {
		return Target{}, err
	}
	d := en.ds
	en.mu.Unlock()
	return Target{e: e, key: k, ds: d}, nil
}

// Key returns the key the target calls as.
func (t Target) Key() datasource.Key { return t.key }

// Datasource returns the datasource the target calls. It is shared: do
// not modify it.
func (t Target) Datasource() *datasource.Datasource { return t.ds }

// Send authenticates req and sends it with send, which makes the request
// and returns the upstream's status. It places a fresh token on req (as
// the datasource configures: header with prefix, or query parameter); when
// the upstream refuses it (a status of auth.refreshOnStatus, by default
// HTTP 401), the token is older than
// MinAgeForForcedRefresh and replay is true, it gets a token of a newer
// generation — one refresh shared with every caller that saw the same
// token — places it and calls send once more. send's own error is
// returned as it is. When no token can be had, send is not called and the
// error is the engine's: ErrNotAuthorized (no usable grant), *TokenError
// (the token endpoint failed, or the datasource is backing off), ErrClosed,
// and for a token_exchange datasource ErrSubjectTokenRequired when t
// carries no subject token (WithSubjectToken).
//
// The library's Client, the server's proxy and MCP all authenticate
// through Send, so a new placement or a new refresh trigger is one change
// here.
func (t Target) Send(ctx context.Context, req Request, replay bool, send func() (status int, err error)) error {
	if t.ds.Auth.Kind().Static() {
		return t.sendStatic(ctx, req, replay, send) // an API key, Basic, SigV4…: its Scheme
	}
	if t.ds.Auth.GrantType == datasource.TokenExchange {
		return t.sendExchanged(ctx, req, replay, send)
	}
	tok, err := t.e.Token(ctx, t.key)
	if err != nil {
		return err
	}
	tok.place(req)
	status, err := send()
	if err != nil || !replay || !t.ds.Auth.RefreshesOn(status) {
		return err
	}
	young := !tok.obtained.IsZero() && t.e.clock.Now().Sub(tok.obtained) < MinAgeForForcedRefresh
	if young && !t.e.replaced(ctx, t.key, tok.Generation) {
		// A token this young was just issued and nobody is replacing it:
		// the refusal is about something else (permissions, the path).
		// Refreshing would turn every refused call into a token request.
		return nil
	}
	newTok, err := t.e.TokenAfter(ctx, t.key, tok.Generation)
	if err != nil {
		return nil // the upstream's own refusal is the better answer
	}
	newTok.place(req)
	_, err = send()
	return err
}

// URL returns the datasource's url as calls of this target use it: a
// template filled with the connection's connectionConfig over the
// datasource's and with the fields kept from the current token answer
// ({token.instance_url}); the url itself when it is no template. A url
// that needs kept fields gets a token first (see Engine.Token), so the
// errors are the engine's, or a *datasource.TemplateError when a value
// is missing or refused (a token answer without the kept field).
func (t Target) URL(ctx context.Context) (string, error) {
	if !datasource.IsTemplate(t.ds.URL) {
		return t.ds.URL, nil
	}
	if t.ds.UsesTokenFields() {
		if _, err := t.e.Token(ctx, t.key); err != nil {
			return "", err
		}
	}
	v := datasource.Values{Shared: t.ds.ConnectionConfig}
	if en, ok := t.e.entries.Load(t.key); ok {
		en := en.(*entry)
		en.mu.Lock()
		if en.conn != nil {
			v.Connection = en.conn.Config
		}
		if en.rec != nil {
			v.Token = en.rec.Kept
		}
		en.mu.Unlock()
	}
	return t.ds.ExpandedURL(v)
}
