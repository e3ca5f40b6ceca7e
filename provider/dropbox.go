package provider

import "github.com/grantd/grantd/datasource"

var dropbox = &Entry{
	Name:        "dropbox",
	Title:       "Dropbox",
	Description: "Dropbox API: files and folders of the user's Dropbox",
	Docs:        "https://developers.dropbox.com/oauth-guide",
	References: []string{
		"https://dropbox.tech/developers/using-oauth-2-0-with-offline-access",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://www.dropbox.com/oauth2/authorize",
	AccessTokenURL:       "https://api.dropboxapi.com/oauth2/token",
	URL:                  "https://api.dropboxapi.com",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"account_info.read"},
	ClientAuthentication: datasource.ClientAuthBasic,
	PKCE:                 PKCESupported,
	CustomAuthParams: map[string]string{
		"token_access_type": "offline",
	},
	NoRefreshTokenOnRefresh: true,
	Notes: []string{
		"Access tokens are short-lived (about four hours); only token_access_type=offline yields a refresh token, which does not change on refresh.",
		"The app key and secret may go as Basic credentials or form fields.",
		"Content endpoints (upload, download) live on https://content.dropboxapi.com, RPC endpoints on https://api.dropboxapi.com/2/…: a datasource per host.",
		"Revocation is POST /2/auth/token/revoke with the token as Bearer, not RFC 7009.",
	},
}
