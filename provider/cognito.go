package provider

import "github.com/grantd/grantd/datasource"

var cognito = &Entry{
	Name:        "cognito",
	Aliases:     []string{"aws-cognito", "amazon-cognito"},
	Title:       "AWS Cognito",
	Description: "Tokens from an Amazon Cognito user pool for the customer's own APIs",
	Docs:        "https://docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html",
	References: []string{
		"https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html",
		"https://docs.aws.amazon.com/cognito/latest/developerguide/revocation-endpoint.html",
	},
	GrantTypes:       []datasource.GrantType{datasource.AuthorizationCode, datasource.ClientCredentials},
	AuthorizationURL: "https://{domain}/oauth2/authorize",
	AccessTokenURL:   "https://{domain}/oauth2/token",
	RevocationURL:    "https://{domain}/oauth2/revoke",
	ConnectionConfig: []ConfigField{{
		Name:        "domain",
		Description: "The user pool's domain: its prefix domain (name.auth.region.amazoncognito.com) or custom domain",
		Example:     "acme.auth.us-east-1.amazoncognito.com",
		Required:    true,
	}},
	ScopeSeparator:          " ",
	ClientAuthentication:    datasource.ClientAuthBasic,
	PKCE:                    PKCESupported,
	NoRefreshTokenOnRefresh: true,
	Notes: []string{
		"url is the customer's own API: set it on the datasource.",
		"The token endpoint exists once the user pool has a domain. An app client with a secret authenticates with HTTP Basic.",
		"Client credentials need custom scopes of a resource server (resource-server-id/scope) and return an access token only.",
		"A refresh returns new ID and access tokens and no refresh token: keep the stored one (unless refresh token rotation is enabled on the app client).",
		"The revocation endpoint revokes refresh tokens.",
	},
}
