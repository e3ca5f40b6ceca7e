package grants_test

import (
	"errors"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestCallbackFromAnotherBrowserLeavesTheState: a callback without the
// flow's binding cookie, or with another browser's, is refused and does
// not use the state up; the browser that started the flow then finishes
// it, once.
func TestCallbackFromAnotherBrowserLeavesTheState(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(acDatasource(p, "web", "web-secret"))
	const binding = "the-binding-cookie-of-the-right-browser"
	u, err := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{Binding: binding})
	if err != nil {
		t.Fatal(err)
	}
	cb := login(t, u, "allow")
	req := grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")}
	for _, other := range []string{"", "another-browsers-binding-cookie-0123456789"} {
		r := req
		r.Binding = other
		if _, err := f.engine.Callback(ctx, r); !errors.Is(err, grants.ErrInvalidState) {
			t.Fatalf("binding %q: %v", other, err)
		}
	}
	if a := f.status(d.ID); a.Status != datasource.StatusUnauthorized {
		t.Fatalf("after refused callbacks: %+v", a)
	}
	req.Binding = binding
	res, err := f.engine.Callback(ctx, req)
	if err != nil || res.ErrorCode != "" || res.Authorization.Status != datasource.StatusAuthorized {
		t.Fatalf("the right browser after refused callbacks: %+v %v", res, err)
	}
	if _, err := f.engine.Callback(ctx, req); !errors.Is(err, grants.ErrInvalidState) {
		t.Fatalf("the right browser again: %v", err)
	}
}
