package grants

import (
	"context"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
)

func init() { Register(jwtBearer{}) }

// jwtBearer is RFC 7523 §2.1: grantd signs an assertion with the
// datasource's private key (or its Google service account's) and trades it
// for a token, with no person present. The assertion's claims are iss (the
// client id: the service account's email), sub (see subject), aud (the
// token endpoint), iat, nbf, exp (five minutes on) and a unique jti; the
// scope goes both as a claim, which Google reads, and as the RFC's form
// field.
//
// Requests are repeatable, like client credentials. The client
// authenticates only when told to (private_key_jwt, tls_client_auth) or
// when it has a client secret: the assertion is credential enough for
// Google and RFC 7523 §3.1.
type jwtBearer struct{}

func (jwtBearer) Type() datasource.GrantType { return datasource.JWTBearer }

func (jwtBearer) Token(ctx context.Context, c *Call) (*oauth2.Token, error) {
	a := &c.Datasource.Auth
	scope := datasource.JoinScope(a.Scopes())
	var extra map[string]any
	if scope != "" {
		extra = map[string]any{"scope": scope}
	}
	assertion, err := c.sign(a.ClientID, c.subject(), a.AccessTokenURL, extra)
	if err != nil {
		return nil, err
	}
	v := c.TokenParams()
	v.Set("grant_type", jwtBearerGrantType)
	v.Set("assertion", assertion)
	if scope != "" {
		v.Set("scope", scope)
	}
	return c.Post(ctx, v)
}

// subject is the sub of a jwt_bearer assertion: for an end user of a
// per-user datasource, their connectionConfig.subject or else their id
// (Google domain-wide delegation impersonates them); otherwise the
// configured subject, else the client itself.
func (c *Call) subject() string {
	if c.EndUserID != "" {
		if s := c.ConnectionConfig["subject"]; s != "" {
			return s
		}
		return c.EndUserID
	}
	if s := c.Datasource.Auth.Subject; s != "" {
		return s
	}
	return c.Datasource.Auth.ClientID
}
