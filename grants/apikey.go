package grants

import "github.com/grantd/grantd/datasource"

func init() { RegisterScheme(apiKeyScheme{}) }

// apiKeyScheme sends the datasource's API key where an OAuth 2.0
// datasource sends its access token: tokenPlacement, headerName,
// headerPrefix and queryParamName, with the same defaults and the same
// code (AccessToken.place), so a key in X-Api-Key with no prefix, in
// Authorization with "Bearer", or in ?api_key= behaves exactly like a
// token there.
type apiKeyScheme struct{}

func (apiKeyScheme) Type() datasource.AuthType { return datasource.AuthAPIKey }

func (apiKeyScheme) Prepare(a *datasource.OAuth2, c *datasource.Credential) (Authorizer, error) {
	if c.APIKey.IsZero() {
		return nil, &CredentialError{Reason: "no API key"}
	}
	return placed{newAccessToken(a, &datasource.TokenRecord{AccessToken: c.APIKey})}, nil
}
