package provider

import "github.com/grantd/grantd/datasource"

var hubspot = &Entry{
	Name:        "hubspot",
	Title:       "HubSpot",
	Description: "HubSpot CRM API: contacts, companies, deals, tickets of the installing account",
	Docs:        "https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide",
	References: []string{
		"https://developers.hubspot.com/changelog/v1-oauth-api-deprecation",
		"https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/migration-guide",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://app.hubspot.com/oauth/authorize",
	AccessTokenURL:       "https://api.hubapi.com/oauth/2026-03/token",
	URL:                  "https://api.hubapi.com",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"oauth"},
	ClientAuthentication: datasource.ClientAuthBody,
	PKCE:                 PKCESupported,
	Notes: []string{
		"The token endpoint is the date-versioned one (POST /oauth/2026-03/token) that replaces /oauth/v1/token, which HubSpot retires on 16 February 2027; the new one takes every parameter in the form body.",
		"Access tokens live 30 minutes; expires_in says so.",
		"Scopes must match those configured on the app; optional scopes have their own authorize parameter (see the guide), set through customAuthParams.",
		"Revocation is POST /oauth/2026-03/token/revoke; its request shape was not in the pages checked, so revocationUrl is left empty.",
	},
}
