package grants

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
)

func init() { Register(tokenExchange{}) }

// ErrSubjectTokenRequired is returned for a token_exchange datasource
// asked for a token without the caller's subject token (the server reads
// it from the Grantd-Subject-Token header; see Target.WithSubjectToken).
var ErrSubjectTokenRequired = errors.New("grants: this datasource exchanges the caller's token: a subject token is required")

// tokenExchange is RFC 8693: the caller brings a token of its own — the
// signed-in user's SSO token — with each request, and grantd trades it at
// the token endpoint for a token of the datasource's API (grant_type
// urn:ietf:params:oauth:grant-type:token-exchange, subject_token,
// subject_token_type, and requested_token_type, audience, resource and
// scope when configured).
//
// The tokens it gets belong to whoever brought the subject token, so they
// are never stored: they are kept in memory (exchanges), keyed by the
// datasource and a SHA-256 of the subject token, until the earlier of
// their own expiry and the subject token's. Neither token is ever logged.
type tokenExchange struct{}

func (tokenExchange) Type() datasource.GrantType { return datasource.TokenExchange }

func (tokenExchange) onDemand() {}

func (tokenExchange) Token(ctx context.Context, c *Call) (*oauth2.Token, error) {
	if c.SubjectToken.IsZero() {
		return nil, ErrSubjectTokenRequired
	}
	a := &c.Datasource.Auth
	v := c.TokenParams()
	v.Set("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")
	v.Set("subject_token", c.SubjectToken.Reveal())
	v.Set("subject_token_type", a.SubjectType())
	if a.RequestedTokenType != "" {
		v.Set("requested_token_type", a.RequestedTokenType)
	}
	if s := datasource.JoinScope(a.Scopes()); s != "" {
		v.Set("scope", s)
	}
	return c.Post(ctx, v)
}

// onDemandGrant reports whether grant type g makes its tokens per caller
// (OnDemand) instead of keeping one in the store.
func onDemandGrant(g datasource.GrantType) bool {
	gr, err := Lookup(g)
	if err != nil {
		return false
	}
	_, ok := gr.(OnDemand)
	return ok
}

// Bounds of the exchanged-token cache.
const (
	// maxExchanges bounds the tokens kept: beyond it, expired ones go
	// first, then any (a caller whose token went makes a new exchange).
	maxExchanges = 10_000
	// subjectLifetimeUnknown is how long an exchanged token is kept when
	// the subject token's own expiry cannot be read (it is not a JWT): the
	// subject token may have been revoked or expired since, and only the
	// provider can tell.
	subjectLifetimeUnknown = 5 * time.Minute
)

// exchangeKey names an exchanged token: the datasource and the SHA-256
// of the subject token (the token itself is never kept as a key).
type exchangeKey struct {
	id  string
	sum [32]byte
}

// exchanged is one exchange: in flight until done is closed, then its
// token or error.
type exchanged struct {
	done    chan struct{}
	tok     *AccessToken // nil on error
	err     error
	expires time.Time // the earlier of the token's and the subject token's expiry
}

// exchanges is the in-memory cache of exchanged tokens, with one exchange
// in flight per key. The zero value is ready to use; safe for concurrent
// use.
type exchanges struct {
	mu sync.Mutex // guards m
	m  map[exchangeKey]*exchanged
}

// forget drops every exchanged token of datasource id: its configuration
// changed, or it was deleted.
func (x *exchanges) forget(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k := range x.m {
		if k.id == id {
			delete(x.m, k)
		}
	}
}

// put adds an exchange in flight, making room first when the cache is
// full. x.mu is held.
func (x *exchanges) put(k exchangeKey, v *exchanged, now time.Time) {
	if x.m == nil {
		x.m = map[exchangeKey]*exchanged{}
	}
	if len(x.m) >= maxExchanges {
		for k, e := range x.m {
			if isDone(e) && !now.Before(e.expires) {
				delete(x.m, k)
			}
		}
		for k, e := range x.m { // still full: any finished one (random order)
			if len(x.m) < maxExchanges {
				break
			}
			if isDone(e) {
				delete(x.m, k)
			}
		}
	}
	x.m[k] = v
}

func isDone(e *exchanged) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// exchangeToken returns a token for subject on token_exchange datasource
// ds: the one in memory while it is fresh, else the result of one
// exchange shared by every caller with the same subject token. refused is
// a token the upstream refused: a cached token that is still it is not
// returned again.
//
// Errors: ErrSubjectTokenRequired; *NotAuthorizedError when the subject
// token has expired or the provider refuses the exchange for good
// (invalid_grant: the subject token is not acceptable); *TokenError for a
// transient failure; ErrClosed.
func (e *Engine) exchangeToken(ctx context.Context, ds *datasource.Datasource, subject datasource.Secret, refused *AccessToken) (*AccessToken, error) {
	if subject.IsZero() {
		return nil, ErrSubjectTokenRequired
	}
	now := e.clock.Now()
	subjectExpiry, known := jwtExpiry(subject.Reveal())
	if known && !now.Before(subjectExpiry) {
		return nil, notAuthorized("the subject token has expired", nil)
	}
	if !known {
		subjectExpiry = now.Add(subjectLifetimeUnknown)
	}
	k := exchangeKey{id: ds.ID, sum: sha256.Sum256([]byte(subject.Reveal()))}
	for {
		if e.ctx.Err() != nil {
			return nil, ErrClosed
		}
		e.exch.mu.Lock()
		x := e.exch.m[k]
		if x != nil && isDone(x) {
			if x.err == nil && x.tok != refused && fresh(x.tok, now) && now.Before(x.expires) {
				e.exch.mu.Unlock()
				return x.tok, nil
			}
			delete(e.exch.m, k)
			x = nil
		}
		if x == nil {
			x = &exchanged{done: make(chan struct{})}
			e.exch.put(k, x, now)
			e.wg.Add(1)
			go e.runExchange(k, x, ds, subject, subjectExpiry)
		}
		e.exch.mu.Unlock()
		select {
		case <-x.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if x.err != nil {
			return nil, x.err
		}
		if x.tok == refused {
			continue // finished before the refusal was seen: exchange again
		}
		return x.tok, nil
	}
}

// runExchange makes one exchange and hands its result to everyone
// waiting. A failed exchange is not kept: the next caller tries again.
func (e *Engine) runExchange(k exchangeKey, x *exchanged, ds *datasource.Datasource, subject datasource.Secret, subjectExpiry time.Time) {
	defer e.wg.Done()
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.TokenTimeout+5*time.Second)
	defer cancel()
	tok, expires, err := e.exchangeOnce(ctx, ds, subject)
	if err == nil {
		if subjectExpiry.Before(expires) {
			expires = subjectExpiry
		}
		x.tok = newAccessToken(&ds.Auth, &datasource.TokenRecord{
			AccessToken: datasource.NewSecret(tok.AccessToken), TokenType: tokenType(tok),
			Expiry: expires, LastRefreshedAt: e.clock.Now(),
		})
		x.expires = expires
	}
	x.err = err
	e.exch.mu.Lock()
	if err != nil && e.exch.m[k] == x {
		delete(e.exch.m, k)
	}
	e.exch.mu.Unlock()
	close(x.done)
}

// exchangeOnce is the token request of an exchange. Its errors are
// classified and scrubbed of the subject token and the client's secrets.
func (e *Engine) exchangeOnce(ctx context.Context, ds *datasource.Datasource, subject datasource.Secret) (*oauth2.Token, time.Time, error) {
	g, err := Lookup(ds.Auth.GrantType)
	if err != nil {
		return nil, time.Time{}, err
	}
	ds, err = e.withSecret(ctx, ds)
	if err != nil {
		return nil, time.Time{}, &TokenError{Kind: Transient, Local: true, Reason: err.Error(), err: err}
	}
	hc, err := e.httpClient(ds)
	if err != nil {
		return nil, time.Time{}, &TokenError{Kind: Permanent, Local: true, Reason: err.Error(), err: err}
	}
	if ds, err = expandedFor(ds, nil); err != nil {
		return nil, time.Time{}, &TokenError{Kind: Permanent, Local: true, Reason: err.Error(), err: err}
	}
	call := &Call{Datasource: ds, HTTPClient: mappedClient(hc, ds), RedirectURI: e.opts.RedirectURI, SubjectToken: subject, Now: e.clock.Now}
	tok, _, err := e.withAuth(ctx, call, ds.Auth.ClientAuthentication, "", true, g.Type(), string(g.Type()),
		func(ctx context.Context) (*oauth2.Token, error) { return g.Token(ctx, call) })
	if err != nil {
		if e.ctx.Err() != nil {
			return nil, time.Time{}, ErrClosed
		}
		te := classify(err, e.clock.Now(), append(sentForms(ds), encodings(subject.Reveal())...)...)
		e.log.Warn("token exchange failed", "datasource", ds.ID, "kind", te.Kind, "reason", te.Reason)
		if te.Kind == Permanent {
			return nil, time.Time{}, notAuthorized("the token exchange was refused: "+te.Reason, te)
		}
		return nil, time.Time{}, te
	}
	return tok, expiryOf(tok, e.clock.Now(), ds.Auth.ExpiresIn()), nil
}

func tokenType(tok *oauth2.Token) string {
	if tok.TokenType == "" {
		return "Bearer"
	}
	return tok.TokenType
}

// WithSubjectToken returns t carrying the caller's subject token, which
// Send and Token trade for the datasource's token when it uses
// token_exchange (other grants ignore it). The token is kept in memory
// for as long as t is, and its SHA-256 as long as the exchanged token.
func (t Target) WithSubjectToken(tok string) Target {
	t.subject = datasource.NewSecret(tok)
	return t
}

// Token returns a fresh access token for the target: the datasource's
// stored one (Engine.Token), or for token_exchange the one exchanged for
// the target's subject token; for auth types bearer and apiKey, the
// credential itself (see staticToken). Errors are those of Engine.Token,
// and ErrSubjectTokenRequired.
func (t Target) Token(ctx context.Context) (AccessToken, error) {
	if t.ds.Auth.Kind().Static() {
		return t.staticToken(ctx)
	}
	if t.ds.Auth.GrantType != datasource.TokenExchange {
		return t.e.Token(ctx, t.key)
	}
	tok, err := t.e.exchangeToken(ctx, t.ds, t.subject, nil)
	if err != nil {
		return AccessToken{}, err
	}
	return *tok, nil
}

// sendExchanged is Send for a token_exchange datasource: the token comes
// from the exchange of the target's subject token, and an upstream 401
// for a token older than MinAgeForForcedRefresh makes one new exchange
// (shared by everyone with that subject token) and one retry.
func (t Target) sendExchanged(ctx context.Context, req Request, replay bool, send func() (int, error)) error {
	tok, err := t.e.exchangeToken(ctx, t.ds, t.subject, nil)
	if err != nil {
		return err
	}
	tok.place(req)
	status, err := send()
	if err != nil || !replay || !t.ds.Auth.RefreshesOn(status) {
		return err
	}
	if t.e.clock.Now().Sub(tok.obtained) < MinAgeForForcedRefresh {
		return nil
	}
	newTok, err := t.e.exchangeToken(ctx, t.ds, t.subject, tok)
	if err != nil {
		return nil // the upstream's own refusal is the better answer
	}
	newTok.place(req)
	_, err = send()
	return err
}
