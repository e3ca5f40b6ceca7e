package provider

import "github.com/grantd/grantd/datasource"

var xero = &Entry{
	Name:                 "xero",
	Title:                "Xero",
	Description:          "Xero Accounting API: invoices, contacts, bank transactions of the connected organisations",
	Docs:                 "https://developer.xero.com/documentation/guides/oauth2/auth-flow",
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://login.xero.com/identity/connect/authorize",
	AccessTokenURL:       "https://identity.xero.com/connect/token",
	RevocationURL:        "https://identity.xero.com/connect/revocation",
	URL:                  "https://api.xero.com",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"offline_access"},
	ClientAuthentication: datasource.ClientAuthBasic,
	PKCE:                 PKCESupported,
	RefreshTokenRotates:  true,
	Notes: []string{
		"offline_access is needed for a refresh token. Each refresh returns a new refresh token that replaces the old one; if the answer is lost, the old one may be retried for 30 minutes. An unused refresh token expires after 60 days.",
		"Access tokens live 30 minutes; expires_in says so.",
		"PKCE is supported (for native apps that cannot keep a secret); single-page apps are not.",
		"Every API call needs a xero-tenant-id header naming the organisation; GET https://api.xero.com/connections lists the ones the token may use. grantd does not add the header.",
		"Custom connections (one organisation, no user) use client_credentials against the same token URL; not listed as a grant type here because the page checked covers the code flow only.",
		"Xero's auth-flow page itself was not in the stored copies: the endpoints and Basic client authentication were cross-checked against Xero-based guides and SDKs; token lifetimes and PKCE come from Xero's OAuth FAQ.",
	},
}
