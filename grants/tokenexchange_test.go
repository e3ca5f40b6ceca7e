package grants_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// The tests here run against zitadel/oidc's OpenID provider (op), which
// implements RFC 8693 token exchange.

func exchangeDatasource(p *grantstest.ExchangeProvider) *datasource.Datasource {
	return &datasource.Datasource{Name: "Enterprise app", URL: p.URL + "/api", Auth: datasource.OAuth2{
		GrantType: datasource.TokenExchange, AccessTokenURL: p.TokenURL(),
		ClientID: grantstest.ExchangeClientID, ClientSecret: datasource.NewSecret(grantstest.ExchangeClientSecret),
		RequestedTokenType: datasource.TokenTypeAccessToken, Scope: "openid"}}
}

// callAs calls the provider's API through Target.Send with subject as the
// caller's token, and returns the status and the subject the API saw.
func callAs(t *testing.T, f *fixture, id, subject string) (int, string, error) {
	t.Helper()
	target, err := f.engine.Resolve(ctx, datasource.SharedKey(id))
	if err != nil {
		t.Fatal(err)
	}
	target = target.WithSubjectToken(subject)
	req, _ := http.NewRequest("GET", target.Datasource().URL+"/me", nil)
	var status int
	var ans grantstest.APIAnswer
	err = target.Send(ctx, grants.HTTPRequest(req), true, func() (int, error) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &ans)
		status = resp.StatusCode
		return status, nil
	})
	return status, ans.Subject, err
}

// TestTokenExchange: the caller's SSO token is exchanged at the provider
// for an API token, once per subject token however many callers share it,
// kept in memory only until the subject token expires, and neither token
// reaches the logs or the database.
func TestTokenExchange(t *testing.T) {
	p := grantstest.NewExchangeProvider(t)
	f := newRealTimeFixture(t)
	d := f.create(exchangeDatasource(p))
	if a := f.status(d.ID); a.Status != datasource.StatusUnauthorized || p.Exchanges() != 0 {
		t.Fatalf("created: %+v, %d exchanges (none is possible without a caller)", a, p.Exchanges())
	}

	// Without the caller's token there is nothing to exchange.
	if _, _, err := callAs(t, f, d.ID, ""); !errors.Is(err, grants.ErrSubjectTokenRequired) {
		t.Fatalf("no subject token: %v", err)
	}
	if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, grants.ErrSubjectTokenRequired) {
		t.Fatalf("Engine.Token: %v", err)
	}

	sso := p.MintSubjectToken(t, grantstest.ExchangeUser, 2*time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, sub, err := callAs(t, f, d.ID, sso)
			if err == nil && (status != 200 || sub != grantstest.ExchangeUser) {
				err = errors.New("the API saw " + sub)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Exchanges(); n != 1 {
		t.Errorf("%d exchanges for one subject token, want 1", n)
	}
	form := p.Forms()[0]
	for k, want := range map[string]string{"subject_token_type": datasource.TokenTypeAccessToken,
		"requested_token_type": datasource.TokenTypeAccessToken, "scope": "openid", "subject_token": "[present]"} {
		if form[k] != want {
			t.Errorf("form %s = %q, want %q", k, form[k], want)
		}
	}

	// The exchanged token through Target.Token (the token endpoint's way).
	target, _ := f.engine.Resolve(ctx, datasource.SharedKey(d.ID))
	tok, err := target.WithSubjectToken(sso).Token(ctx)
	if err != nil || p.Exchanges() != 1 {
		t.Fatalf("Target.Token: %v, %d exchanges", err, p.Exchanges())
	}
	if !tok.Expiry.After(f.clock.Now()) || tok.Expiry.After(f.clock.Now().Add(2*time.Minute)) {
		t.Errorf("the exchanged token is kept until %v: past the subject token's expiry", tok.Expiry)
	}

	// The library's http.Client, with the subject token from the request.
	hc := &http.Client{Transport: &grants.Transport{Engine: f.engine, Key: datasource.SharedKey(d.ID),
		SubjectToken: func(*http.Request) string { return sso }}}
	resp, err := hc.Get(d.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	var ans grantstest.APIAnswer
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != 200 || ans.Subject != grantstest.ExchangeUser || p.Exchanges() != 1 {
		t.Errorf("through Transport: %d %+v, %d exchanges", resp.StatusCode, ans, p.Exchanges())
	}

	// Another subject token: another exchange.
	other := p.MintSubjectToken(t, grantstest.ExchangeUser, time.Hour)
	if status, _, err := callAs(t, f, d.ID, other); err != nil || status != 200 || p.Exchanges() != 2 {
		t.Fatalf("another subject token: %d %v, %d exchanges", status, err, p.Exchanges())
	}

	// Past the subject token's expiry its exchanged token is not served.
	f.clock.Advance(3 * time.Minute)
	if _, _, err := callAs(t, f, d.ID, sso); !errors.Is(err, grants.ErrNotAuthorized) || !strings.Contains(err.Error(), "subject token has expired") {
		t.Errorf("an expired subject token: %v", err)
	}

	// A subject token the provider refuses.
	forged := other[:strings.LastIndex(other, ".")] + ".AAAA"
	if _, _, err := callAs(t, f, d.ID, forged); !errors.Is(err, grants.ErrNotAuthorized) {
		t.Errorf("a forged subject token: %v", err)
	}

	// A change of the datasource drops what was exchanged.
	ch := d.Clone()
	ch.Auth.Scope = "openid profile"
	ch.Auth.ClientSecret = datasource.Secret{}
	if _, _, _, err := f.engine.Update(ctx, grants.Change{Datasource: ch, Keep: []string{"auth.clientSecret"}}); err != nil {
		t.Fatal(err)
	}
	before := p.Exchanges()
	if status, _, err := callAs(t, f, d.ID, other); err != nil || status != 200 || p.Exchanges() != before+1 {
		t.Errorf("after a change: %d %v, %d new exchanges", status, err, p.Exchanges()-before)
	}

	f.assertNoSecrets(sso, other, tok.Value().Reveal(), grantstest.ExchangeClientSecret)
	f.store.Close()
	db, _ := os.ReadFile(filepath.Join(f.dir, "grantd.db"))
	for _, s := range []string{sso, other, tok.Value().Reveal()} {
		if bytes.Contains(db, []byte(s)) {
			t.Error("a subject or exchanged token in the database")
		}
	}
	f.restart(fixtureOptions{})
	if a := f.status(d.ID); a.Status != datasource.StatusUnauthorized {
		t.Errorf("after a restart: %+v", a)
	}
}

// TestTokenExchangeOpaqueSubject: a subject token whose expiry cannot be
// read (the provider's own opaque access token) is exchanged, and its
// result kept no longer than a few minutes.
func TestTokenExchangeOpaqueSubject(t *testing.T) {
	p := grantstest.NewExchangeProvider(t)
	f := newRealTimeFixture(t)
	d := f.create(exchangeDatasource(p))
	target, _ := f.engine.Resolve(ctx, datasource.SharedKey(d.ID))
	first, err := target.WithSubjectToken(p.MintSubjectToken(t, grantstest.ExchangeUser, time.Hour)).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opaque := first.Value().Reveal()
	if strings.Count(opaque, ".") == 2 {
		t.Skip("the provider issued a JWT")
	}
	tok, err := target.WithSubjectToken(opaque).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if life := tok.Expiry.Sub(f.clock.Now()); life > 5*time.Minute {
		t.Errorf("kept for %v with an opaque subject token", life)
	}
	n := p.Exchanges()
	f.clock.Advance(6 * time.Minute)
	if _, err := target.WithSubjectToken(opaque).Token(ctx); err != nil || p.Exchanges() != n+1 {
		t.Errorf("after five minutes: %v, %d new exchanges", err, p.Exchanges()-n)
	}
}
