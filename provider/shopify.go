package provider

import "github.com/grantd/grantd/datasource"

var shopify = &Entry{
	Name:             "shopify",
	Title:            "Shopify",
	Description:      "Shopify Admin API (GraphQL and REST): products, orders, customers of one store",
	Docs:             "https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant",
	GrantTypes:       []datasource.GrantType{datasource.AuthorizationCode},
	AuthorizationURL: "https://{shop}.myshopify.com/admin/oauth/authorize",
	AccessTokenURL:   "https://{shop}.myshopify.com/admin/oauth/access_token",
	URL:              "https://{shop}.myshopify.com/admin/api",
	ConnectionConfig: []ConfigField{{
		Name:        "shop",
		Description: "The store's myshopify.com subdomain (the part before .myshopify.com)",
		Example:     "acme-store",
		Required:    true,
	}},
	ScopeSeparator:       ",",
	DefaultScopes:        []string{"read_products"},
	ClientAuthentication: datasource.ClientAuthBody,
	ExpiresInDefault:     365 * 24 * 3600,
	RefreshTokenRotates:  true,
	TokenPlacement:       datasource.PlacementHeader,
	HeaderName:           "X-Shopify-Access-Token",
	HeaderPrefix:         datasource.Ptr(""),
	Notes: []string{
		"Scopes are comma-separated. The token goes in X-Shopify-Access-Token with no prefix, not in Authorization.",
		"Expiring offline tokens (since December 2025; required for public apps from 1 January 2027) live 60 minutes, carry expires_in and a refresh token, and each refresh replaces the refresh token. How an app opts in on the token request was not in the pages checked (Shopify's templates use an expiringOfflineAccessTokens flag).",
		"Non-expiring offline tokens (custom and merchant-created apps) have no expires_in: expiresInDefault treats them as long-lived. Online tokens (grant_options[]=per-user as a custom authorize parameter) expire with the user's session.",
		"Shopify asks apps to verify the hmac on the install request and callback; that check is the app's, not grantd's.",
		"Embedded apps are told to use token exchange instead of this flow.",
		"PKCE: not stated in the pages checked.",
		"API paths carry a version: /admin/api/{version}/graphql.json.",
	},
}
