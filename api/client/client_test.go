package client_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/api/client"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
)

var ctx = context.Background()

const adminToken = "client-test-admin-token-0123"

// mustServe starts a real grantd API on loopback: bbolt in a temp dir
// (which keeps API keys too), the engine, and an authorization server that
// knows the client "svc".
func mustServe(t *testing.T) (baseURL string, prov *grantstest.Provider) {
	t.Helper()
	prov = grantstest.NewProvider(t, grantstest.ProviderOptions{})
	prov.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret-0123", Scopes: []string{"read"}})
	dir := t.TempDir()
	keys, err := crypto.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	baseURL = "http://" + ln.Addr().String()
	public, _ := url.Parse(baseURL)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dialer := &outbound.Dialer{AllowPrivate: true}
	engine := grants.New(store, grants.Options{Logger: log, RedirectURI: api.RedirectURI(public), Dialer: dialer})
	if err := engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	apiKeys, err := access.NewKeys(ctx, store, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{Engine: engine, PublicURL: public, AdminTokenHash: sha256.Sum256([]byte(adminToken)),
		Keys: apiKeys, SessionKey: make([]byte, 32), Dialer: dialer, Logger: log, Version: "test"})
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(ctx)
		engine.Close()
		store.Close()
	})
	return baseURL, prov
}

func svc(prov *grantstest.Provider, name string) map[string]any {
	return map[string]any{"name": name, "url": prov.URL + "/api", "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": prov.TokenURL(), "clientId": "svc",
		"clientSecret": "svc-secret-0123", "scope": "read", "exposeToken": true}}
}

// problemOf returns the *api.Problem in err, or fails.
func problemOf(t *testing.T, err error) *api.Problem {
	t.Helper()
	var p *api.Problem
	if !errors.As(err, &p) {
		t.Fatalf("%v (%T): not an *api.Problem", err, err)
	}
	return p
}

func TestDatasourceLifecycle(t *testing.T) {
	base, prov := mustServe(t)
	c := client.New(base+"/", adminToken) // a trailing slash is fine

	created, err := c.Create(ctx, svc(prov, "Billing"))
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Name != "Billing" || created.Auth.GrantType != datasource.ClientCredentials ||
		!created.Auth.ClientSecretSet || created.Authorization.Status != datasource.StatusAuthorized {
		t.Fatalf("created %+v", created)
	}
	if _, err := c.Create(ctx, svc(prov, "billing")); problemOf(t, err).Status != http.StatusConflict {
		t.Errorf("a name in use, differing in case: %v, want 409", err)
	}

	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("List: %+v %v", list, err)
	}
	for _, key := range []string{created.ID, "Billing", "BILLING"} {
		got, err := c.Find(ctx, key)
		if err != nil || got.ID != created.ID {
			t.Errorf("Find(%q): %+v %v", key, got, err)
		}
	}
	for _, key := range []string{"nope", "ds_nope"} {
		if _, err := c.Find(ctx, key); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("Find(%q): %v, want ErrNotFound", key, err)
		}
	}

	tok, err := c.Token(ctx, created.ID)
	if err != nil || tok.AccessToken == "" || tok.TokenType != "bearer" && tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("Token: %v %v", tok, err)
	}
	st, err := c.Status(ctx, created.ID)
	if err != nil || st.Status != datasource.StatusAuthorized || st.ExpiresAt == nil {
		t.Fatalf("Status: %+v %v", st, err)
	}

	time.Sleep(10 * time.Millisecond) // UpdatedAt has to be able to move
	body := svc(prov, "Billing")
	delete(body["auth"].(map[string]any), "clientSecret") // keep the stored one
	same, err := c.Replace(ctx, created.ID, body)
	if err != nil || !same.UpdatedAt.Equal(created.UpdatedAt) {
		t.Fatalf("Replace with nothing new: %v, updatedAt %v → %v", err, created.UpdatedAt, same.UpdatedAt)
	}
	body["url"] = prov.URL + "/api/v2"
	changed, err := c.Replace(ctx, created.ID, body)
	if err != nil || changed.URL != prov.URL+"/api/v2" || !changed.UpdatedAt.After(created.UpdatedAt) {
		t.Fatalf("Replace: %+v %v", changed, err)
	}

	if _, err := c.Authorize(ctx, created.ID, ""); problemOf(t, err).Status != http.StatusBadRequest {
		t.Errorf("Authorize on client credentials: %v, want 400", err)
	}

	if err := c.Delete(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, created.ID); problemOf(t, err).Status != http.StatusNotFound {
		t.Errorf("Get after Delete: %v, want 404", err)
	}
}

func TestAuthorize(t *testing.T) {
	base, prov := mustServe(t)
	c := client.New(base, adminToken)
	d, err := c.Create(ctx, map[string]any{"name": "Web", "url": prov.URL + "/api", "auth": map[string]any{
		"grantType": "authorization_code", "accessTokenUrl": prov.TokenURL(), "authorizationUrl": prov.AuthURL(),
		"clientId": "web", "clientSecret": "web-secret-0123", "scope": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Authorize(ctx, d.ID, "/done")
	if err != nil || !strings.HasPrefix(u, prov.AuthURL()+"?") || !strings.Contains(u, "state=") {
		t.Fatalf("Authorize: %q %v", u, err)
	}
	if _, err := c.Authorize(ctx, d.ID, "https://elsewhere.example/"); problemOf(t, err).Status != http.StatusBadRequest {
		t.Errorf("an absolute returnTo: %v, want 400", err)
	}
}

func TestServerInfoAndHealthz(t *testing.T) {
	base, _ := mustServe(t)
	info, err := client.New(base, adminToken).ServerInfo(ctx)
	if err != nil || info.Version != "test" || info.PublicURL != base || info.RedirectURI != base+"/api/v1/datasources/authorize" {
		t.Fatalf("ServerInfo: %+v %v", info, err)
	}
	h, err := client.New(base, "").Healthz(ctx)
	if err != nil || h.Status != "ok" || h.Version != "test" {
		t.Fatalf("Healthz without a token: %+v %v", h, err)
	}
}

func TestProblems(t *testing.T) {
	base, prov := mustServe(t)

	_, err := client.New(base, "not-the-admin-token").List(ctx)
	if p := problemOf(t, err); p.Status != http.StatusUnauthorized || p.Title == "" {
		t.Errorf("a wrong token: %+v", p)
	}

	bad := svc(prov, "Bad")
	bad["bogus"] = 1
	delete(bad, "url")
	_, err = client.New(base, adminToken).Create(ctx, bad)
	p := problemOf(t, err)
	fields := map[string]bool{}
	for _, e := range p.Errors {
		fields[e.Field] = true
	}
	if p.Status != http.StatusBadRequest || !fields["bogus"] || !fields["url"] {
		t.Errorf("an invalid body: %+v, want 400 naming bogus and url", p)
	}

	// Nothing listens on port 1.
	_, err = client.New("http://127.0.0.1:1", adminToken).List(ctx)
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("unreachable: %v (%T), want a *url.Error", err, err)
	}
}

// TestAnswersNotFromGrantd: a proxy in front of grantd may answer errors
// that are not problem+json, or a success that is not JSON.
func TestAnswersNotFromGrantd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization: %q", got)
		}
		if r.URL.Path == "/api/v1/config" {
			io.WriteString(w, "<html>hello</html>")
			return
		}
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := client.New(srv.URL, "tok")
	_, err := c.List(ctx)
	if p := problemOf(t, err); p.Status != http.StatusBadGateway || p.Title != "502 Bad Gateway" {
		t.Errorf("a plain-text 502: %+v", p)
	}
	if _, err := c.ServerInfo(ctx); !errors.Is(err, client.ErrNotJSON) {
		t.Errorf("an HTML 200: %v, want ErrNotJSON", err)
	}
}
