package provider

import "github.com/grantd/grantd/datasource"

// openAI is the OpenAI API, whose API keys are sent as bearer tokens —
// the style most OpenAI-compatible APIs copy.
var openAI = &Entry{
	Name:        "openai",
	Title:       "OpenAI",
	Description: "OpenAI API (models, chat completions, responses, embeddings) authenticated by an API key sent as Authorization: Bearer",
	Docs:        "https://platform.openai.com/docs/api-reference/authentication",
	AuthType:    datasource.AuthBearer,
	URL:         "https://api.openai.com",
	Notes: []string{
		"Every request carries the API key as Authorization: Bearer <key>; a bearer datasource sends exactly that.",
		"Project API keys are scoped to one project and are the recommended kind; a user's legacy key reaches every organization and project the user belongs to.",
		"A caller that belongs to several organizations or projects may choose one per request with the OpenAI-Organization and OpenAI-Project headers; the proxy forwards them as the caller sends them.",
		"OpenAI-compatible APIs on other hosts take the same datasource with their own url.",
	},
}
