package provider

import "github.com/grantd/grantd/datasource"

var auth0 = &Entry{
	Name:        "auth0",
	Title:       "Auth0",
	Description: "Tokens from an Auth0 tenant for the customer's own APIs",
	Docs:        "https://auth0.com/docs/flows/call-your-api-using-the-authorization-code-flow",
	References: []string{
		"https://auth0.com/docs/tokens/guides/get-access-tokens",
		"https://auth0.com/docs/refresh-token",
	},
	GrantTypes:       []datasource.GrantType{datasource.AuthorizationCode, datasource.ClientCredentials},
	AuthorizationURL: "https://{domain}/authorize",
	AccessTokenURL:   "https://{domain}/oauth/token",
	RevocationURL:    "https://{domain}/oauth/revoke",
	ConnectionConfig: []ConfigField{{
		Name:        "domain",
		Description: "The tenant's domain (or its custom domain)",
		Example:     "dev-abc123.us.auth0.com",
		Required:    true,
	}},
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"openid", "offline_access"},
	ClientAuthentication: datasource.ClientAuthBody,
	PKCE:                 PKCESupported,
	Notes: []string{
		"url is the customer's own API: set it on the datasource.",
		"Set audience to the API's identifier (auth.audience): without it Auth0 issues an opaque token for its userinfo endpoint only. Client credentials require it.",
		"offline_access gives a refresh token only when the API allows offline access; refresh token rotation is a per-application setting.",
		"The revocation endpoint revokes refresh tokens.",
		"Client secrets are documented as form fields; the application's token endpoint authentication method decides whether Basic is accepted.",
	},
}
