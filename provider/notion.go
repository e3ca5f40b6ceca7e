package provider

import "github.com/grantd/grantd/datasource"

var notion = &Entry{
	Name:        "notion",
	Title:       "Notion",
	Description: "Notion API: pages, databases and blocks the user shared with the connection",
	Docs:        "https://developers.notion.com/guides/authorization/overview",
	References: []string{
		"https://developers.notion.com/reference/create-a-token",
		"https://developers.notion.com/reference/refresh-a-token",
		"https://developers.notion.com/reference/authentication",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://api.notion.com/v1/oauth/authorize",
	AccessTokenURL:       "https://api.notion.com/v1/oauth/token",
	URL:                  "https://api.notion.com",
	ScopeSeparator:       " ",
	ClientAuthentication: datasource.ClientAuthBasic,
	CustomAuthParams: map[string]string{
		"owner": "user",
	},
	ExpiresInDefault:    365 * 24 * 3600,
	RefreshTokenRotates: true,
	Notes: []string{
		"Notion has no scopes: capabilities are set on the connection, and the user picks the pages to share while authorizing.",
		"The token endpoint takes the client id and secret as HTTP Basic credentials.",
		"Every API call needs a Notion-Version header (e.g. 2022-06-28); grantd does not add it.",
		"Notion's API reference now documents refreshing (POST /v1/oauth/token with grant_type=refresh_token, answering a new access and refresh token); older material says tokens never expire and no refresh token is issued. expiresInDefault treats a token without expires_in as long-lived.",
		"Revocation (POST /v1/oauth/revoke) is named by Notion's SDK; its request shape was not in the pages checked, so revocationUrl is left empty.",
	},
}
