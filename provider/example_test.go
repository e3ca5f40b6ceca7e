package provider_test

import (
	"errors"
	"fmt"

	"github.com/grantd/grantd/provider"
)

func ExampleLookup() {
	e, err := provider.Lookup("Salesforce")
	if err != nil {
		panic(err)
	}
	fmt.Println(e.AccessTokenURL)
	fmt.Println(e.URL, e.TokenResponse.Keep)

	_, err = provider.Lookup("salesforse")
	fmt.Println(err)
	var nf *provider.NotFoundError
	if errors.As(err, &nf) {
		fmt.Println(nf.Suggestions)
	}
	// Output:
	// https://login.salesforce.com/services/oauth2/token
	// https://{token.instance_url} [instance_url]
	// provider: unknown provider "salesforse" (did you mean salesforce?)
	// [salesforce]
}

func ExampleEntry_Placeholders() {
	e, _ := provider.Lookup("okta")
	fmt.Println(e.Placeholders())
	for _, f := range e.ConnectionConfig {
		fmt.Printf("%s (e.g. %s)\n", f.Name, f.Example)
	}
	// Output:
	// [domain authorizationServerId]
	// domain (e.g. dev-123456.okta.com)
	// authorizationServerId (e.g. default)
}

func ExampleAll() {
	for _, e := range provider.All()[:3] {
		fmt.Println(e.Title)
	}
	// Output:
	// Asana
	// Atlassian
	// Auth0
}
