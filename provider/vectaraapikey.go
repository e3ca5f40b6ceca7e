package provider

import "github.com/grantd/grantd/datasource"

// vectaraAPIKey is Vectara with an API key instead of OAuth 2.0 (the
// vectara entry): the same API, the key in the x-api-key header.
var vectaraAPIKey = &Entry{
	Name:        "vectara-api-key",
	Title:       "Vectara (API key)",
	Description: "Vectara REST API authenticated by a Personal, Index or Query API key in the x-api-key header",
	Docs:        "https://docs.vectara.com/docs/learn/authentication/api-key-management",
	References: []string{
		"https://docs.vectara.com/docs/rest-api/vectara-rest-api",
	},
	AuthType:     datasource.AuthAPIKey,
	URL:          "https://api.vectara.io",
	HeaderName:   "x-api-key",
	HeaderPrefix: datasource.Ptr(""),
	Notes: []string{
		"The key goes in the x-api-key header as it is, with no prefix.",
		"Query API keys are read-only (querying), Index API keys also index, and a Personal API key has its user's permissions: give grantd the narrowest one that serves the datasource.",
		"A compromised key is revoked in the Vectara Console; change the datasource's apiKey (or the ${env:}/${file:} it names) to the new one.",
		"For OAuth 2.0 application clients (client credentials) use the vectara entry.",
	},
}
