// Package provider is grantd's catalogue of well-known OAuth 2.0
// providers: for each, the endpoints, the API's base URL, how scopes are
// joined, how the client authenticates at the token endpoint, the extra
// authorize parameters it needs, where its token answer keeps its fields,
// how its refresh tokens behave, and the quirks a person should know.
//
// A low-code user does not know Salesforce's token URL, that Slack nests a
// user's token under authed_user, that Salesforce's API host is the
// instance_url of the token answer, that Zendesk and Shopify put the
// customer's subdomain in every URL, or that Google needs
// access_type=offline and prompt=consent to issue a refresh token. A
// datasource that says "provider": "salesforce" gets all of that from the
// entry.
//
// # Explicit fields win
//
// An entry fills only what the datasource leaves empty (Fill): a
// datasource's own accessTokenUrl, scope, clientAuthentication,
// customAuthParams (key by key) or tokenResponse path always wins over the
// entry's. That is how a Salesforce sandbox (test.salesforce.com) or a My
// Domain login host is configured: name the provider and set the URLs that
// differ.
//
// # Filled when written
//
// The engine fills a datasource when it is created or replaced and stores
// the filled values in the datasource's own fields; the provider field
// records where they came from. A GET shows exactly what is used, and a
// GET–edit–PUT round trip sends every filled value back as an explicit
// one, which fills nothing new and changes nothing. Filling at each read
// instead would make the same round trip turn catalogue values into
// explicit ones, so the stored datasource would depend on whether it was
// ever edited. The cost: a change to an entry reaches existing datasources
// only when the field is cleared and the datasource saved again.
//
// # Templates
//
// URLs may hold {name} placeholders, filled from the connection's or the
// datasource's connectionConfig (https://{subdomain}.zendesk.com); an
// entry declares each one in ConnectionConfig with a description and an
// example. {token.name} placeholders are filled from fields of the token
// answer the entry keeps across refreshes (TokenResponse.Keep), such as
// Salesforce's instance_url. Token answer paths are JSON Pointers
// (RFC 6901).
//
// # Lookup
//
// Lookup finds an entry by name or alias, ignoring case, and returns a
// copy; an unknown name is a *NotFoundError that suggests close names
// ("salesforse" → salesforce). All lists every entry sorted by title, for
// GET /api/v1/providers and the UI's provider picker. The catalogue is
// read-only and safe for concurrent use.
//
// # Adding a provider
//
//  1. Read the provider's own OAuth documentation: authorize and token
//     endpoints, how the client authenticates (RFC 6749 §2.3.1 Basic or
//     form fields), the scope separator, extra authorize parameters,
//     whether refresh tokens rotate and whether a refresh answer carries
//     one, what an expired token looks like, and the API's base URL.
//  2. Write <name>.go with one Entry. Docs is the page you checked (https);
//     References are further pages. Every URL and parameter must come from
//     them. Where the documentation is silent or ambiguous, leave the field
//     empty and say so in Notes rather than guessing.
//  3. Add the entry to the catalogue list in catalogue.go.
//  4. Run go test ./provider/ -update to refresh testdata/catalogue.json,
//     and review its diff: it is the catalogue as the API serves it.
//
// The tests check every entry: a name, a title, https documentation, a
// grant type, URL templates that parse as absolute https URLs once their
// placeholders hold the declared examples, placeholders and
// ConnectionConfig that match both ways, and valid JSON Pointers.
package provider
