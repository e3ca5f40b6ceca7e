package provider

import "github.com/grantd/grantd/datasource"

var okta = &Entry{
	Name:        "okta",
	Title:       "Okta",
	Description: "Tokens from an Okta custom authorization server for the customer's own APIs",
	Docs:        "https://developer.okta.com/docs/concepts/auth-servers",
	References: []string{
		"https://developer.okta.com/docs/api/openapi/okta-oauth/oauth/tag/CustomAS",
	},
	GrantTypes:       []datasource.GrantType{datasource.AuthorizationCode, datasource.ClientCredentials},
	AuthorizationURL: "https://{domain}/oauth2/{authorizationServerId}/v1/authorize",
	AccessTokenURL:   "https://{domain}/oauth2/{authorizationServerId}/v1/token",
	RevocationURL:    "https://{domain}/oauth2/{authorizationServerId}/v1/revoke",
	ConnectionConfig: []ConfigField{
		{
			Name:        "domain",
			Description: "The Okta org's domain (or its custom domain)",
			Example:     "dev-123456.okta.com",
			Required:    true,
		},
		{
			Name:        "authorizationServerId",
			Description: "The custom authorization server's id; default for the one every org has",
			Example:     "default",
			Required:    true,
		},
	},
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"openid", "offline_access"},
	ClientAuthentication: datasource.ClientAuthBasic,
	PKCE:                 PKCESupported,
	Notes: []string{
		"url is the customer's own API, protected by this authorization server: set it on the datasource.",
		"Custom authorization servers need Okta's API Access Management in production orgs. The org authorization server (https://{domain}/oauth2/v1/…) issues tokens only for Okta's own APIs.",
		"offline_access (and the refresh token grant on the app) gives a refresh token; rotation is a per-app setting, off unless enabled.",
		"Client credentials need custom scopes defined on the authorization server.",
		"The metadata document at https://{domain}/oauth2/{authorizationServerId}/.well-known/oauth-authorization-server lists the supported client authentication methods; client_secret_basic is assumed here.",
	},
}
