package provider

import "github.com/grantd/grantd/datasource"

// jwtBearer is the wave-2 grant type for RFC 7523 §2.1 assertions
// (DESIGN.md "More grants"); it moves to package datasource with the
// grant itself.
const jwtBearer datasource.GrantType = "jwt_bearer"

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
	quickbooks,
	salesforce,
	shopify,
	slack,
	slackUser,
	vectara,
	xero,
	zendesk,
	zoom,
}
