package grants

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/grantd/grantd/datasource"
)

// Grant obtains tokens for one grant type. Implementations register
// themselves with Register in an init function, one file per grant, so a
// new grant (jwt_bearer, password, device_code) is one file here and one
// constant in package datasource.
//
// Refreshing with a refresh token (RFC 6749 §6) is the same for every grant
// and is done by the engine, not by the Grant.
type Grant interface {
	// Type is the grant type, the registry key.
	Type() datasource.GrantType
	// Token asks the token endpoint for a new token without a person
	// present. Grants that need a person return ErrInteractionRequired.
	Token(ctx context.Context, c *Call) (*oauth2.Token, error)
}

// Interactive is a Grant that needs a person in a browser: it builds the
// authorize redirect and exchanges the code the provider sends back.
type Interactive interface {
	Grant
	// AuthCodeURL returns the URL to send the person to.
	AuthCodeURL(c *Call, state string, verifier datasource.Secret) string
	// Exchange trades the code for tokens. It is never retried: a code is
	// single-use.
	Exchange(ctx context.Context, c *Call, code string, verifier datasource.Secret) (*oauth2.Token, error)
}

// OnDemand is a Grant whose tokens are made for each caller from what the
// caller brings (token exchange: the caller's own token), kept in memory
// and never stored. The engine's stored-token machinery (a first token on
// create, background refresh) leaves such datasources alone; Target.Send
// and Target.Token get their tokens.
type OnDemand interface {
	Grant
	onDemand()
}

// Call carries what a Grant needs for one request.
type Call struct {
	Datasource *datasource.Datasource
	// Style is the client authentication to use, already resolved from
	// "auto": ClientAuthBasic, ClientAuthBody, ClientAuthPrivateKeyJWT,
	// ClientAuthTLS, or clientAuthNone.
	Style datasource.ClientAuth
	// HTTPClient makes the request; it dials through the guard, trusts
	// the datasource's CA and presents its client certificate, if any.
	HTTPClient *http.Client
	// RedirectURI is grantd's callback URL.
	RedirectURI string

	// EndUserID and ConnectionConfig name the end user of a per-user
	// datasource the token is for; both are empty for a shared one.
	// jwt_bearer makes connectionConfig.subject, else the end user id,
	// the assertion's subject (Google domain-wide delegation).
	EndUserID        string
	ConnectionConfig map[string]string
	// SubjectToken is the caller's token that token_exchange trades
	// (RFC 8693 subject_token).
	SubjectToken datasource.Secret
	// Now is the clock assertions are issued by; nil means time.Now.
	Now func() time.Time

	// signingAlgs are the provider's
	// token_endpoint_auth_signing_alg_values_supported, when known.
	signingAlgs []string
}

// Context returns ctx carrying the call's HTTP client, as x/oauth2 wants.
func (c *Call) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.HTTPClient)
}

// AuthStyle returns the x/oauth2 style of c.Style. A public client (no
// secret) always sends client_id in the body (RFC 6749 §4.1.3), and so do
// the key-based styles, whose credential is not a secret (see
// authenticate).
func (c *Call) AuthStyle() oauth2.AuthStyle {
	switch c.Style {
	case datasource.ClientAuthBody, datasource.ClientAuthPrivateKeyJWT, datasource.ClientAuthTLS, clientAuthNone:
		return oauth2.AuthStyleInParams
	}
	if c.Datasource.Auth.ClientSecret.IsZero() {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// TokenParams returns the extra form fields of every token request:
// audience, resource (RFC 8707) and the configured tokenParams.
func (c *Call) TokenParams() url.Values {
	a := &c.Datasource.Auth
	v := url.Values{}
	for k, val := range a.TokenParams {
		v.Set(k, val)
	}
	if a.Audience != "" {
		v.Set("audience", a.Audience)
	}
	if a.Resource != "" {
		v.Set("resource", a.Resource)
	}
	return v
}

// Post sends a token request with form fields params (grant_type
// included) through x/oauth2, which checks the status, parses RFC 6749
// §5.2 error bodies into *oauth2.RetrieveError, and accepts JSON or
// form-encoded answers with expires_in as a number or a string.
//
// It uses clientcredentials.Config because that is the x/oauth2 entry point
// that takes arbitrary form fields (grant_type may be overridden), which a
// refresh with scope, audience or resource needs and oauth2.Config's
// refresh does not offer.
func (c *Call) Post(ctx context.Context, params url.Values) (*oauth2.Token, error) {
	id, secret, style, err := c.authenticate(params)
	if err != nil {
		return nil, err
	}
	cfg := clientcredentials.Config{
		ClientID:       id,
		ClientSecret:   secret,
		TokenURL:       c.Datasource.Auth.AccessTokenURL,
		EndpointParams: params,
		AuthStyle:      style,
	}
	return cfg.Token(c.Context(ctx))
}

// refresh redeems a refresh token (RFC 6749 §6). The scope goes along only
// when sendScopeOnRefresh is set: most providers keep the granted scope,
// some refuse a scope parameter on refresh.
func (c *Call) refresh(ctx context.Context, refreshToken datasource.Secret) (*oauth2.Token, error) {
	v := c.TokenParams()
	v.Set("grant_type", "refresh_token")
	v.Set("refresh_token", refreshToken.Reveal())
	if c.Datasource.Auth.SendScopeOnRefresh {
		if s := c.Datasource.Auth.WireScope(); s != "" {
			v.Set("scope", s)
		}
	}
	return c.Post(ctx, v)
}

var (
	registryMu sync.RWMutex
	registry   = map[datasource.GrantType]Grant{}
)

// Register makes g available for its grant type. It panics if the type is
// registered twice.
func Register(g Grant) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[g.Type()]; dup {
		panic(fmt.Sprintf("grants: %s registered twice", g.Type()))
	}
	registry[g.Type()] = g
}

// Lookup returns the Grant for t, or ErrUnknownGrant.
func Lookup(t datasource.GrantType) (Grant, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	g, ok := registry[t]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownGrant, t)
	}
	return g, nil
}
