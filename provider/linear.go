package provider

import "github.com/grantd/grantd/datasource"

var linear = &Entry{
	Name:        "linear",
	Title:       "Linear",
	Description: "Linear GraphQL API: issues, projects, cycles and comments of a workspace",
	Docs:        "https://linear.app/developers/oauth-2-0-authentication",
	References: []string{
		"https://linear.app/developers/oauth-actor-authorization",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://linear.app/oauth/authorize",
	AccessTokenURL:       "https://api.linear.app/oauth/token",
	URL:                  "https://api.linear.app/graphql",
	ScopeSeparator:       ",",
	DefaultScopes:        []string{"read"},
	ClientAuthentication: datasource.ClientAuthBody,
	RefreshTokenRotates:  true,
	Notes: []string{
		"Scopes are comma-separated; read is always granted.",
		"Refresh tokens became mandatory for all OAuth apps on 1 April 2026. That refreshes rotate the refresh token is said by secondary sources, not by the page checked.",
		"actor=app (a custom authorize parameter) makes the app, not the user, the author of what the token does.",
		"Revocation (POST https://api.linear.app/oauth/revoke) and PKCE support were not in the part of the page checked; revocationUrl is left empty.",
	},
}
