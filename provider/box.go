package provider

import "github.com/grantd/grantd/datasource"

var box = &Entry{
	Name:        "box",
	Title:       "Box",
	Description: "Box Content API: files, folders and collaborations",
	Docs:        "https://developer.box.com/guides/authentication/oauth2/",
	References: []string{
		"https://developer.box.com/guides/authentication/tokens/access-tokens/",
		"https://developer.box.com/guides/authentication/tokens/refresh/",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode, datasource.ClientCredentials},
	AuthorizationURL:     "https://account.box.com/api/oauth2/authorize",
	AccessTokenURL:       "https://api.box.com/oauth2/token",
	RevocationURL:        "https://api.box.com/oauth2/revoke",
	URL:                  "https://api.box.com/2.0",
	ScopeSeparator:       " ",
	ClientAuthentication: datasource.ClientAuthBody,
	RefreshTokenRotates:  true,
	Notes: []string{
		"Access tokens live about an hour. A refresh token is valid 60 days and for one use: each refresh returns a new one and invalidates the old; unused for 60 days, the user must authorize again.",
		"Scopes are configured on the app in the developer console; the scope parameter may narrow them.",
		"Client credentials (server authentication) also need the form fields box_subject_type (enterprise or user) and box_subject_id: set them as tokenParams; no refresh token is issued.",
		"PKCE: not stated in the pages checked.",
	},
}
