package provider

// catalogue lists every entry; each lives in the file named for it. Add a
// provider by writing its file and naming it here.
var catalogue = []*Entry{
	asana,
	atlassian,
	auth0,
	box,
	cognito,
	dropbox,
	github,
	google,
	hubspot,
	linear,
	microsoft,
	notion,
	okta,
	openAI,
	quickbooks,
	salesforce,
	shopify,
	slack,
	slackUser,
	vectara,
	vectaraAPIKey,
	xero,
	zendesk,
	zoom,
}
