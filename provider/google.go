package provider

import "github.com/grantd/grantd/datasource"

var google = &Entry{
	Name:        "google",
	Title:       "Google",
	Description: "Google APIs (Drive, Gmail, Calendar, Sheets, …) for a Google account or Workspace user",
	Docs:        "https://developers.google.com/identity/protocols/oauth2/web-server",
	References: []string{
		"https://developers.google.com/identity/protocols/oauth2/service-account",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode, datasource.JWTBearer},
	AuthorizationURL:     "https://accounts.google.com/o/oauth2/v2/auth",
	AccessTokenURL:       "https://oauth2.googleapis.com/token",
	RevocationURL:        "https://oauth2.googleapis.com/revoke",
	URL:                  "https://www.googleapis.com",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"openid", "email"},
	ClientAuthentication: datasource.ClientAuthBody,
	PKCE:                 PKCESupported,
	CustomAuthParams: map[string]string{
		"access_type": "offline",
		"prompt":      "consent",
	},
	NoRefreshTokenOnRefresh: true,
	Notes: []string{
		"Google issues a refresh token only with access_type=offline, and only on the first consent; prompt=consent asks again so a re-authorization gets one too.",
		"A refresh answer carries no refresh token: keep the stored one.",
		"Scopes are full URLs (https://www.googleapis.com/auth/drive.readonly); Google requires at least one. The default asks for sign-in only; add the API's scopes.",
		"Many Google APIs live on their own hosts (gmail.googleapis.com, sheets.googleapis.com): set url to the API's host.",
		"Service accounts (jwt_bearer) use the same token URL with a signed assertion; domain-wide delegation sets the subject to the user to act as.",
	},
}
