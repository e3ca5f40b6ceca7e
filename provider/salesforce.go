package provider

import "github.com/grantd/grantd/datasource"

var salesforce = &Entry{
	Name:        "salesforce",
	Title:       "Salesforce",
	Description: "Salesforce REST API: CRM records (accounts, contacts, opportunities) of the signed-in user's org",
	Docs:        "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_endpoints.htm&type=5",
	References: []string{
		"https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm&type=5",
		"https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_refresh_token_flow.htm&type=5",
	},
	GrantTypes:           []datasource.GrantType{datasource.AuthorizationCode, datasource.JWTBearer},
	AuthorizationURL:     "https://login.salesforce.com/services/oauth2/authorize",
	AccessTokenURL:       "https://login.salesforce.com/services/oauth2/token",
	RevocationURL:        "https://login.salesforce.com/services/oauth2/revoke",
	URL:                  "https://{token.instance_url}",
	ScopeSeparator:       " ",
	DefaultScopes:        []string{"api", "refresh_token"},
	ClientAuthentication: datasource.ClientAuthBody,
	PKCE:                 PKCESupported,
	TokenResponse: TokenResponse{
		Keep: []string{"instance_url"},
	},
	ExpiresInDefault:        15 * 60,
	NoRefreshTokenOnRefresh: true,
	Notes: []string{
		"The API host is the org's instance, given as instance_url in the token answer; keep it across refreshes (n8n#34916 lost it).",
		"instance_url is a whole URL (https://yourInstance.salesforce.com): filling https://{token.instance_url} must use its host, not the value as is.",
		"The token answer has no expires_in: a token lives as long as the org's session timeout (set per org or connected app). expiresInDefault is 15 minutes, the shortest session timeout Salesforce offers (from memory, not from the pages checked), so grantd refreshes early rather than late; an expired session also answers 401.",
		"Without refresh token rotation, a refresh answer carries no refresh token: keep the stored one. With rotation enabled on the connected app, each refresh returns a new refresh token and invalidates the old one.",
		"The refresh_token (or offline_access) scope is needed for a refresh token.",
		"Sandboxes use test.salesforce.com, orgs with My Domain may use https://MyDomainName.my.salesforce.com: set authorizationUrl and accessTokenUrl explicitly for them. The client credentials flow works only against the My Domain host, which is why it is not listed here.",
	},
}
