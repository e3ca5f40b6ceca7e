package provider

import "github.com/grantd/grantd/datasource"

var asana = &Entry{
	Name:                 "asana",
	Title:                "Asana",
	Description:          "Asana API: tasks, projects and workspaces of the user",
	Docs:                 "https://developers.asana.com/docs/oauth",
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://app.asana.com/-/oauth_authorize",
	AccessTokenURL:       "https://app.asana.com/-/oauth_token",
	RevocationURL:        "https://app.asana.com/-/oauth_revoke",
	URL:                  "https://app.asana.com/api/1.0",
	ScopeSeparator:       " ",
	ClientAuthentication: datasource.ClientAuthBody,
	Notes: []string{
		"Access tokens live an hour; expires_in says so.",
		"Whether a refresh answer carries a new refresh token, which scopes an app may ask for (Asana moved from a single default scope to granular ones), and PKCE support were not in the part of the page checked.",
	},
}
