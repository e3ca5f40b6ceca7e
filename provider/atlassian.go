package provider

import "github.com/grantd/grantd/datasource"

var atlassian = &Entry{
	Name:        "atlassian",
	Aliases:     []string{"jira", "confluence"},
	Title:       "Atlassian",
	Description: "Jira and Confluence Cloud REST APIs through Atlassian's API gateway (OAuth 2.0 3LO)",
	Docs:        "https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/",
	References: []string{
		"https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens",
		"https://developer.atlassian.com/cloud/oauth/getting-started/making-calls-to-api/",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://auth.atlassian.com/authorize",
	AccessTokenURL:       "https://auth.atlassian.com/oauth/token",
	URL:                  "https://api.atlassian.com",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"offline_access"},
	ClientAuthentication: datasource.ClientAuthBody,
	CustomAuthParams: map[string]string{
		"audience": "api.atlassian.com",
		"prompt":   "consent",
	},
	RefreshTokenRotates: true,
	Notes: []string{
		"offline_access is needed for a refresh token. Refresh tokens rotate: each refresh returns a new one and the old one stops working.",
		"Calls go through api.atlassian.com, not the site's own host: GET /oauth/token/accessible-resources lists the sites (cloudid) the token may use, then paths are /ex/jira/{cloudid}/rest/api/3/… or /ex/confluence/{cloudid}/….",
		"The documented token requests send a JSON body; whether the token endpoint also takes form encoding (which grantd sends) was not stated in the pages checked.",
		"PKCE: not stated in the pages checked.",
		"No revocation endpoint is documented; a user removes the app from their Atlassian account's connected apps.",
	},
}
