package grants_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
)

func TestClientCredentialsAuthStyles(t *testing.T) {
	tests := []struct {
		name       string
		clientAuth datasource.ClientAuth // of the datasource
		accepts    string                // what the provider's client accepts
		noMetadata bool
		advertise  []string
		wantStatus datasource.Status
		wantMethod []string // auth methods the provider saw, in order
	}{
		{"basic", datasource.ClientAuthBasic, "client_secret_basic", false, nil, datasource.StatusAuthorized, []string{"basic"}},
		{"body", datasource.ClientAuthBody, "client_secret_post", false, nil, datasource.StatusAuthorized, []string{"body"}},
		{"basic refused by a body-only client", datasource.ClientAuthBasic, "client_secret_post", false, nil, datasource.StatusError, []string{"basic"}},
		{"auto from metadata", datasource.ClientAuthAuto, "client_secret_post", false, []string{"client_secret_post"}, datasource.StatusAuthorized, []string{"body"}},
		{"auto defaults to basic", datasource.ClientAuthAuto, "client_secret_basic", true, nil, datasource.StatusAuthorized, []string{"basic"}},
		{"auto falls back to body", datasource.ClientAuthAuto, "client_secret_post", true, nil, datasource.StatusAuthorized, []string{"basic", "body"}},
		// Hydra and oidc-provider list both methods server-wide; the
		// client was registered for one of them.
		{"auto, metadata lists both, body client", datasource.ClientAuthAuto, "client_secret_post", false, nil, datasource.StatusAuthorized, []string{"basic", "body"}},
		{"auto, metadata says basic, body client", datasource.ClientAuthAuto, "client_secret_post", false, []string{"client_secret_basic"}, datasource.StatusAuthorized, []string{"basic", "body"}},
		{"auto, metadata says body, basic client", datasource.ClientAuthAuto, "client_secret_basic", false, []string{"client_secret_post"}, datasource.StatusAuthorized, []string{"body", "basic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := grantstest.NewProvider(t, grantstest.ProviderOptions{NoMetadata: tt.noMetadata, AuthMethods: tt.advertise})
			p.AddClient(grantstest.Client{ID: "svc", Secret: "s3cret:with/special+chars", AuthMethod: tt.accepts, Scopes: []string{"api/read", "api/write"}})
			f := newFixture(t, fixtureOptions{})
			d := ccDatasource(p, "svc", "s3cret:with/special+chars")
			d.Auth.ClientAuthentication = tt.clientAuth
			d = f.create(d) // asks for the first token at once

			a := f.status(d.ID)
			if a.Status != tt.wantStatus {
				t.Fatalf("status = %s (%s), want %s", a.Status, a.LastError, tt.wantStatus)
			}
			var methods []string
			for _, ev := range p.Events() {
				methods = append(methods, ev.AuthMethod)
				if ev.Form["scope"] != "api/read api/write" {
					t.Errorf("scope sent as %q, want space-delimited", ev.Form["scope"])
				}
			}
			if strings.Join(methods, ",") != strings.Join(tt.wantMethod, ",") {
				t.Errorf("provider saw %v, want %v", methods, tt.wantMethod)
			}
			if tt.wantStatus != datasource.StatusAuthorized {
				if !strings.Contains(a.LastError, "invalid_client") {
					t.Errorf("lastError %q does not name invalid_client", a.LastError)
				}
				if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, grants.ErrNotAuthorized) {
					t.Errorf("Token after a permanent failure: %v, want ErrNotAuthorized", err)
				}
				if n := p.Count(""); n != len(tt.wantMethod) {
					t.Errorf("a permanent failure was retried: %d requests", n)
				}
				return
			}
			if a.GrantedScope != "api/read api/write" || a.ExpiresAt == nil || a.HasRefreshToken {
				t.Errorf("authorization = %+v", a)
			}
			code, ans := f.callAPI(d.ID, "/whoami")
			if code != 200 || ans.ClientID != "svc" || ans.Via != "header" {
				t.Fatalf("API answered %d %+v", code, ans)
			}
			// What auto learned is remembered: the next request goes
			// straight to the style that worked.
			f.engine.Refresh(ctx, datasource.SharedKey(d.ID))
			last := p.Events()[len(p.Events())-1]
			if want := tt.wantMethod[len(tt.wantMethod)-1]; last.AuthMethod != want {
				t.Errorf("second request used %s, want %s", last.AuthMethod, want)
			}
		})
	}
}

func TestClientCredentialsParams(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "secret", Scopes: []string{"api/write"}, Audience: []string{"https://api.example.com"}})
	f := newFixture(t, fixtureOptions{})
	d := ccDatasource(p, "svc", "secret")
	d.Auth.Scope = "api/write,api/write"
	d.Auth.Audience = "https://api.example.com"
	d.Auth.Resource = "https://api.example.com/v1"
	d.Auth.TokenParams = map[string]string{"tenant": "acme"}
	d = f.create(d)
	if a := f.status(d.ID); a.Status != datasource.StatusAuthorized {
		t.Fatalf("status %+v", a)
	}
	ev := p.Events()[0]
	for k, want := range map[string]string{"grant_type": "client_credentials", "scope": "api/write", "audience": "https://api.example.com", "resource": "https://api.example.com/v1", "tenant": "acme"} {
		if ev.Form[k] != want {
			t.Errorf("token request %s = %q, want %q", k, ev.Form[k], want)
		}
	}
}

func TestConcurrentCallersOneTokenRequest(t *testing.T) {
	for _, grant := range []string{"client_credentials", "refresh_token"} {
		t.Run(grant, func(t *testing.T) {
			p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
			p.AddClient(grantstest.Client{ID: "c", Secret: "s", Scopes: []string{"api/read", "api/write", "openid", "profile"}, RedirectURIs: []string{redirectURI}})
			f := newFixture(t, fixtureOptions{})
			var d *datasource.Datasource
			if grant == "client_credentials" {
				d = f.create(ccDatasource(p, "c", "s"))
			} else {
				d = f.authorize(p, acDatasource(p, "c", "s"))
			}
			before := p.Count(grant)
			tok, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
			if err != nil {
				t.Fatal(err)
			}
			// The token has expired; 100 callers arrive at once.
			f.clock.Set(tok.Expiry.Add(time.Second))
			var wg sync.WaitGroup
			var mu sync.Mutex
			gens := map[uint64]int{}
			for range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					gens[got.Generation]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if n := p.Count(grant) - before; n != 1 {
				t.Errorf("%d token requests for 100 callers, want 1", n)
			}
			if len(gens) != 1 || gens[tok.Generation+1] != 100 {
				t.Errorf("callers got generations %v, want all %d", gens, tok.Generation+1)
			}
			// A caller that saw the old generation and got a 401 does not
			// refresh again: the newer token is already there.
			if _, err := f.engine.TokenAfter(ctx, datasource.SharedKey(d.ID), tok.Generation); err != nil {
				t.Fatal(err)
			}
			if n := p.Count(grant) - before; n != 1 {
				t.Errorf("TokenAfter with a stale generation made a request (%d)", n)
			}
		})
	}
}

func TestDialGuardRefusesLoopbackProvider(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "c", Secret: "s"})
	f := newFixture(t, fixtureOptions{engine: grants.Options{Dialer: &outbound.Dialer{}}})
	d := f.create(ccDatasource(p, "c", "s"))
	a := f.status(d.ID)
	if a.Status != datasource.StatusError || !strings.Contains(a.LastError, "private or loopback") {
		t.Fatalf("status %+v", a)
	}
	if p.Count("") != 0 {
		t.Fatal("the guard let a request through")
	}
}
