package provider

import "github.com/grantd/grantd/datasource"

var microsoft = &Entry{
	Name:        "microsoft",
	Aliases:     []string{"entra", "entra-id", "microsoft-entra-id", "azure-ad"},
	Title:       "Microsoft Entra ID",
	Description: "Microsoft Graph (Outlook mail and calendar, OneDrive, Teams, users) through the Microsoft identity platform",
	Docs:        "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
	References: []string{
		"https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow",
		"https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens",
	},
	GrantTypes:       []datasource.GrantType{datasource.AuthorizationCode, datasource.ClientCredentials},
	AuthorizationURL: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
	AccessTokenURL:   "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
	URL:              "https://graph.microsoft.com",
	ConnectionConfig: []ConfigField{{
		Name:        "tenant",
		Description: "Directory (tenant) ID or a verified domain of the tenant; for sign-in only, also common, organizations or consumers",
		Example:     "contoso.onmicrosoft.com",
		Required:    true,
	}},
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"offline_access", "User.Read"},
	ClientAuthentication: datasource.ClientAuthBody,
	PKCE:                 PKCESupported,
	RefreshTokenRotates:  true,
	Notes: []string{
		"offline_access is needed for a refresh token.",
		"Client credentials need a real tenant (not common or organizations) and the scope <resource>/.default, e.g. https://graph.microsoft.com/.default.",
		"A refresh answer carries a new refresh token; store it. The old one is not revoked at once.",
		"PKCE is required for single-page apps; confidential web clients may use it.",
		"There is no RFC 7009 revocation endpoint; revoke a user's sessions through Microsoft Graph (revokeSignInSessions).",
		"private_key_jwt with a certificate (x5t#S256 and x5t in the header) is documented as an alternative to the client secret.",
	},
}
