package grants_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/provider"
)

// shaper makes the test provider's token answers look like one catalogue
// entry's provider: nested fields (Slack user tokens under authed_user),
// kept fields (Salesforce's instance_url, absent from its refresh answer
// here to prove it is kept), expires_in as a string, no expires_in for
// providers whose tokens carry none, no refresh token on refresh.
type shaper struct {
	e        *provider.Entry
	instance string // what instance_url says

	mu      sync.Mutex
	answers []map[string]any // as sent, per token request
	paths   []string         // the paths the front saw, in order
}

func (s *shaper) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		refresh := r.PostForm.Get("grant_type") == "refresh_token"
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var doc map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		e := s.e
		if e.ExpiresInDefault != 0 {
			delete(doc, "expires_in") // a token without a stated life
		} else if refresh {
			doc["expires_in"] = strconv.Itoa(int(doc["expires_in"].(float64))) // a string
		}
		if refresh && e.NoRefreshTokenOnRefresh {
			delete(doc, "refresh_token")
		}
		if slices.Contains(e.TokenResponse.Keep, "instance_url") && !refresh {
			doc["instance_url"] = s.instance
		}
		if p := e.TokenResponse.AccessTokenPath; p != "" && !refresh {
			// The first answer nests the fields where the paths point.
			nested := map[string]any{"token_type": "user"}
			for _, f := range []struct{ path, field string }{{p, "access_token"},
				{e.TokenResponse.RefreshTokenPath, "refresh_token"}, {e.TokenResponse.ExpiresInPath, "expires_in"}} {
				if f.path == "" || doc[f.field] == nil {
					continue
				}
				v := doc[f.field]
				if f.field == "expires_in" {
					v = strconv.Itoa(int(v.(float64)))
				}
				nested[f.path[strings.LastIndex(f.path, "/")+1:]] = v
				delete(doc, f.field)
			}
			doc["ok"] = true
			doc["authed_user"] = nested
		}
		s.mu.Lock()
		s.answers = append(s.answers, doc)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	})
}

// front serves the entry's URLs on loopback: /t/<host>/<path> is the
// token endpoint, /a/<host>/<path> the authorization endpoint, anything
// else the resource API. The host becomes a path segment, so the
// entry's templates are filled and checked as the engine fills them.
// The entry's header (Shopify's X-Shopify-Access-Token, no prefix) is
// read as the test API reads a Bearer token.
func (s *shaper) front(p *grantstest.Provider) *httptest.Server {
	h := p.Server.Config.Handler
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		r = r.Clone(r.Context())
		switch {
		case strings.HasPrefix(r.URL.Path, "/t/"):
			r.URL.Path = "/oauth2/token"
		case strings.HasPrefix(r.URL.Path, "/a/"):
			r.URL.Path = "/oauth2/auth"
		default:
			r.URL.Path = "/api" + r.URL.Path
			if name := s.e.HeaderName; name != "" && name != "Authorization" {
				r.Header.Set("Authorization", "Bearer "+r.Header.Get(name))
			}
		}
		r.RequestURI = r.URL.RequestURI()
		h.ServeHTTP(w, r)
	}))
}

// onLoopback moves an entry URL to the front: scheme and host become
// base + prefix + host.
func onLoopback(raw, base, prefix string) string {
	if raw == "" {
		return ""
	}
	_, rest, _ := strings.Cut(raw, "://")
	return base + prefix + rest
}

// TestCatalogueEntries runs each catalogue entry against the in-process
// authorization server answering like that provider: a datasource that
// names the provider and only moves its hosts to loopback is authorized
// (or gets a client-credentials token), calls the API through
// Target.URL and Target.Send, is refreshed, and calls again.
func TestCatalogueEntries(t *testing.T) {
	for _, e := range provider.All() {
		if !e.OAuth2() {
			t.Run(e.Name, func(t *testing.T) { testStaticEntry(t, e) })
			continue
		}
		t.Run(e.Name, func(t *testing.T) { testEntry(t, e) })
	}
}

// testStaticEntry runs an entry of a fixed-credential type (an API key,
// a bearer token): a datasource that names it, moves its url to loopback
// and brings its credential gets the entry's type, makes no token
// request, and Target.Send puts the credential where the provider's
// documentation says (the entry's header and prefix; Authorization:
// Bearer for bearer).
func testStaticEntry(t *testing.T, e *provider.Entry) {
	f := newFixture(t, fixtureOptions{})
	const cred = "static-entry-credential-5b9d"
	want := "Authorization: Bearer " + cred
	if e.AuthType == datasource.AuthAPIKey {
		name := e.HeaderName
		if name == "" {
			name = "Authorization"
		}
		prefix := "Bearer "
		if e.HeaderPrefix != nil {
			prefix = *e.HeaderPrefix
			if prefix != "" {
				prefix += " "
			}
		}
		want = http.CanonicalHeaderKey(name) + ": " + prefix + cred
	}
	var mu sync.Mutex
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _, _ := strings.Cut(want, ":")
		mu.Lock()
		got = append(got, name+": "+r.Header.Get(name))
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	d := &datasource.Datasource{Name: e.Title, Provider: strings.ToUpper(e.Name), URL: onLoopback(e.URL, up.URL, "/u/")}
	switch e.AuthType {
	case datasource.AuthAPIKey:
		d.Auth.APIKey = datasource.NewSecret(cred)
	case datasource.AuthBearer:
		d.Auth.Token = datasource.NewSecret(cred)
	default:
		t.Fatalf("no credential for an entry of type %s in this test", e.AuthType)
	}
	d = f.create(d)
	if d.Auth.Kind() != e.AuthType || d.Provider != e.Name {
		t.Fatalf("created as %s, provider %q", d.Auth.Kind(), d.Provider)
	}
	tg, err := f.engine.Resolve(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+"/me", nil)
	err = tg.Send(ctx, grants.HTTPRequest(req), true, func() (int, error) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != want {
		t.Errorf("the upstream got %q, want %q", got, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 0 {
		t.Errorf("token requests for a %s datasource: %v", e.AuthType, f.requests)
	}
}

func testEntry(t *testing.T, e *provider.Entry) {
	f := newFixture(t, fixtureOptions{})
	sh := &shaper{e: e}
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{OptionalPKCE: true, NoMetadata: true, TokenHandler: sh.wrap})
	front := sh.front(p)
	t.Cleanup(front.Close)
	sh.instance = front.URL

	grant := datasource.AuthorizationCode
	if !slices.Contains(e.GrantTypes, grant) {
		grant = datasource.ClientCredentials
	}
	d := &datasource.Datasource{
		Name: e.Title, Provider: strings.ToUpper(e.Name), // any case
		URL: onLoopback(e.URL, front.URL, "/u/"),
		Auth: datasource.OAuth2{
			GrantType:        grant,
			AccessTokenURL:   onLoopback(e.AccessTokenURL, front.URL, "/t/"),
			AuthorizationURL: onLoopback(e.AuthorizationURL, front.URL, "/a/"),
			ClientID:         "client-" + e.Name,
			ClientSecret:     datasource.NewSecret("secret-" + e.Name),
		},
	}
	if slices.Contains(e.TokenResponse.Keep, "instance_url") {
		d.URL = "http://{token.instance_url}" // the front's origin, from the token answer
	}
	if d.URL == "" {
		d.URL = front.URL + "/u/api.example.com" // the entry leaves the API to the owner
	}
	want := map[string]string{} // placeholder → the value the paths must show
	for _, c := range e.ConnectionConfig {
		if d.ConnectionConfig == nil {
			d.ConnectionConfig = map[string]string{}
		}
		d.ConnectionConfig[c.Name] = c.Example
		want[c.Name] = c.Example
	}
	method := "client_secret_basic"
	if e.ClientAuthentication == datasource.ClientAuthBody {
		method = "client_secret_post"
	}
	scopes := slices.Clone(e.DefaultScopes)
	if e.ScopeSeparator != "" && e.ScopeSeparator != " " && len(scopes) > 1 && e.ScopeParam == "" {
		// The test server splits on spaces: the joined list is one scope.
		scopes = append(scopes, strings.Join(scopes, e.ScopeSeparator))
	}
	p.AddClient(grantstest.Client{ID: d.Auth.ClientID, Secret: "secret-" + e.Name, AuthMethod: method,
		Scopes: scopes, RedirectURIs: []string{redirectURI}, Audience: strings.Fields(e.CustomAuthParams["audience"])})

	if grant == datasource.AuthorizationCode {
		created := f.create(d)
		if created.Provider != e.Name {
			t.Errorf("provider stored as %q, want %q", created.Provider, e.Name)
		}
		u, err := f.engine.AuthorizeURL(ctx, created.ID, grants.AuthorizeRequest{ReturnTo: "/ui/"})
		if err != nil {
			t.Fatal(err)
		}
		au, _ := url.Parse(u)
		param := e.ScopeParam
		if param == "" {
			param = "scope"
		}
		if got, w := au.Query().Get(param), strings.Join(e.DefaultScopes, e.ScopeSeparator); got != w {
			t.Errorf("authorize %s = %q, want %q", param, got, w)
		}
		for k, v := range e.CustomAuthParams {
			if au.Query().Get(k) != v {
				t.Errorf("authorize %s = %q, want %q", k, au.Query().Get(k), v)
			}
		}
		checkFilled(t, au.Path, created.Auth.AuthorizationURL, want)
		cb := login(t, u, "allow")
		res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")})
		if err != nil || res.ErrorCode != "" {
			t.Fatalf("callback: %+v %v", res, err)
		}
		d = created
	} else {
		d = f.create(d)
	}
	rec := f.record(d.ID)
	if !rec.HasToken() {
		t.Fatalf("no token: %+v", rec.Authorization())
	}
	if e.ExpiresInDefault != 0 {
		if got := rec.Expiry.Sub(rec.LastRefreshedAt); got != time.Duration(e.ExpiresInDefault)*time.Second {
			t.Errorf("a token without expires_in lives %v, want expiresInDefault %ds", got, e.ExpiresInDefault)
		}
	} else if got := rec.Expiry.Sub(rec.LastRefreshedAt); !hourish(got) {
		t.Errorf("token lives %v, want the answer's hour", got)
	}
	for _, k := range e.TokenResponse.Keep {
		if rec.Kept[k] != sh.instance {
			t.Errorf("kept %s = %q, want %q", k, rec.Kept[k], sh.instance)
		}
	}
	for _, ev := range p.Events() {
		if w := map[string]string{"client_secret_basic": "basic", "client_secret_post": "body"}[method]; ev.AuthMethod != w {
			t.Errorf("%s request authenticated the client by %s, want %s", ev.GrantType, ev.AuthMethod, w)
		}
	}
	callThrough(t, f, d, want)

	if grant != datasource.AuthorizationCode {
		return
	}
	before := rec
	if _, err := f.engine.Refresh(ctx, datasource.SharedKey(d.ID)); err != nil {
		t.Fatal(err)
	}
	after := f.record(d.ID)
	if after.Generation != before.Generation+1 || after.AccessToken.Reveal() == before.AccessToken.Reveal() {
		t.Fatalf("refresh did not replace the token: %+v", after.Authorization())
	}
	if e.NoRefreshTokenOnRefresh && after.RefreshToken.Reveal() != before.RefreshToken.Reveal() {
		t.Error("a refresh answer without refresh_token lost the one held")
	}
	if !e.NoRefreshTokenOnRefresh && after.RefreshToken.Reveal() == before.RefreshToken.Reveal() {
		t.Error("the refresh token the refresh answer rotated was not stored")
	}
	if e.ExpiresInDefault == 0 && !hourish(after.Expiry.Sub(after.LastRefreshedAt)) {
		t.Errorf("a string expires_in gave a life of %v", after.Expiry.Sub(after.LastRefreshedAt))
	}
	for _, k := range e.TokenResponse.Keep {
		if after.Kept[k] != sh.instance {
			t.Errorf("after a refresh answer without %s, kept %q", k, after.Kept[k])
		}
	}
	callThrough(t, f, d, want)
}

// callThrough calls the API as datasource d the way the proxy does: the
// target's URL, then Send.
func callThrough(t *testing.T, f *fixture, d *datasource.Datasource, want map[string]string) {
	t.Helper()
	tg, err := f.engine.Resolve(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		t.Fatal(err)
	}
	base, err := tg.URL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkFilled(t, base, d.URL, want)
	req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/me", nil)
	var resp *http.Response
	err = tg.Send(ctx, grants.HTTPRequest(req), true, func() (int, error) {
		var err error
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var a grantstest.APIAnswer
	if resp.StatusCode != 200 || json.NewDecoder(bytes.NewReader(b)).Decode(&a) != nil || a.ClientID != d.Auth.ClientID {
		t.Fatalf("API call to %s: %d %s", base, resp.StatusCode, b)
	}
}

// checkFilled fails unless s, made from the template tmpl, holds the
// value of every placeholder tmpl names, and no brace.
func checkFilled(t *testing.T, s, tmpl string, want map[string]string) {
	t.Helper()
	if strings.ContainsAny(s, "{}") {
		t.Errorf("%s: a placeholder was not filled", s)
	}
	for k, v := range want {
		if strings.Contains(tmpl, "{"+k+"}") && !strings.Contains(s, v) {
			t.Errorf("%s does not hold %s=%s", s, k, v)
		}
	}
}

// hourish reports whether d is the test server's hour, as expires_in
// states it in whole seconds counted on the server's own clock.
func hourish(d time.Duration) bool { return d > time.Hour-time.Minute && d <= time.Hour }

// TestRefreshOnStatus: a status of auth.refreshOnStatus forces the one
// refresh-and-retry of Send; one that is not listed (401 here) passes
// through untouched.
func TestRefreshOnStatus(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "c", Secret: "s", Scopes: []string{"api/read", "api/write"}})
	d := ccDatasource(p, "c", "s")
	d.Auth.RefreshOnStatus = []int{403}
	d = f.create(d)
	f.clock.Advance(grants.MinAgeForForcedRefresh + time.Second)
	for _, tc := range []struct {
		status   int
		requests int // token requests after the first
	}{{401, 0}, {403, 1}} {
		before := p.Count("client_credentials")
		tg, err := f.engine.Resolve(ctx, datasource.SharedKey(d.ID))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", d.URL+"/x", nil)
		sends := 0
		err = tg.Send(ctx, grants.HTTPRequest(req), true, func() (int, error) {
			sends++
			if sends == 1 {
				return tc.status, nil
			}
			return 200, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Count("client_credentials") - before; got != tc.requests || sends != 1+tc.requests {
			t.Errorf("upstream %d: %d token requests and %d sends, want %d and %d", tc.status, got, sends, tc.requests, 1+tc.requests)
		}
		f.clock.Advance(grants.MinAgeForForcedRefresh + time.Second)
	}
}

// TestConnectionConfigFillsTemplates: a per-user datasource's
// {tenant} in the token path and url comes from each end user's connect
// session over the datasource's default; a value that would change the
// host or the path is refused naming the field.
func TestConnectionConfigFillsTemplates(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	e := &provider.Entry{Name: "templated"}
	sh := &shaper{e: e}
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{TokenHandler: sh.wrap})
	front := sh.front(p)
	t.Cleanup(front.Close)
	p.AddClient(grantstest.Client{ID: "c", Secret: "s", Scopes: []string{"openid"}, RedirectURIs: []string{redirectURI}})
	d := f.create(&datasource.Datasource{
		Name: "tenanted", URL: front.URL + "/u/{tenant}", ConnectionMode: datasource.PerUser,
		ConnectionConfig: map[string]string{"tenant": "common"},
		Auth: datasource.OAuth2{GrantType: datasource.AuthorizationCode, ClientID: "c", ClientSecret: datasource.NewSecret("s"),
			AccessTokenURL: front.URL + "/t/{tenant}/token", AuthorizationURL: front.URL + "/a/{tenant}/authorize", Scope: "openid"},
	})
	for _, bad := range []string{"../x", "a/b", "a%2f"} {
		_, err := f.engine.CreateConnectSession(ctx, grants.ConnectRequest{DatasourceID: d.ID, EndUserID: "u1",
			ConnectionConfig: map[string]string{"tenant": bad}})
		var v *datasource.ValidationError
		if !errors.As(err, &v) || len(v.Errors) == 0 || v.Errors[0].Field != "connectionConfig.tenant" {
			t.Errorf("tenant %q: %v, want a field error on connectionConfig.tenant", bad, err)
		}
	}
	u, err := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{ReturnTo: "/ui/", EndUserID: "u1",
		ConnectionConfig: map[string]string{"tenant": "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, front.URL+"/a/acme/authorize?") {
		t.Fatalf("authorize URL %s, want the connection's tenant", u)
	}
	cb := login(t, u, "allow")
	if res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code")}); err != nil || res.ErrorCode != "" {
		t.Fatalf("callback: %+v %v", res, err)
	}
	key := datasource.Key{Datasource: d.ID, EndUser: "u1"}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.engine.Refresh(ctx, key); err != nil {
		t.Fatal(err)
	}
	tg, err := f.engine.Resolve(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	base, err := tg.URL(ctx)
	if err != nil || base != front.URL+"/u/acme" {
		t.Fatalf("url %q %v, want the connection's tenant", base, err)
	}
	sh.mu.Lock()
	paths := slices.Clone(sh.paths)
	sh.mu.Unlock()
	var tokenPaths []string
	for _, s := range paths {
		if strings.HasPrefix(s, "/t/") && !strings.Contains(s, "/.well-known/") { // not metadata discovery
			tokenPaths = append(tokenPaths, s)
		}
	}
	if !slices.Equal(tokenPaths, []string{"/t/acme/token", "/t/acme/token"}) {
		t.Errorf("token requests went to %v, want the exchange and the refresh at /t/acme/token", tokenPaths)
	}
}
