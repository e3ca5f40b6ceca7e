package grants

import "github.com/grantd/grantd/datasource"

func init() { RegisterScheme(bearerScheme{}) }

// bearerScheme sends a fixed token as Authorization: Bearer <token>
// (RFC 6750 §2.1): a personal access token, a long-lived API token. For
// another header or prefix, use an apiKey datasource.
type bearerScheme struct{}

func (bearerScheme) Type() datasource.AuthType { return datasource.AuthBearer }

func (bearerScheme) Prepare(_ *datasource.OAuth2, c *datasource.Credential) (Authorizer, error) {
	if c.Token.IsZero() {
		return nil, &CredentialError{Reason: "no token"}
	}
	return header{"Authorization", "Bearer " + c.Token.Reveal()}, nil
}
