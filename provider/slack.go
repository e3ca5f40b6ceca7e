package provider

import "github.com/grantd/grantd/datasource"

// slackNotes apply to both Slack entries.
var slackNotes = []string{
	"Scopes are comma-separated.",
	"Slack prefers the client id and secret as HTTP Basic credentials over form fields.",
	"Without token rotation tokens never expire and no refresh token is issued. With rotation enabled for the app, tokens expire after 12 hours and each refresh returns a new refresh token; the old one is revoked.",
	"An expired or revoked token is reported with HTTP 200 and {\"ok\": false, \"error\": \"token_expired\"} (or invalid_auth), not with 401: refreshOnStatus cannot see it, so rely on expires_in.",
	"Revocation is the auth.revoke API method, called with the token itself; it is not RFC 7009.",
}

var slack = &Entry{
	Name:        "slack",
	Title:       "Slack",
	Description: "Slack Web API as the app's bot user in the installing workspace",
	Docs:        "https://docs.slack.dev/authentication/installing-with-oauth",
	References: []string{
		"https://docs.slack.dev/reference/methods/oauth.v2.access",
		"https://docs.slack.dev/authentication/using-token-rotation",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://slack.com/oauth/v2/authorize",
	AccessTokenURL:       "https://slack.com/api/oauth.v2.access",
	URL:                  "https://slack.com/api",
	ScopeSeparator:       ",",
	DefaultScopes:        []string{"chat:write"},
	ClientAuthentication: datasource.ClientAuthBasic,
	RefreshTokenRotates:  true,
	Notes: append([]string{
		"This entry keeps the bot token (access_token at the top level); use slack-user for the installing user's own token.",
	}, slackNotes...),
}

var slackUser = &Entry{
	Name:        "slack-user",
	Title:       "Slack (user token)",
	Description: "Slack Web API as the user who authorized the app (search, their own messages and status)",
	Docs:        "https://docs.slack.dev/authentication/installing-with-oauth",
	References: []string{
		"https://docs.slack.dev/reference/methods/oauth.v2.access",
		"https://docs.slack.dev/authentication/using-token-rotation",
		"https://docs.slack.dev/tools/node-slack-sdk/reference/oauth/interfaces/OAuthV2TokenRefreshResponse",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://slack.com/oauth/v2/authorize",
	AccessTokenURL:       "https://slack.com/api/oauth.v2.access",
	URL:                  "https://slack.com/api",
	ScopeSeparator:       ",",
	ScopeParam:           "user_scope",
	DefaultScopes:        []string{"users:read"},
	ClientAuthentication: datasource.ClientAuthBasic,
	TokenResponse: TokenResponse{
		AccessTokenPath:  "/authed_user/access_token",
		RefreshTokenPath: "/authed_user/refresh_token",
		ExpiresInPath:    "/authed_user/expires_in",
	},
	RefreshTokenRotates: true,
	Notes: append([]string{
		"User scopes go in the user_scope query parameter, not scope (scope asks for bot scopes); the user token is nested under authed_user in the oauth.v2.access answer.",
		"The paths for refresh_token and expires_in under authed_user appear only with token rotation. A refresh answer is flat: Slack's own SDK types it (OAuthV2TokenRefreshResponse) with access_token, refresh_token and expires_in at the top level, and uses it for user tokens too; the paths then find nothing and grantd falls back to the top-level fields.",
	}, slackNotes...),
}
