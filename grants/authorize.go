package grants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
)

// AuthorizeRequest starts an authorization-code flow.
type AuthorizeRequest struct {
	// ReturnTo is where the callback sends the person afterwards: a
	// relative path the caller has checked.
	ReturnTo string
	// Binding ties the flow to one browser: the value of a random cookie
	// set when the flow starts, which the callback must present again.
	// Empty for flows started through the API.
	Binding string
	// EndUserID names the end user a per-user datasource's flow connects
	// (required there, refused for a shared one); EndUser and
	// ConnectionConfig are kept on the connection.
	EndUserID        string
	EndUser          datasource.EndUser
	ConnectionConfig map[string]string
}

// AuthorizeURL starts an authorization-code flow for datasource id and
// returns the provider URL to send the person to. It stores a one-time
// state (random, 256 bits, expiring after datasource.StateTTL, bound to the
// datasource and the browser binding, only its hash as key, the PKCE
// verifier sealed).
//
// Errors: datasource.ErrNotFound; ErrNotInteractive for a grant that needs
// no person; ErrNoTokens for an auth type other than OAuth 2.0; ErrEndUserRequired or ErrNotPerUser when r.EndUserID does not
// fit the datasource's connection mode; datasource.ErrEndUserID.
func (e *Engine) AuthorizeURL(ctx context.Context, id string, r AuthorizeRequest) (string, error) {
	d, err := e.store.Datasource(ctx, id)
	if err != nil {
		return "", err
	}
	switch {
	case d.Auth.Kind().Static():
		return "", ErrNoTokens // end users enter a credential on the connect page
	case d.PerUser() && r.EndUserID == "":
		return "", ErrEndUserRequired
	case !d.PerUser() && r.EndUserID != "":
		return "", ErrNotPerUser
	case r.EndUserID != "":
		if err := datasource.ValidEndUserID(r.EndUserID); err != nil {
			return "", err
		}
	}
	g, err := Lookup(d.Auth.GrantType)
	if err != nil {
		return "", err
	}
	ig, ok := g.(Interactive)
	if !ok {
		return "", ErrNotInteractive
	}
	if e.opts.RedirectURI == "" {
		return "", errors.New("grants: no redirect URI configured (set the public URL)")
	}
	if d.PerUser() {
		if err := d.CheckConnectionConfig(r.ConnectionConfig); err != nil {
			return "", err
		}
	}
	// The endpoints as this flow uses them: a connection's values over
	// the datasource's.
	expanded, err := expandedFor(d, r.ConnectionConfig)
	if err != nil {
		return "", err
	}
	e.purgeStates(ctx)
	state := randomToken()
	var verifier datasource.Secret
	if d.Auth.PKCEEnabled() {
		verifier = datasource.NewSecret(oauth2.GenerateVerifier())
	}
	now := e.clock.Now()
	st := &datasource.State{
		Key:          StateKey(state),
		DatasourceID: id,
		Verifier:     verifier,
		ReturnTo:     r.ReturnTo,
		RedirectURI:  e.opts.RedirectURI,
		Fingerprint:  d.Auth.Fingerprint(),
		CreatedAt:    now,
		ExpiresAt:    now.Add(datasource.StateTTL),

		EndUserID:        r.EndUserID,
		EndUser:          r.EndUser,
		ConnectionConfig: r.ConnectionConfig,
	}
	if r.Binding != "" {
		st.Binding = bindingHash(r.Binding)
	}
	if err := e.store.SaveState(ctx, st); err != nil {
		return "", err
	}
	call := &Call{Datasource: expanded, RedirectURI: e.opts.RedirectURI}
	return ig.AuthCodeURL(call, state, verifier), nil
}

// StartTTL is how long a start token stays usable: it is minted right
// before the browser is sent to it.
const StartTTL = 2 * time.Minute

// startKeyPrefix sets start tokens apart from states in the state store:
// a state's key is a bare hex digest, so no callback can ever find a start
// token, nor RedeemStart a state.
const startKeyPrefix = "start:"

// NewStart mints a one-time start token for a browser flow of datasource
// id, which RedeemStart turns into the flow. Starting a browser flow takes
// these two steps because the second is a browser navigation (a GET that
// sets the binding cookie), which any page can make a signed-in browser
// send: the token, handed out only to an authenticated request that no
// other site can make, is what makes that GET the person's own. The token
// is random (256 bits), stored only as a hash with the pending states,
// and expires after StartTTL. returnTo is stored for the flow; the caller
// has checked it.
//
// Errors: datasource.ErrNotFound; ErrNotInteractive for a grant that
// needs no person; ErrNoTokens for an auth type other than OAuth 2.0; store failures.
func (e *Engine) NewStart(ctx context.Context, id, returnTo string) (token string, expires time.Time, err error) {
	d, err := e.store.Datasource(ctx, id)
	if err != nil {
		return "", time.Time{}, err
	}
	if d.Auth.Kind().Static() {
		return "", time.Time{}, ErrNoTokens
	}
	g, err := Lookup(d.Auth.GrantType)
	if err != nil {
		return "", time.Time{}, err
	}
	if _, ok := g.(Interactive); !ok {
		return "", time.Time{}, ErrNotInteractive
	}
	if d.PerUser() {
		return "", time.Time{}, ErrEndUserRequired // end users connect through connect sessions
	}
	e.purgeStates(ctx)
	token = randomToken()
	now := e.clock.Now()
	st := &datasource.State{
		Key:          startKeyPrefix + StateKey(token),
		DatasourceID: id,
		ReturnTo:     returnTo,
		CreatedAt:    now,
		ExpiresAt:    now.Add(StartTTL),
	}
	if err := e.store.SaveState(ctx, st); err != nil {
		return "", time.Time{}, err
	}
	return token, st.ExpiresAt, nil
}

// RedeemStart consumes a start token minted by NewStart for datasource
// id — once, atomically, on any replica of the store — and starts the
// flow as AuthorizeURL does, with the returnTo given to NewStart and the
// state bound to binding (the browser's cookie).
//
// Errors: ErrInvalidStart (wrapped, with the reason); then those of
// AuthorizeURL.
func (e *Engine) RedeemStart(ctx context.Context, id, token, binding string) (string, error) {
	if token == "" || len(token) > 512 {
		return "", fmt.Errorf("%w: none given", ErrInvalidStart)
	}
	st, err := e.store.ConsumeState(ctx, startKeyPrefix+StateKey(token))
	if errors.Is(err, datasource.ErrNotFound) {
		return "", fmt.Errorf("%w: unknown or already used", ErrInvalidStart)
	}
	if err != nil {
		return "", err
	}
	if st.Expired(e.clock.Now()) {
		return "", fmt.Errorf("%w: expired", ErrInvalidStart)
	}
	if st.DatasourceID != id {
		return "", fmt.Errorf("%w: minted for another datasource", ErrInvalidStart)
	}
	return e.AuthorizeURL(ctx, id, AuthorizeRequest{ReturnTo: st.ReturnTo, Binding: binding})
}

// StateKey is the store key of a state parameter: its SHA-256, so the
// parameter itself, which works as a bearer credential for the callback,
// is never stored.
func StateKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return hex.EncodeToString(h[:])
}

func bindingHash(b string) []byte {
	h := sha256.Sum256([]byte("grantd binding\x00" + b))
	return h[:]
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewBinding returns a value for a browser binding cookie.
func NewBinding() string { return randomToken() }

// CallbackRequest is what the provider sent to the callback, plus the
// browser's binding cookie.
type CallbackRequest struct {
	State            string
	Code             string
	Error            string
	ErrorDescription string
	Binding          string
}

// CallbackResult is the outcome of a callback whose state was valid.
type CallbackResult struct {
	DatasourceID string
	// EndUserID is the end user connected, for a per-user datasource.
	EndUserID string
	// Reconnected is true when the end user already had a connection: it
	// was kept (same createdAt) and its tokens replaced.
	Reconnected bool
	// ReturnTo is the path stored when the flow started.
	ReturnTo string
	// ErrorCode is empty on success; else the provider's error code
	// (access_denied, invalid_grant, …) or grantd's (datasource_changed,
	// token_request_failed).
	ErrorCode        string
	ErrorDescription string
	Authorization    datasource.Authorization
}

// Callback completes an authorization-code flow. The state is read and
// checked first: unknown, expired, or started in another browser →
// ErrInvalidState, and the state is left as it was, so a request from the
// wrong browser cannot use up the right one's flow. Then it is consumed,
// atomically, so a callback URL works once. Then: the provider's error →
// reported in the result; the datasource gone or reconfigured since the
// flow started → reported; else the code is exchanged (with the PKCE
// verifier and the stored redirect URI, once, never retried) and the
// tokens stored.
//
// The error is ErrInvalidState (wrapped, with the reason) or a store
// failure; everything after a valid state is in the result.
func (e *Engine) Callback(ctx context.Context, r CallbackRequest) (*CallbackResult, error) {
	if r.State == "" || len(r.State) > 512 {
		return nil, &StateError{Reason: "no state parameter"}
	}
	stateKey := StateKey(r.State)
	check := func(st *datasource.State, err error) error {
		if errors.Is(err, datasource.ErrNotFound) {
			return &StateError{Reason: "unknown or already used"}
		}
		if err != nil {
			return err
		}
		if st.Expired(e.clock.Now()) {
			return &StateError{Reason: "expired"}
		}
		if st.Connect {
			return &StateError{Reason: "unknown or already used"}
		}
		if st.Binding != nil && subtle.ConstantTimeCompare(st.Binding, bindingHash(r.Binding)) != 1 {
			return &StateError{Reason: "started in another browser"}
		}
		return nil
	}
	if err := check(e.store.State(ctx, stateKey)); err != nil {
		return nil, err
	}
	// Two callbacks of the right browser may both get here: one consumes.
	// A state never changes once saved, so what is consumed is what was
	// checked; it is checked again all the same.
	st, err := e.store.ConsumeState(ctx, stateKey)
	if err := check(st, err); err != nil {
		return nil, err
	}
	key := datasource.Key{Datasource: st.DatasourceID, EndUser: st.EndUserID}
	res := &CallbackResult{DatasourceID: st.DatasourceID, EndUserID: st.EndUserID, ReturnTo: st.ReturnTo}
	fail := func(code, desc string) (*CallbackResult, error) {
		res.ErrorCode, res.ErrorDescription = code, desc
		if a, err := e.Status(ctx, key); err == nil {
			res.Authorization = a
		}
		e.log.Info("authorization failed", "datasource", st.DatasourceID, "endUser", st.EndUserID, "error", code)
		return res, nil
	}
	if r.Error != "" {
		return fail(truncate(r.Error, 64), truncate(r.ErrorDescription, 300))
	}
	if r.Code == "" || len(r.Code) > 4096 {
		return fail("invalid_request", "the provider sent no authorization code")
	}
	d, err := e.store.Datasource(ctx, st.DatasourceID)
	if errors.Is(err, datasource.ErrNotFound) {
		return fail("datasource_not_found", "the datasource was deleted while authorizing")
	}
	if err != nil {
		return nil, err
	}
	if d.Auth.Fingerprint() != st.Fingerprint || d.PerUser() != (st.EndUserID != "") {
		return fail("datasource_changed", "the datasource's OAuth settings changed while authorizing; start again")
	}
	g, err := Lookup(d.Auth.GrantType)
	if err != nil {
		return fail("unsupported_grant_type", err.Error())
	}
	ig, ok := g.(Interactive)
	if !ok {
		return fail("unsupported_grant_type", "the datasource no longer uses an interactive grant")
	}
	tok, next, reconnected, err := e.exchange(ctx, d, ig, r.Code, st)
	if err != nil {
		te := classify(err, e.clock.Now(), d.Auth.ClientSecret.Reveal(), r.Code, st.Verifier.Reveal())
		e.noteError(ctx, key, te.Reason, next)
		code := te.Code
		if code == "" {
			code = "token_request_failed"
		}
		return fail(code, te.Reason)
	}
	res.Authorization, res.Reconnected = tok, reconnected
	return res, nil
}

// exchange trades the code and stores the tokens as the datasource's new
// record, replacing whatever was there (a new authorization supersedes).
// On failure, next is the client authentication to remember for the next
// attempt (see withAuth).
//
// For a per-user datasource the end user's connection is created, or kept
// when there is one (reconnected: same createdAt, new tokens), before the
// tokens are stored under it.
func (e *Engine) exchange(ctx context.Context, d *datasource.Datasource, ig Interactive, code string, st *datasource.State) (_ datasource.Authorization, next datasource.ClientAuth, reconnected bool, _ error) {
	key := datasource.Key{Datasource: d.ID, EndUser: st.EndUserID}
	resolved, err := e.withSecret(ctx, d)
	if err != nil {
		return datasource.Authorization{}, "", false, &TokenError{Kind: Transient, Reason: err.Error(), err: err}
	}
	resolved, err = expandedFor(resolved, st.ConnectionConfig)
	if err != nil {
		return datasource.Authorization{}, "", false, &TokenError{Kind: Permanent, Local: true, Reason: err.Error(), err: err}
	}
	hc, err := e.httpClient(resolved)
	if err != nil {
		return datasource.Authorization{}, "", false, err
	}
	call := &Call{Datasource: resolved, HTTPClient: mappedClient(hc, resolved), RedirectURI: st.RedirectURI, Now: e.clock.Now,
		EndUserID: st.EndUserID, ConnectionConfig: st.ConnectionConfig}
	prev, err := e.record(ctx, key)
	if err != nil {
		return datasource.Authorization{}, "", false, err
	}
	var detected datasource.ClientAuth
	if prev != nil {
		detected = prev.DetectedAuth
	}
	tok, detected, err := e.withAuth(ctx, call, d.Auth.ClientAuthentication, detected, false, d.Auth.GrantType, "authorization_code",
		func(ctx context.Context) (*oauth2.Token, error) { return ig.Exchange(ctx, call, code, st.Verifier) })
	if err != nil {
		secrets := append(sentForms(resolved), encodings(code)...)
		return datasource.Authorization{}, detected, false, classify(err, e.clock.Now(), append(secrets, encodings(st.Verifier.Reveal())...)...)
	}
	if st.EndUserID != "" {
		now := e.now()
		created, err := e.store.SaveConnection(ctx, &datasource.Connection{DatasourceID: d.ID, EndUserID: st.EndUserID,
			EndUser: st.EndUser, Config: st.ConnectionConfig, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			return datasource.Authorization{}, detected, false, err
		}
		reconnected = !created
		e.forgetEntry(key) // it was loaded without the connection
	}
	// Store under the key's single-flight, so a refresh in flight cannot
	// overwrite the new grant with the old one.
	var out datasource.Authorization
	err = e.exclusive(ctx, key, func(en *entry, cur *datasource.TokenRecord) error {
		var gen uint64
		if cur != nil {
			gen = cur.Generation
		}
		nr := newRecord(d, tok, e.clock.Now(), gen+1, datasource.Secret{}, "", nil, detected)
		if err := e.save(ctx, key, nr, gen); err != nil {
			return err
		}
		e.install(en, d, nr)
		out = nr.Authorization()
		return nil
	})
	if err == nil {
		e.checkSoon(key, d)
	}
	return out, detected, reconnected, err
}

// noteError records lastError, and the client authentication to try next,
// on the datasource without changing its token or status (a failed
// re-authorization leaves a working token be).
func (e *Engine) noteError(ctx context.Context, k datasource.Key, reason string, next datasource.ClientAuth) {
	err := e.exclusive(ctx, k, func(en *entry, cur *datasource.TokenRecord) error {
		var nr datasource.TokenRecord
		var gen uint64
		if cur != nil {
			nr, gen = *cur, cur.Generation
		} else {
			nr.Status = datasource.StatusUnauthorized
		}
		nr.LastError = reason
		if next != "" {
			nr.DetectedAuth = next
		}
		if err := e.save(ctx, k, &nr, gen); err != nil {
			return err
		}
		e.install(en, nil, &nr)
		return nil
	})
	if err != nil && !errors.Is(err, datasource.ErrNotFound) {
		e.log.Warn("recording a failed authorization failed", "datasource", k.Datasource, "endUser", k.EndUser, "err", err)
	}
}
