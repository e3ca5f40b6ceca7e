package provider

import "github.com/grantd/grantd/datasource"

var github = &Entry{
	Name:        "github",
	Title:       "GitHub",
	Description: "GitHub REST and GraphQL APIs: repositories, issues, pull requests, organisations",
	Docs:        "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
	References: []string{
		"https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://github.com/login/oauth/authorize",
	AccessTokenURL:       "https://github.com/login/oauth/access_token",
	URL:                  "https://api.github.com",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"read:user"},
	ClientAuthentication: datasource.ClientAuthBody,
	ExpiresInDefault:     365 * 24 * 3600,
	RefreshTokenRotates:  true,
	Notes: []string{
		"OAuth app tokens do not expire and come without expires_in or a refresh token; expiresInDefault is set to the longest lifetime grantd accepts so they are not refreshed needlessly.",
		"GitHub App user tokens expire after 8 hours (expires_in 28800) with a refresh token valid 6 months; using it returns a new pair and invalidates the old one.",
		"GitHub Apps ignore scopes: permissions come from the app's registration.",
		"The token endpoint answers form-encoded unless the request sends Accept: application/json, and reports some errors with status 200.",
		"Revocation is not RFC 7009: DELETE /applications/{client_id}/token or /grant on api.github.com with the client id and secret as Basic credentials.",
		"PKCE: not stated in the pages checked.",
	},
}
