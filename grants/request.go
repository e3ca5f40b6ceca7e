package grants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/datasource"
	"golang.org/x/oauth2"
)

// busyRecheck is when the background refresher looks again at a refresh
// it left to the replica holding its lock: longer than a lock's life, in
// case that replica died with it.
const busyRecheck = 10 * time.Second

// request makes the token request for en under the cross-process lock,
// and stores its outcome. It returns the new token or the error callers
// get.
func (e *Engine) request(ctx context.Context, en *entry, ds *datasource.Datasource, rec *datasource.TokenRecord, w want, seen uint64) (*AccessToken, error) {
	if l := e.opts.Locker; l != nil {
		var unlock func()
		var err error
		if tl, ok := l.(TryLocker); ok && w == wantDue {
			var held bool
			unlock, held, err = tl.TryLock(ctx, en.key.String())
			if err == nil && !held {
				// Another replica (or a caller here) is refreshing it now:
				// its stored record reaches this replica by the watch and
				// replans it. Look again after a lock TTL in case it died,
				// at the place in line this work had: before the backlog
				// that became due meanwhile.
				e.sched.later(en.key, e.clock.Now().Add(busyRecheck), rec.Schedule().Generation)
				return en.tok.Load(), nil
			}
		} else {
			unlock, err = l.Lock(ctx, en.key.String())
		}
		if err != nil && e.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if err != nil {
			// Not the provider's fault, but a failure all the same: it is
			// recorded (status, backoff), logged and counted, so a replica
			// that cannot refresh says so instead of serving stale state.
			if h := e.opts.Hooks.LockFailure; h != nil {
				h(err)
			}
			return nil, e.fail(ctx, en, ds, rec, &TokenError{Kind: Transient, Unsent: true, Reason: "could not take the refresh lock: " + err.Error(), err: err})
		}
		defer unlock()
		// Another replica may have refreshed while we waited for the lock.
		stored, err := e.record(ctx, en.key)
		if err != nil {
			return nil, err
		}
		if stored.Schedule().Generation != rec.Schedule().Generation {
			t := e.install(en, ds, stored)
			en.mu.Lock()
			ok := satisfied(en, w, seen, e.clock.Now())
			en.mu.Unlock()
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
	ds, err = e.withSecret(ctx, ds)
	if err != nil {
		// A missing variable or file may appear (a restart with the
		// variable set, a mounted secret): transient, retried.
		return nil, e.fail(ctx, en, ds, rec, &TokenError{Kind: Transient, Local: true, Reason: err.Error(), err: err})
	}
	// After withSecret: a client certificate's key may be a reference.
	hc, err := e.httpClient(ds)
	if err != nil {
		return nil, e.fail(ctx, en, ds, rec, &TokenError{Kind: Permanent, Local: true, Reason: err.Error(), err: err})
	}
	if e.ctx.Err() != nil {
		return nil, ErrClosed
	}
	en.mu.Lock()
	conn := en.conn
	en.mu.Unlock()
	var connConfig map[string]string
	if conn != nil {
		connConfig = conn.Config
	}
	// The call sees the endpoints filled for this connection; the entry
	// keeps the datasource as configured.
	cds, err := expandedFor(ds, connConfig)
	if err != nil {
		return nil, e.fail(ctx, en, ds, rec, &TokenError{Kind: Permanent, Local: true, Reason: err.Error(), err: err})
	}
	call := &Call{Datasource: cds, HTTPClient: mappedClient(hc, cds), RedirectURI: e.opts.RedirectURI, Now: e.clock.Now,
		EndUserID: en.key.EndUser, ConnectionConfig: datasource.ConfigFor(ds, conn)}
	var detected datasource.ClientAuth
	if rec != nil {
		detected = rec.DetectedAuth
	}

	var tok *oauth2.Token
	var kind string
	sent := e.clock.Now()
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
				return nil, notAuthorized(statusText(rec), nil)
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
		secrets := sentForms(ds)
		if rec != nil {
			secrets = append(secrets, encodings(rec.RefreshToken.Reveal())...)
			secrets = append(secrets, encodings(rec.AccessToken.Reveal())...)
		}
		return nil, e.fail(ctx, en, ds, rec, classify(err, e.clock.Now(), secrets...))
	}
	return e.succeed(ctx, en, ds, rec, tok, detected, sent)
}

// withAuth runs do with the client authentication resolved from style:
// explicit styles as they are; "auto" from what worked before, else the
// provider's metadata (see autoStyle), else Basic. Under auto, a request the provider
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
		if style == datasource.ClientAuthPrivateKeyJWT {
			c.signingAlgs = e.signingAlgs(ctx, c)
		}
		tok, err := e.timed(ctx, g, kind, do)
		return tok, detected, err
	}
	c.Style = detected
	if c.Style == "" {
		c.Style = e.autoStyle(ctx, c, g)
	}
	if c.Style == datasource.ClientAuthPrivateKeyJWT {
		c.signingAlgs = e.signingAlgs(ctx, c)
	}
	tok, err := e.timed(ctx, g, kind, do)
	if err == nil {
		return tok, c.Style, nil
	}
	// Only the secret styles have another to fall back to.
	if !clientAuthFailure(err) || c.Datasource.Auth.ClientSecret.IsZero() ||
		c.Style != datasource.ClientAuthBasic && c.Style != datasource.ClientAuthBody {
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

// autoStyle picks the client authentication of "auto" without history:
// a jwt_bearer grant without a client secret authenticates no client (its
// assertion is the credential); otherwise a key-based method the
// provider's metadata lists and the datasource has the material for, else
// the secret style the metadata prefers; without metadata, Basic, or
// private_key_jwt for a client that has a key and no secret.
func (e *Engine) autoStyle(ctx context.Context, c *Call, g datasource.GrantType) datasource.ClientAuth {
	a := &c.Datasource.Auth
	if g == datasource.JWTBearer && a.ClientSecret.IsZero() {
		return clientAuthNone
	}
	md := e.disc.lookup(ctx, c.HTTPClient, a.AccessTokenURL)
	if s, ok := md.keyMethod(a); ok {
		return s
	}
	if a.ClientSecret.IsZero() && a.HasSigningKey() {
		return datasource.ClientAuthPrivateKeyJWT
	}
	if s, ok := md.authMethod(); ok {
		return datasource.ClientAuth(s)
	}
	return datasource.ClientAuthBasic
}

// signingAlgs returns the assertion algorithms the provider lists, nil
// when it publishes no metadata.
func (e *Engine) signingAlgs(ctx context.Context, c *Call) []string {
	if md := e.disc.lookup(ctx, c.HTTPClient, c.Datasource.Auth.AccessTokenURL); md != nil {
		return md.TokenEndpointAuthSigningAlgValuesSupported
	}
	return nil
}

// secretNames are the words for each write-only field in lastError.
var secretNames = map[string]string{
	"auth.clientSecret":       "client secret",
	"auth.privateKey":         "private key",
	"auth.serviceAccountJson": "service account key file",
	"auth.upstreamPrivateKey": "upstream private key",
	"auth.apiKey":             "API key",
	"auth.password":           "password",
	"auth.token":              "token",
	"auth.accessKeyId":        "access key ID",
	"auth.secretAccessKey":    "secret access key",
	"auth.sessionToken":       "session token",
}

// withSecret returns ds with every write-only field that is a reference
// resolved (a copy; ds itself is shared and keeps the references). A
// resolved service-account file fills the fields it fills on a value.
func (e *Engine) withSecret(ctx context.Context, ds *datasource.Datasource) (*datasource.Datasource, error) {
	var c *datasource.Datasource
	for _, f := range datasource.SecretFields {
		ref := ds.SecretField(f).Ref()
		if ref == "" {
			continue
		}
		if e.opts.ResolveSecret == nil {
			return ds, fmt.Errorf("%s: %s is refused: references are not enabled", secretNames[f], ref)
		}
		v, err := e.opts.ResolveSecret(ctx, ref)
		if err != nil {
			// The resolver's error names the reference (see Options).
			return ds, fmt.Errorf("%s: %w", secretNames[f], err)
		}
		if c == nil {
			c = ds.Clone()
		}
		*c.SecretField(f) = datasource.NewSecret(v)
	}
	if c == nil {
		return ds, nil
	}
	c.Auth.Normalize()
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

// expandedFor returns ds with its token endpoints filled from its
// connectionConfig and, for a connection, the connection's config over it
// (see datasource.ExpandURL), or ds itself when they hold no templates.
func expandedFor(ds *datasource.Datasource, connConfig map[string]string) (*datasource.Datasource, error) {
	return ds.Expanded(datasource.Values{Shared: ds.ConnectionConfig, Connection: connConfig})
}
