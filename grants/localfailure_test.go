package grants_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
)

const hint = "set GRANTD_ALLOW_PRIVATE_NETWORKS=true to allow it"

func guarded(allow bool) fixtureOptions {
	return fixtureOptions{engine: grants.Options{Dialer: &outbound.Dialer{AllowPrivate: allow, RefusalHint: hint}}}
}

// TestLocalFailuresRecoverAtStart: a failure caused by grantd's own
// configuration — the dial guard refusing a loopback token URL — is not the
// provider's verdict. The message names the setting, the tokens are kept,
// and once the operator changes the setting and restarts, the datasource
// recovers by itself (no manual refresh).
func TestLocalFailuresRecoverAtStart(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret", Scopes: []string{"api/read", "api/write"}})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})

	f := newFixture(t, guarded(false))
	cc := f.create(ccDatasource(p, "svc", "svc-secret"))
	if a := f.status(cc.ID); a.Status != datasource.StatusError || !strings.Contains(a.LastError, "GRANTD_ALLOW_PRIVATE_NETWORKS") {
		t.Fatalf("refused by the dial guard: %+v, want error naming the setting", a)
	}
	if _, planned := f.engine.Planned(cc.ID); planned {
		t.Error("a refused address is retried in a loop")
	}

	f.restart(guarded(true))
	ac := f.authorize(p, acDatasource(p, "web", "web-secret"))
	f.waitFor("the client-credentials datasource to recover at start", func() bool {
		return f.status(cc.ID).Status == datasource.StatusAuthorized
	})

	// A refresh the guard refuses keeps the refresh token.
	f.restart(guarded(false))
	if a, _ := f.engine.Refresh(ctx, datasource.SharedKey(ac.ID)); !a.HasRefreshToken || !strings.Contains(a.LastError, "GRANTD_ALLOW_PRIVATE_NETWORKS") {
		t.Fatalf("refused refresh: %+v, want the refresh token kept and the setting named", a)
	}
	gen := f.record(ac.ID).Generation
	f.restart(guarded(true))
	f.waitFor("the authorization-code datasource to refresh at start", func() bool {
		r := f.record(ac.ID)
		return r.Generation > gen && r.Status == datasource.StatusAuthorized && r.LastError == ""
	})
}

// An unset ${env:} variable is retried at start, not after the backoff.
func TestUnresolvedSecretRetriedAtStart(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "resolved-secret-1234", Scopes: []string{"api/read", "api/write"}})
	var set atomic.Bool
	resolve := func(context.Context, string) (string, error) {
		if !set.Load() {
			return "", fmt.Errorf("environment variable VECTARA_CLIENT_SECRET is not set")
		}
		return "resolved-secret-1234", nil
	}
	f := newFixture(t, fixtureOptions{engine: grants.Options{ResolveSecret: resolve}})
	d := f.create(ccDatasource(p, "svc", "${env:VECTARA_CLIENT_SECRET}"))
	// Fail a few times, so the backoff reaches minutes.
	for range 4 {
		f.engine.Refresh(ctx, datasource.SharedKey(d.ID))
	}
	if r := f.record(d.ID); r.Status != datasource.StatusError || r.Failures < 4 {
		t.Fatalf("%+v", r)
	}
	set.Store(true) // the operator sets the variable and restarts
	f.restart(fixtureOptions{engine: grants.Options{ResolveSecret: resolve}})
	f.waitFor("the datasource to recover at start, clock standing still", func() bool {
		return f.status(d.ID).Status == datasource.StatusAuthorized
	})
}
