package grants_test

import (
	"slices"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

func TestRevoke(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.authorize(p, acDatasource(p, "web", "s"))
	rec := f.record(d.ID)
	if code, _ := f.callAPI(d.ID, "/x"); code != 200 {
		t.Fatal("API before revoking")
	}
	res, err := f.engine.Revoke(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !res.AtProvider || res.ProviderError != "" || res.Authorization.Status != datasource.StatusUnauthorized {
		t.Fatalf("revoke: %+v", res)
	}
	if p.RefreshTokenActive(rec.RefreshToken.Reveal()) {
		t.Error("the provider still accepts the refresh token")
	}
	if r := f.record(d.ID); r.HasToken() || !r.RefreshToken.IsZero() {
		t.Error("tokens not erased")
	}
	if _, ok := f.engine.Planned(d.ID); ok {
		t.Error("refresh still planned after revoke")
	}
	// Without a revocation endpoint the tokens are still erased.
	p2 := grantstest.NewProvider(t, grantstest.ProviderOptions{NoMetadata: true})
	p2.AddClient(grantstest.Client{ID: "svc", Secret: "s", Scopes: []string{"api/read", "api/write"}})
	cc := f.create(ccDatasource(p2, "svc", "s"))
	res, err = f.engine.Revoke(ctx, datasource.SharedKey(cc.ID))
	if err != nil || res.AtProvider || res.Authorization.Status != datasource.StatusUnauthorized {
		t.Fatalf("revoke without endpoint: %+v %v", res, err)
	}
}

func TestMetadataURLs(t *testing.T) {
	got := grants.MetadataURLs("https://id.example.com/realms/acme/protocol/openid-connect/token")
	for _, want := range []string{
		"https://id.example.com/.well-known/oauth-authorization-server/realms/acme/protocol/openid-connect",
		"https://id.example.com/realms/acme/.well-known/openid-configuration",
		"https://id.example.com/.well-known/openid-configuration",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("candidates %q lack %q", got, want)
		}
	}
	if got := grants.MetadataURLs("https://x.auth.us-west-2.amazoncognito.com/oauth2/token"); !slices.Contains(got, "https://x.auth.us-west-2.amazoncognito.com/.well-known/openid-configuration") {
		t.Errorf("cognito candidates %q", got)
	}
}
