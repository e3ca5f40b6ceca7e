package provider

import "github.com/grantd/grantd/datasource"

var zoom = &Entry{
	Name:        "zoom",
	Title:       "Zoom",
	Description: "Zoom API: meetings, recordings, users and webinars",
	Docs:        "https://developers.zoom.us/docs/integrations/oauth/",
	References: []string{
		"https://developers.zoom.us/docs/api/using-zoom-apis/",
		"https://developers.zoom.us/docs/rooms/oauth/",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://zoom.us/oauth/authorize",
	AccessTokenURL:       "https://zoom.us/oauth/token",
	RevocationURL:        "https://zoom.us/oauth/revoke",
	URL:                  "https://api.zoom.us/v2",
	ScopeSeparator:       " ",
	ClientAuthentication: datasource.ClientAuthBasic,
	PKCE:                 PKCESupported,
	RefreshTokenRotates:  true,
	Notes: []string{
		"The token endpoint wants the client id and secret as HTTP Basic credentials.",
		"Access tokens live an hour; each refresh returns a new refresh token and the old one stops working.",
		"Scopes are chosen on the app in the Zoom Marketplace; the authorize request need not name them.",
		"The refresh rotation and PKCE facts come from Zoom's published developer guides alongside the Rooms OAuth page; the main OAuth page cited was not in the stored copies.",
		"Server-to-Server OAuth uses grant_type=account_credentials with account_id, not client_credentials: grantd's client credentials grant does not fit it.",
	},
}
