package client_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/api/client"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
)

// connect is an end user's browser opening a connect link, logging in at
// the provider as account and coming back through the callback; it
// returns the query grantd sends the browser back with.
func connect(t *testing.T, link, account string) url.Values {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	br := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := link
	for _, step := range []string{"open the link", "log in", "callback"} {
		var resp *http.Response
		var err error
		if step == "log in" {
			resp, err = br.PostForm(next, url.Values{"username": {account}, "password": {grantstest.Users[account]}, "consent": {"allow"}})
		} else {
			resp, err = br.Get(next)
		}
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", step, resp.StatusCode)
		}
		next = resp.Header.Get("Location")
	}
	u, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// TestConnections: an app backend makes connect links, two end users
// connect (ids with characters that need escaping in a path), and the
// client gets each one's token and manages their connections.
func TestConnections(t *testing.T) {
	base, prov := mustServe(t)
	prov.AddClient(grantstest.Client{ID: "web", Secret: "web-secret-0123", Scopes: []string{"read"},
		RedirectURIs: []string{base + "/api/v1/datasources/authorize"}})
	c := client.New(base, adminToken)
	d, err := c.Create(ctx, map[string]any{"name": "Sheets", "url": prov.URL + "/api", "connectionMode": "perUser", "auth": map[string]any{
		"grantType": "authorization_code", "accessTokenUrl": prov.TokenURL(), "authorizationUrl": prov.AuthURL(),
		"clientId": "web", "clientSecret": "web-secret-0123", "scope": "read", "exposeToken": true}})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := c.Create(ctx, svc(prov, "Billing"))
	if err != nil {
		t.Fatal(err)
	}

	users := map[string]string{"team|7:alice@acme": "alice", "bob+1": "bob"} // end user → provider account
	for user, account := range users {
		cs, err := c.CreateConnectSession(ctx, api.ConnectSessionRequest{Datasource: "Sheets", EndUserID: user,
			EndUser: datasource.EndUser{DisplayName: strings.ToUpper(account)}, ReturnTo: "/app/done"})
		if err != nil || cs.ConnectURL != base+"/connect/"+cs.Token || cs.ExpiresAt.IsZero() {
			t.Fatalf("CreateConnectSession(%q): %+v %v", user, cs, err)
		}
		if q := connect(t, cs.ConnectURL, account); q.Get("result") != "authorized" || q.Get("endUserId") != user {
			t.Fatalf("connecting %q: back with %v", user, q)
		}
	}
	tokens := map[string]bool{}
	for user := range users {
		tok, err := c.TokenFor(ctx, d.ID, user)
		if err != nil || tok.AccessToken == "" || tokens[tok.AccessToken] {
			t.Fatalf("TokenFor(%q): %v %v", user, tok, err)
		}
		tokens[tok.AccessToken] = true
	}
	// No end user for a per-user datasource: 400 naming the header. One
	// with no connection: 424 with a link to connect.
	_, err = c.Token(ctx, d.ID)
	if p := problemOf(t, err); p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != client.EndUserHeader {
		t.Errorf("Token of a per-user datasource: %+v", p)
	}
	_, err = c.TokenFor(ctx, d.ID, "carol")
	if p := problemOf(t, err); p.Status != http.StatusFailedDependency || !strings.HasPrefix(p.ConnectURL, base+"/connect/") {
		t.Errorf("TokenFor an end user with no connection: %+v", p)
	}
	// A shared datasource ignores the end user.
	if tok, err := c.TokenFor(ctx, shared.ID, "carol"); err != nil || tok.AccessToken == "" {
		t.Errorf("TokenFor on a shared datasource: %v", err)
	}

	// Pages, every page, a status filter.
	page, err := c.Connections(ctx, d.ID, client.ConnectionQuery{Limit: 1})
	if err != nil || len(page.Connections) != 1 || page.Connections[0].EndUserID != "bob+1" || page.NextCursor == "" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, err = c.Connections(ctx, d.ID, client.ConnectionQuery{Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(page.Connections) != 1 || page.Connections[0].EndUserID != "team|7:alice@acme" {
		t.Fatalf("second page: %+v %v", page, err)
	}
	all, err := c.AllConnections(ctx, d.ID, "")
	if err != nil || len(all) != 2 || all[0].EndUserID != "bob+1" || all[1].EndUser.DisplayName != "ALICE" {
		t.Fatalf("AllConnections: %+v %v", all, err)
	}
	if _, err := c.Connections(ctx, d.ID, client.ConnectionQuery{Status: "bogus"}); problemOf(t, err).Status != http.StatusBadRequest {
		t.Errorf("a bad status filter: %v", err)
	}
	if _, err := c.Connections(ctx, shared.ID, client.ConnectionQuery{}); problemOf(t, err).Status != http.StatusBadRequest {
		t.Errorf("connections of a shared datasource: %v", err)
	}

	// One connection: read, refresh, check, revoke, delete.
	const alice = "team|7:alice@acme"
	got, err := c.Connection(ctx, d.ID, alice)
	if err != nil || got.EndUserID != alice || got.Authorization.Status != datasource.StatusAuthorized {
		t.Fatalf("Connection: %+v %v", got, err)
	}
	if got, err = c.RefreshConnection(ctx, d.ID, alice); err != nil || got.Authorization.Status != datasource.StatusAuthorized {
		t.Fatalf("RefreshConnection: %+v %v", got, err)
	}
	if got, err = c.CheckConnection(ctx, d.ID, alice); err != nil || got.Health == nil || !got.Health.OK {
		t.Fatalf("CheckConnection: %+v %v", got, err)
	}
	rev, err := c.RevokeConnection(ctx, d.ID, alice)
	if err != nil || rev.Status != datasource.StatusUnauthorized || rev.HasRefreshToken {
		t.Fatalf("RevokeConnection: %+v %v", rev, err)
	}
	if un, err := c.AllConnections(ctx, d.ID, datasource.StatusUnauthorized); err != nil || len(un) != 1 || un[0].EndUserID != alice {
		t.Errorf("unauthorized connections after revoking: %+v %v", un, err)
	}
	if err := c.DeleteConnection(ctx, d.ID, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Connection(ctx, d.ID, alice); problemOf(t, err).Status != http.StatusNotFound {
		t.Errorf("Connection after DeleteConnection: %v, want 404", err)
	}

	// Connect sessions grantd refuses.
	if _, err := c.CreateConnectSession(ctx, api.ConnectSessionRequest{Datasource: shared.ID, EndUserID: "carol"}); problemOf(t, err).Status != http.StatusBadRequest {
		t.Errorf("a connect link for a shared datasource: %v", err)
	}
	if _, err := c.CreateConnectSession(ctx, api.ConnectSessionRequest{Datasource: "Nope", EndUserID: "carol"}); problemOf(t, err).Status != http.StatusNotFound {
		t.Errorf("a connect link for no datasource: %v", err)
	}
	_, err = c.CreateConnectSession(ctx, api.ConnectSessionRequest{Datasource: d.ID, EndUserID: "has space", ReturnTo: "https://elsewhere.example/"})
	if p := problemOf(t, err); p.Status != http.StatusBadRequest || len(p.Errors) != 2 {
		t.Errorf("a connect link with a bad end user and returnTo: %+v, want both named", p)
	}
}
