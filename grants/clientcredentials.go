package grants

import (
	"context"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
)

func init() { Register(clientCredentials{}) }

// clientCredentials is RFC 6749 §4.4: the client asks for a token as
// itself. Requests are repeatable, so "auto" client authentication may
// fall back from Basic to body on them.
type clientCredentials struct{}

func (clientCredentials) Type() datasource.GrantType { return datasource.ClientCredentials }

func (clientCredentials) Token(ctx context.Context, c *Call) (*oauth2.Token, error) {
	v := c.TokenParams()
	v.Set("grant_type", "client_credentials")
	if s := c.Datasource.Auth.WireScope(); s != "" {
		v.Set("scope", s)
	}
	return c.Post(ctx, v)
}
