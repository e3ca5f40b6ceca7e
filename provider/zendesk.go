package provider

import "github.com/grantd/grantd/datasource"

var zendesk = &Entry{
	Name:        "zendesk",
	Title:       "Zendesk",
	Description: "Zendesk Support API: tickets, users, organisations of one Zendesk account",
	Docs:        "https://developer.zendesk.com/documentation/authentication/",
	References: []string{
		"https://developer.zendesk.com/documentation/api-basics/authentication/refresh-token",
		"https://developer.zendesk.com/rest_api/docs/support/grant_type_tokens",
		"https://support.zendesk.com/hc/en-us/articles/9182123625370-Announcing-support-for-OAuth-refresh-token-grant-type-and-OAuth-access-and-refresh-token-expirations",
	},
	GrantTypes:       []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL: "https://{subdomain}.zendesk.com/oauth/authorizations/new",
	AccessTokenURL:   "https://{subdomain}.zendesk.com/oauth/tokens",
	URL:              "https://{subdomain}.zendesk.com/api/v2",
	ConnectionConfig: []ConfigField{{
		Name:        "subdomain",
		Description: "The account's subdomain: the part before .zendesk.com in its URL",
		Example:     "acme",
		Required:    true,
	}},
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"read"},
	ClientAuthentication: datasource.ClientAuthBody,
	PKCE:                 PKCESupported,
	RefreshTokenRotates:  true,
	Notes: []string{
		"Every URL carries the customer's subdomain; a per-user datasource takes it from each connection's connectionConfig.",
		"Zendesk added refresh tokens and token expiry in 2025 and makes them mandatory in phases through 2026-2027: a refresh returns a new refresh token and deletes the old access and refresh tokens.",
		"OAuth clients created before refresh-token support get an expiring token (and a refresh token) only when the token request passes expires_in; otherwise the token does not expire.",
		"Revocation is DELETE /api/v2/oauth/tokens/{id} (or /current), not RFC 7009.",
	},
}
