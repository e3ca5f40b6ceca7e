package grants

import (
	"context"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
)

func init() { Register(authorizationCode{}) }

// authorizationCode is RFC 6749 §4.1 with PKCE (RFC 7636, S256) unless the
// datasource turns it off. A person authorizes in a browser; the code the
// provider sends to the callback is exchanged exactly once.
type authorizationCode struct{}

func (authorizationCode) Type() datasource.GrantType { return datasource.AuthorizationCode }

func (authorizationCode) Token(context.Context, *Call) (*oauth2.Token, error) {
	return nil, ErrInteractionRequired
}

func (authorizationCode) config(c *Call) *oauth2.Config {
	a := &c.Datasource.Auth
	return &oauth2.Config{
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret.Reveal(),
		Endpoint: oauth2.Endpoint{
			AuthURL:   a.AuthorizationURL,
			TokenURL:  a.AccessTokenURL,
			AuthStyle: c.AuthStyle(),
		},
		RedirectURL: c.RedirectURI,
		Scopes:      a.Scopes(),
	}
}

// AuthCodeURL builds the authorize redirect: response_type=code,
// client_id, redirect_uri, scope, state, the S256 challenge, audience,
// resource and the custom parameters.
func (g authorizationCode) AuthCodeURL(c *Call, state string, verifier datasource.Secret) string {
	a := &c.Datasource.Auth
	var opts []oauth2.AuthCodeOption
	if a.PKCEEnabled() && !verifier.IsZero() {
		opts = append(opts, oauth2.S256ChallengeOption(verifier.Reveal()))
	}
	if a.Audience != "" {
		opts = append(opts, oauth2.SetAuthURLParam("audience", a.Audience))
	}
	if a.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", a.Resource))
	}
	// The scopes as the provider wants them: its separator, its
	// parameter (Slack user tokens: user_scope).
	if s := a.WireScope(); s != "" {
		param := a.ScopeParam
		if param == "" {
			param = "scope"
		}
		opts = append(opts, oauth2.SetAuthURLParam(param, s))
	}
	for k, v := range a.CustomAuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	cfg := g.config(c)
	cfg.Scopes = nil // set above
	return cfg.AuthCodeURL(state, opts...)
}

// Exchange trades the code (RFC 6749 §4.1.3) with the PKCE verifier. The
// client authentication style is fixed before the call: a code is
// single-use, so trying another style after a failure would fail anyway
// and is exactly the trap x/oauth2's AuthStyleAutoDetect falls into.
func (g authorizationCode) Exchange(ctx context.Context, c *Call, code string, verifier datasource.Secret) (*oauth2.Token, error) {
	creds := url.Values{}
	id, secret, style, err := c.authenticate(creds)
	if err != nil {
		return nil, err
	}
	cfg := g.config(c)
	cfg.ClientID, cfg.ClientSecret, cfg.Endpoint.AuthStyle = id, secret, style
	var opts []oauth2.AuthCodeOption
	for k, vs := range creds { // a client assertion
		opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
	}
	if !verifier.IsZero() {
		opts = append(opts, oauth2.VerifierOption(verifier.Reveal()))
	}
	for k, vs := range c.TokenParams() {
		opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
	}
	return cfg.Exchange(c.Context(ctx), code, opts...)
}
