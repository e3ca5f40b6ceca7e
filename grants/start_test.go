package grants_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestStartTokensAndStatesDoNotMix: a start token lives with the states
// but is not one — a callback cannot complete a flow with it, and a state
// cannot start a flow — and a start token is redeemed once, for its own
// datasource, by the browser that opens it.
func TestStartTokensAndStatesDoNotMix(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(acDatasource(p, "web", "web-secret"))

	tok, exp, err := f.engine.NewStart(ctx, d.ID, "/back")
	if err != nil || len(tok) < 43 || exp.Sub(f.clock.Now()) != grants.StartTTL {
		t.Fatalf("NewStart: %q %v %v", tok, exp, err)
	}
	if _, err := f.engine.Callback(ctx, grants.CallbackRequest{State: tok, Code: "x"}); !errors.Is(err, grants.ErrInvalidState) {
		t.Fatalf("a start token as a callback state: %v", err)
	}
	u, err := f.engine.RedeemStart(ctx, d.ID, tok, "binding-of-this-browser-0123456789")
	if err != nil || !strings.HasPrefix(u, p.AuthURL()) {
		t.Fatalf("RedeemStart: %q %v", u, err)
	}
	if _, err := f.engine.RedeemStart(ctx, d.ID, tok, "binding-of-this-browser-0123456789"); !errors.Is(err, grants.ErrInvalidStart) {
		t.Fatalf("a start token twice: %v", err)
	}
	if _, err := f.engine.RedeemStart(ctx, d.ID, stateParam(u), "binding-of-this-browser-0123456789"); !errors.Is(err, grants.ErrInvalidStart) {
		t.Fatalf("a state as a start token: %v", err)
	}
	// The flow is bound to the browser that redeemed the token, and
	// returns where NewStart said.
	cb := login(t, u, "allow")
	if _, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code"), Binding: "another"}); !errors.Is(err, grants.ErrInvalidState) {
		t.Fatalf("callback from another browser: %v", err)
	}
	res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code"), Binding: "binding-of-this-browser-0123456789"})
	if err != nil || res.ErrorCode != "" || res.ReturnTo != "/back" {
		t.Fatalf("callback from the browser that started: %+v %v", res, err)
	}

	tok, _, _ = f.engine.NewStart(ctx, d.ID, "")
	f.clock.Advance(grants.StartTTL)
	if _, err := f.engine.RedeemStart(ctx, d.ID, tok, "b"); !errors.Is(err, grants.ErrInvalidStart) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired start token: %v", err)
	}
	other := f.create(acDatasource(p, "web", "web-secret"))
	tok, _, _ = f.engine.NewStart(ctx, d.ID, "")
	if _, err := f.engine.RedeemStart(ctx, other.ID, tok, "b"); !errors.Is(err, grants.ErrInvalidStart) {
		t.Fatalf("a start token for another datasource: %v", err)
	}
}
