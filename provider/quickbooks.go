package provider

import "github.com/grantd/grantd/datasource"

var quickbooks = &Entry{
	Name:        "quickbooks",
	Aliases:     []string{"intuit", "intuit-quickbooks", "quickbooks-online"},
	Title:       "Intuit QuickBooks",
	Description: "QuickBooks Online Accounting API: invoices, customers, payments of one company",
	Docs:        "https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization/oauth-2.0",
	References: []string{
		"https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization/faq",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL:     "https://appcenter.intuit.com/connect/oauth2",
	AccessTokenURL:       "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
	RevocationURL:        "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
	URL:                  "https://quickbooks.api.intuit.com",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"com.intuit.quickbooks.accounting"},
	ClientAuthentication: datasource.ClientAuthBasic,
	RefreshTokenRotates:  true,
	Notes: []string{
		"The company id (realmId) comes as a query parameter on the authorization callback, not in the token answer: API paths are /v3/company/{realmId}/…, and the caller must know the realmId.",
		"Access tokens live an hour. The refresh token value may change on a refresh: always store the latest. Refresh tokens now have a hard maximum lifetime of five years (x_refresh_token_expires_in), where they used to be renewed by use every 100 days.",
		"The token endpoint takes the client id and secret as HTTP Basic credentials.",
		"Sandbox companies use https://sandbox-quickbooks.api.intuit.com: set url explicitly.",
		"The endpoint URLs come from Intuit's OAuth 2.0 guide and its discovery document; the stored copies checked showed the FAQ and SDK guides, not the endpoint table itself.",
	},
}
