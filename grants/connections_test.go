package grants_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// loginAs logs user in at the provider's login page of authorizeURL and
// returns where the provider redirects (the callback with the code).
func loginAs(t testing.TB, authorizeURL, user string) *url.URL {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(authorizeURL, url.Values{"username": {user}, "password": {grantstest.Users[user]}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %s: %d %v", user, resp.StatusCode, err)
	}
	return loc
}

// connect runs the per-user flow for user: a connect link made for them,
// opened in their browser, the provider's login as that account, the
// callback.
func (f *fixture) connect(id, user string) *grants.CallbackResult {
	f.t.Helper()
	cs, err := f.engine.CreateConnectSession(ctx, grants.ConnectRequest{DatasourceID: id, EndUserID: user,
		EndUser: datasource.EndUser{DisplayName: strings.ToUpper(user)}, ReturnTo: "/done"})
	if err != nil {
		f.t.Fatal(err)
	}
	binding := grants.NewBinding()
	u, err := f.engine.OpenConnectSession(ctx, cs.Token, binding)
	if err != nil {
		f.t.Fatal(err)
	}
	cb := loginAs(f.t, u, user)
	res, err := f.engine.Callback(ctx, grants.CallbackRequest{State: cb.Query().Get("state"), Code: cb.Query().Get("code"), Binding: binding})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// TestPerUserConnections: one datasource, three end users who log in at
// the provider as three different accounts; every call for a user carries
// that user's token — under concurrency and across a restart — and users
// without a connection get none.
func TestPerUserConnections(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})

	cc := ccDatasource(p, "web", "web-secret")
	cc.ConnectionMode = datasource.PerUser
	if _, _, err := f.engine.Create(ctx, cc); !errorsField(err, "connectionMode") {
		t.Fatalf("per-user client credentials: %v, want a 400 naming connectionMode", err)
	}
	d := acDatasource(p, "web", "web-secret")
	d.ConnectionMode = datasource.PerUser
	d = f.create(d)
	if a := f.status(d.ID); a.Status != datasource.StatusUnauthorized {
		t.Fatalf("new per-user datasource: %+v", a)
	}

	users := []string{"alice", "bob", "carol"}
	for _, u := range users {
		res := f.connect(d.ID, u)
		if res.ErrorCode != "" || res.EndUserID != u || res.Reconnected || res.Authorization.Status != datasource.StatusAuthorized || res.ReturnTo != "/done" {
			t.Fatalf("connect %s: %+v", u, res)
		}
	}
	who := func(u string) string {
		t.Helper()
		hc, err := f.engine.Client(ctx, datasource.Key{Datasource: d.ID, EndUser: u})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(d.URL + "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans grantstest.APIAnswer
		decodeJSON(t, resp, &ans)
		return ans.Subject
	}
	tokens := map[string]string{}
	for _, u := range users {
		if got := who(u); got != u {
			t.Fatalf("a call for %s carried %s's token", u, got)
		}
		tok, err := f.engine.Token(ctx, datasource.Key{Datasource: d.ID, EndUser: u})
		if err != nil {
			t.Fatal(err)
		}
		tokens[u] = tok.Value().Reveal()
	}
	if tokens["alice"] == tokens["bob"] || tokens["bob"] == tokens["carol"] {
		t.Fatal("two users share a token")
	}
	if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, grants.ErrEndUserRequired) {
		t.Errorf("no end user: %v", err)
	}
	if _, err := f.engine.Token(ctx, datasource.Key{Datasource: d.ID, EndUser: "dave"}); !errors.Is(err, grants.ErrNotAuthorized) {
		t.Errorf("an end user who never connected: %v", err)
	}

	// Many callers for many users at once, a refresh forced meanwhile for
	// each: every call carries its own user's token. One per user: the
	// provider revokes a token when it is refreshed, and a call retries a
	// 401 once, so a second forced refresh landing between a call's retry
	// and its answer failed it (a 401 here, one run in a few dozen).
	var wg sync.WaitGroup
	errs := make(chan string, 300)
	for i := range 90 {
		u := users[i%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i < len(users) {
				f.engine.Refresh(ctx, datasource.Key{Datasource: d.ID, EndUser: u})
			}
			hc, err := f.engine.Client(ctx, datasource.Key{Datasource: d.ID, EndUser: u})
			if err != nil {
				errs <- err.Error()
				return
			}
			resp, err := hc.Get(d.URL + "/whoami")
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var ans grantstest.APIAnswer
			decodeJSON(t, resp, &ans)
			if ans.Subject != u {
				errs <- "a call for " + u + " carried " + ans.Subject + "'s token"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	// Reconnecting keeps the connection (createdAt), replaces the tokens.
	before, err := f.engine.Connection(ctx, d.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if res := f.connect(d.ID, "alice"); !res.Reconnected || res.ErrorCode != "" {
		t.Fatalf("reconnect: %+v", res)
	}
	after, err := f.engine.Connection(ctx, d.ID, "alice")
	if err != nil || !after.CreatedAt.Equal(before.CreatedAt) || after.EndUser.DisplayName != "ALICE" {
		t.Fatalf("after reconnect: %+v %v", after, err)
	}

	// Across a restart, each user still gets their own account.
	f.restart(fixtureOptions{})
	for _, u := range users {
		if got := who(u); got != u {
			t.Fatalf("after restart, a call for %s carried %s's token", u, got)
		}
	}
	page, next, err := f.engine.Connections(ctx, datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 2})
	if err != nil || len(page) != 2 || next != "bob" || page[0].EndUserID != "alice" || page[0].Authorization.Status != datasource.StatusAuthorized {
		t.Fatalf("first page: %+v %q %v", page, next, err)
	}

	// Deleting a connection revokes its tokens at the provider.
	rec, err := f.store.TokenRecord(ctx, datasource.Key{Datasource: d.ID, EndUser: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.DeleteConnection(ctx, d.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if p.RefreshTokenActive(rec.RefreshToken.Reveal()) {
		t.Error("bob's refresh token is still active at the provider")
	}
	if _, err := f.engine.Token(ctx, datasource.Key{Datasource: d.ID, EndUser: "bob"}); !errors.Is(err, grants.ErrNotAuthorized) {
		t.Errorf("bob after his connection was deleted: %v", err)
	}
	if got := who("carol"); got != "carol" {
		t.Errorf("carol after bob's connection was deleted: %s", got)
	}
	f.assertNoSecrets(tokens["alice"], tokens["bob"], tokens["carol"])
}

// errorsField reports whether err is a validation error naming field.
func errorsField(err error, field string) bool {
	var v *datasource.ValidationError
	if !errors.As(err, &v) {
		return false
	}
	for _, fe := range v.Errors {
		if fe.Field == field {
			return true
		}
	}
	return false
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("answer %d: %v", resp.StatusCode, err)
	}
}
