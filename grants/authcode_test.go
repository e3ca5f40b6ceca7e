package grants_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// authorize creates d and runs the whole browser flow for it: authorize
// URL, login at the provider, callback.
func (f *fixture) authorize(p *grantstest.Provider, d *datasource.Datasource) *datasource.Datasource {
	f.t.Helper()
	d = f.create(d)
	u, err := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{ReturnTo: "/ui/"})
	if err != nil {
		f.t.Fatal(err)
	}
	cb := login(f.t, u, "allow")
	res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
	if err != nil {
		f.t.Fatal(err)
	}
	if res.ErrorCode != "" || res.Authorization.Status != datasource.StatusAuthorized {
		f.t.Fatalf("callback: %+v", res)
	}
	return d
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(acDatasource(p, "web", "web-secret"))
	if a := f.status(d.ID); a.Status != datasource.StatusUnauthorized {
		t.Fatalf("before authorizing: %+v", a)
	}
	if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, grants.ErrNotAuthorized) {
		t.Fatalf("Token before authorizing: %v", err)
	}

	raw, err := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{ReturnTo: "/ui/datasources/x"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": "web", "redirect_uri": redirectURI,
		"scope": "openid profile", "code_challenge_method": "S256", "prompt": "consent", "access_type": "offline"} {
		if q.Get(k) != want {
			t.Errorf("authorize URL %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("state")) < 43 || len(q.Get("code_challenge")) != 43 {
		t.Errorf("state %q / challenge %q too short", q.Get("state"), q.Get("code_challenge"))
	}
	// The state is stored only as a hash; the verifier only sealed.
	f.store.Close()
	dbBytes, _ := os.ReadFile(filepath.Join(f.dir, "grantd.db"))
	if bytes.Contains(dbBytes, []byte(q.Get("state"))) {
		t.Error("raw state in the database")
	}
	f.restart(fixtureOptions{})

	cb := login(t, raw, "allow")
	if cb.Query().Get("code") == "" {
		t.Fatalf("no code: %s", cb)
	}
	res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorCode != "" || res.DatasourceID != d.ID || res.ReturnTo != "/ui/datasources/x" {
		t.Fatalf("callback result %+v", res)
	}
	a := f.status(d.ID)
	if a.Status != datasource.StatusAuthorized || !a.HasRefreshToken || a.GrantedScope != "openid profile" {
		t.Fatalf("after callback: %+v", a)
	}
	ev := p.Events()[len(p.Events())-1]
	if ev.GrantType != "authorization_code" || ev.Form["code_verifier"] != "[present]" || ev.Form["redirect_uri"] != redirectURI {
		t.Errorf("exchange request %+v", ev)
	}
	code, ans := f.callAPI(d.ID, "/me")
	if code != 200 || ans.Subject != grantstest.Username {
		t.Fatalf("API: %d %+v", code, ans)
	}

	// The same callback URL a second time fails cleanly and changes nothing.
	if _, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")}); !errors.Is(err, grants.ErrInvalidState) {
		t.Fatalf("replayed callback: %v", err)
	}
	if got := f.status(d.ID); got.Status != datasource.StatusAuthorized {
		t.Fatalf("replay changed the status: %+v", got)
	}
}

func TestCallbackRejections(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(acDatasource(p, "web", "s"))
	start := func(binding string) *url.URL {
		raw, err := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{Binding: binding})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(raw)
		return u
	}

	if _, err := f.engine.Callback(ctx, grants.CallbackRequest{State: "forged", Code: "x"}); !errors.Is(err, grants.ErrInvalidState) {
		t.Errorf("unknown state: %v", err)
	}
	if _, err := f.engine.Callback(ctx, grants.CallbackRequest{Code: "x"}); !errors.Is(err, grants.ErrInvalidState) {
		t.Errorf("no state: %v", err)
	}

	u := start("")
	f.clock.Advance(datasource.StateTTL + time.Second)
	if _, err := f.engine.Callback(ctx, grants.CallbackRequest{State: u.Query().Get("state"), Code: "x"}); !errors.Is(err, grants.ErrInvalidState) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired state: %v", err)
	}

	binding := grants.NewBinding()
	u = start(binding)
	if _, err := f.engine.Callback(ctx, grants.CallbackRequest{State: u.Query().Get("state"), Code: "x", Binding: grants.NewBinding()}); !errors.Is(err, grants.ErrInvalidState) || !strings.Contains(err.Error(), "another browser") {
		t.Errorf("other browser: %v", err)
	}

	// The provider's error comes back in the result, with its description.
	raw := start(binding).String()
	cb := login(t, raw, "deny")
	res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Error: cb.Query().Get("error"),
		ErrorDescription: cb.Query().Get("error_description"), Binding: binding})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorCode != "access_denied" || !strings.Contains(res.ErrorDescription, "denied") {
		t.Errorf("denied: %+v", res)
	}

	// The datasource was reconfigured while the person was at the provider.
	raw = start("").String()
	cb = login(t, raw, "allow")
	d2 := d.Clone()
	d2.Auth.ClientID = "someone-else"
	f.store.UpdateDatasource(ctx, d2)
	res, err = f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
	if err != nil || res.ErrorCode != "datasource_changed" {
		t.Errorf("reconfigured datasource: %+v %v", res, err)
	}
	if a := f.status(d.ID); a.Status != datasource.StatusUnauthorized {
		t.Errorf("a refused callback stored something: %+v", a)
	}
}

// TestExchangeNeverRetriesTheCode: with auto client authentication and no
// metadata, a code exchange that fails under Basic is not tried again under
// body — the code is single-use.
func TestExchangeNeverRetriesTheCode(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{NoMetadata: true})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", AuthMethod: "client_secret_post", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(acDatasource(p, "web", "s"))
	raw, _ := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{})
	cb := login(t, raw, "allow")
	res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorCode != "invalid_client" {
		t.Errorf("result %+v, want invalid_client", res)
	}
	if n := p.Count("authorization_code"); n != 1 {
		t.Errorf("the code was sent %d times", n)
	}
	if a := f.status(d.ID); !strings.Contains(a.LastError, "invalid_client") {
		t.Errorf("lastError %q", a.LastError)
	}
}

// TestAutoRecoversAfterARefusedExchange: the metadata lists both Basic and
// body, the client was registered for body. The first code exchange (Basic)
// is refused and not retried; the next authorization uses body, and so do
// its refreshes.
func TestAutoRecoversAfterARefusedExchange(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", AuthMethod: "client_secret_post", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(acDatasource(p, "web", "s"))
	callback := func() *grants.CallbackResult {
		t.Helper()
		raw, _ := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{})
		cb := login(t, raw, "allow")
		res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := callback(); res.ErrorCode != "invalid_client" {
		t.Fatalf("first exchange: %+v, want invalid_client", res)
	}
	if n := p.Count("authorization_code"); n != 1 {
		t.Fatalf("the code was sent %d times", n)
	}
	if res := callback(); res.ErrorCode != "" || res.Authorization.Status != datasource.StatusAuthorized {
		t.Fatalf("second authorization: %+v", res)
	}
	if _, err := f.engine.Refresh(ctx, datasource.SharedKey(d.ID)); err != nil || f.status(d.ID).Status != datasource.StatusAuthorized {
		t.Fatalf("refresh: %v %+v", err, f.status(d.ID))
	}
	var methods []string
	for _, ev := range p.Events() {
		methods = append(methods, ev.GrantType+":"+ev.AuthMethod)
	}
	if want := "authorization_code:basic,authorization_code:body,refresh_token:body"; strings.Join(methods, ",") != want {
		t.Errorf("provider saw %v, want %s", methods, want)
	}
}

func TestRefreshRotation(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.authorize(p, acDatasource(p, "web", "s"))
	old := f.record(d.ID)

	a, err := f.engine.Refresh(ctx, datasource.SharedKey(d.ID))
	if err != nil || a.Status != datasource.StatusAuthorized {
		t.Fatalf("refresh: %+v %v", a, err)
	}
	cur := f.record(d.ID)
	if cur.RefreshToken.Equal(old.RefreshToken) || cur.AccessToken.Equal(old.AccessToken) || cur.Generation != old.Generation+1 {
		t.Fatal("refresh did not rotate the tokens")
	}
	// The provider no longer accepts the old refresh token, and grantd,
	// holding the new one, keeps working past the next expiry.
	if p.RefreshTokenActive(old.RefreshToken.Reveal()) || !p.RefreshTokenActive(cur.RefreshToken.Reveal()) {
		t.Fatal("rotation: the provider still accepts the old refresh token, or not the new one")
	}
	f.clock.Set(cur.Expiry.Add(time.Second))
	if code, _ := f.callAPI(d.ID, "/x"); code != 200 {
		t.Fatalf("API after rotation: %d", code)
	}
	cur = f.record(d.ID)

	// Somebody presents an old refresh token: the provider detects the
	// reuse and revokes the whole family. grantd notices on its next
	// refresh: the grant is gone, a person must authorize again.
	req, _ := http.NewRequest("POST", p.TokenURL(), strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.RefreshToken.Reveal()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", "s")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("old refresh token: HTTP %d, want 400 invalid_grant", resp.StatusCode)
	}
	if p.RefreshTokenActive(cur.RefreshToken.Reveal()) {
		t.Fatal("the provider did not revoke the token family on reuse")
	}
	a, _ = f.engine.Refresh(ctx, datasource.SharedKey(d.ID))
	if a.Status != datasource.StatusNeedsReauthorization || a.HasRefreshToken || !strings.Contains(a.LastError, "invalid_grant") {
		t.Fatalf("after the family was revoked: %+v", a)
	}
	if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, grants.ErrNotAuthorized) {
		t.Fatalf("Token: %v", err)
	}
	// Authorizing again brings it back.
	raw, _ := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{})
	cb := login(t, raw, "allow")
	res, _ := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
	if res.Authorization.Status != datasource.StatusAuthorized {
		t.Fatalf("re-authorize: %+v", res)
	}
	if code, _ := f.callAPI(d.ID, "/x"); code != 200 {
		t.Fatalf("API after re-authorizing: %d", code)
	}
}

func TestRefreshKeepsGrantdWorking(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{JWT: true, AccessTokenLifespan: 30 * time.Minute})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	d := f.authorize(p, acDatasource(p, "web", "s"))
	for i := range 3 {
		tok, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
		if err != nil {
			t.Fatal(err)
		}
		if exp, ok := grants.JWTExpiry(tok.Value().Reveal()); !ok || exp.IsZero() {
			t.Fatal("provider did not issue a JWT")
		}
		f.clock.Set(tok.Expiry.Add(time.Second))
		if code, _ := f.callAPI(d.ID, "/x"); code != 200 {
			t.Fatalf("round %d: API %d", i, code)
		}
	}
	if n := p.Count("refresh_token"); n < 3 {
		t.Fatalf("%d refreshes, want at least 3", n)
	}
}
