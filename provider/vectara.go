package provider

import "github.com/grantd/grantd/datasource"

var vectara = &Entry{
	Name:        "vectara",
	Title:       "Vectara",
	Description: "Vectara REST API: retrieval-augmented search and generation over the customer's corpora",
	Docs:        "https://docs.vectara.com/docs/learn/authentication/oauth-2",
	References: []string{
		"https://docs.vectara.com/docs/rest-api/vectara-rest-api",
	},
	GrantTypes:     []datasource.GrantType{datasource.ClientCredentials},
	AccessTokenURL: "https://vectara-prod-{customerId}.auth.us-west-2.amazoncognito.com/oauth2/token",
	URL:            "https://api.vectara.io",
	ConnectionConfig: []ConfigField{{
		Name:        "customerId",
		Description: "The Vectara customer id, shown in the Console with the OAuth 2.0 authentication URL of an app client",
		Example:     "1234567890",
		Required:    true,
	}},
	ScopeSeparator:       " ",
	ClientAuthentication: datasource.ClientAuthBody,
	Notes: []string{
		"Application clients use the client credentials grant only; the token is a JWT that expires after 30 minutes.",
		"The token URL is an Amazon Cognito domain per customer; the Console shows the exact URL on the API access page. Copy it into accessTokenUrl if it differs from the documented format (the region in it is as documented, not verified for every customer).",
		"The documented token request sends client_id and client_secret as form fields.",
		"A third-party capability listing shows https://auth.vectara.io/oauth2/token; Vectara's own page does not, so it is not used here.",
		"The API host comes from Vectara's REST API reference, not from the OAuth page.",
		"API keys (x-api-key header) are the alternative to OAuth: the vectara-api-key entry covers them.",
	},
}
