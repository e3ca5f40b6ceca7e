package grants_test

import (
	"strings"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestTLSCACertHonoured: against a provider on HTTPS with its own CA,
// client credentials, code exchange and refresh all work when the
// datasource trusts the CA, and fail without it.
func TestTLSCACertHonoured(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{TLS: true})
	p.AddClient(grantstest.Client{ID: "c", Secret: "s", Scopes: []string{"api/read", "api/write", "openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})

	untrusted := f.create(ccDatasource(p, "c", "s"))
	if a := f.status(untrusted.ID); a.Status != datasource.StatusError || !strings.Contains(a.LastError, "certificate") {
		t.Fatalf("without the CA: %+v", a)
	}
	cc := ccDatasource(p, "c", "s")
	cc.Auth.TLSCACert = p.CACertPEM()
	cc = f.create(cc)
	if a := f.status(cc.ID); a.Status != datasource.StatusAuthorized {
		t.Fatalf("client credentials with the CA: %+v", a)
	}
	ac := acDatasource(p, "c", "s")
	ac.Auth.TLSCACert = p.CACertPEM()
	ac = f.create(ac)
	raw, _ := f.engine.AuthorizeURL(ctx, ac.ID, grants.AuthorizeRequest{})
	cb := loginTLS(t, p, raw)
	res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
	if err != nil || res.ErrorCode != "" {
		t.Fatalf("exchange with the CA: %+v %v", res, err)
	}
	if a, _ := f.engine.Refresh(ctx, datasource.SharedKey(ac.ID)); a.Status != datasource.StatusAuthorized {
		t.Fatalf("refresh with the CA: %+v", a)
	}
	if code, _ := f.callAPI(cc.ID, "/x"); code != 200 {
		t.Fatalf("calling the HTTPS API through the client: %d", code)
	}
}
