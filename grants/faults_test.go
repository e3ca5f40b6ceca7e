package grants_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// tokenEndpoint is a small token endpoint whose answer a test sets: the
// faults a real server will not produce on demand.
type tokenEndpoint struct {
	*httptest.Server
	mu      sync.Mutex
	answer  func(w http.ResponseWriter, r *http.Request)
	count   int
	lastReq map[string]string
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := &tokenEndpoint{}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		te.mu.Lock()
		te.count++
		te.lastReq = map[string]string{}
		for k := range r.PostForm {
			te.lastReq[k] = r.PostForm.Get(k)
		}
		answer := te.answer
		te.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(te.Close)
	return te
}

func (te *tokenEndpoint) set(a func(w http.ResponseWriter, r *http.Request)) {
	te.mu.Lock()
	te.answer = a
	te.mu.Unlock()
}

func (te *tokenEndpoint) requests() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.count
}

func jsonAnswer(status int, body string, headers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func (te *tokenEndpoint) datasource() *datasource.Datasource {
	return &datasource.Datasource{
		Name: "faulty-" + datasource.NewID(),
		URL:  te.URL + "/api",
		Auth: datasource.OAuth2{
			GrantType:            datasource.ClientCredentials,
			AccessTokenURL:       te.URL + "/token",
			ClientID:             "c",
			ClientSecret:         datasource.NewSecret("client-secret-value"),
			ClientAuthentication: datasource.ClientAuthBody,
		},
	}
}

func TestTokenResponseFormats(t *testing.T) {
	jwt := makeJWT(epoch.Add(30 * time.Minute).Unix())
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter, *http.Request)
		wantExpiry time.Time
		wantScope  string
	}{
		{"expires_in number", jsonAnswer(200, `{"access_token":"a","token_type":"bearer","expires_in":120,"scope":"x  y"}`), epoch.Add(120 * time.Second), "x y"},
		{"expires_in string", jsonAnswer(200, `{"access_token":"a","token_type":"bearer","expires_in":"7200"}`), epoch.Add(2 * time.Hour), ""},
		{"form encoded", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			fmt.Fprint(w, "access_token=a&token_type=bearer&expires_in=60&scope=read")
		}, epoch.Add(time.Minute), "read"},
		{"JWT exp when no expires_in", jsonAnswer(200, `{"access_token":"`+jwt+`","token_type":"Bearer"}`), epoch.Add(30 * time.Minute), ""},
		{"expiresInDefault otherwise", jsonAnswer(200, `{"access_token":"opaque","token_type":"Bearer"}`), epoch.Add(900 * time.Second), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTokenEndpoint(t)
			te.set(tt.answer)
			f := newFixture(t, fixtureOptions{})
			d := te.datasource()
			d.Auth.ExpiresInDefault = 900
			d.Auth.Scope = "requested"
			d = f.create(d)
			r := f.record(d.ID)
			if r.Status != datasource.StatusAuthorized {
				t.Fatalf("status %s: %s", r.Status, r.LastError)
			}
			if !r.Expiry.Equal(tt.wantExpiry) {
				t.Errorf("expiry %v, want %v", r.Expiry, tt.wantExpiry)
			}
			want := tt.wantScope
			if want == "" {
				want = "requested" // omitted scope means as requested (RFC 6749 §5.1)
			}
			if r.GrantedScope != want {
				t.Errorf("granted scope %q, want %q", r.GrantedScope, want)
			}
		})
	}
}

func makeJWT(exp int64) string {
	enc := func(s string) string { return strings.TrimRight(b64(s), "=") }
	return enc(`{"alg":"RS256","typ":"JWT"}`) + "." + enc(fmt.Sprintf(`{"sub":"svc","exp":%d}`, exp)) + ".c2lnbmF0dXJl"
}

func TestTransientFailureBacksOffAndKeepsServing(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(200, `{"access_token":"good-token","token_type":"Bearer","expires_in":3600}`))
	f := newFixture(t, fixtureOptions{})
	d := f.create(te.datasource())
	tok, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		t.Fatal(err)
	}

	// The provider goes down with 503 and Retry-After: 900, longer than
	// the token has left when the refresher first tries.
	te.set(jsonAnswer(503, `{"error":"temporarily_unavailable"}`, "Retry-After", "900"))
	planned, ok := f.engine.Planned(d.ID)
	if !ok || !planned.Before(tok.Expiry) || planned.Before(tok.Expiry.Add(-8*time.Minute)) {
		t.Fatalf("refresh planned at %v for a token expiring %v", planned, tok.Expiry)
	}
	f.clock.Set(planned)
	f.waitFor("a background refresh attempt", func() bool { return te.requests() == 2 })
	f.waitFor("the failure to be recorded", func() bool { r := f.record(d.ID); return r.Failures == 1 })
	r := f.record(d.ID)
	if r.Status != datasource.StatusAuthorized || !strings.Contains(r.LastError, "temporarily_unavailable") {
		t.Fatalf("during the outage with a valid token: %s %q", r.Status, r.LastError)
	}
	if wait := r.RetryAt.Sub(f.clock.Now()); wait < 900*time.Second || wait > 991*time.Second {
		t.Errorf("retry in %v, want Retry-After 900s plus a little jitter", wait)
	}
	// The still-valid token keeps being served, with no new request.
	for range 10 {
		got, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
		if err != nil || got.Generation != tok.Generation {
			t.Fatalf("Token during outage: %v %v", got, err)
		}
	}
	if te.requests() != 2 {
		t.Fatalf("callers caused %d requests during backoff", te.requests()-2)
	}

	// After expiry, callers in backoff get a quick transient error, not a
	// new request.
	f.clock.Set(tok.Expiry.Add(time.Second))
	_, err = f.engine.Token(ctx, datasource.SharedKey(d.ID))
	var tErr *grants.TokenError
	if !errors.As(err, &tErr) || tErr.Kind != grants.Transient {
		t.Fatalf("Token after expiry in backoff: %v", err)
	}
	if te.requests() != 2 {
		t.Fatal("a caller made a request during backoff")
	}
	if a := f.status(d.ID); a.Status != datasource.StatusError {
		t.Errorf("expired token during an outage reported as %s", a.Status)
	}

	// Recovery: at RetryAt the refresher tries again and succeeds.
	te.set(jsonAnswer(200, `{"access_token":"new-token","token_type":"Bearer","expires_in":3600}`))
	f.clock.Set(r.RetryAt)
	f.waitFor("recovery", func() bool { return f.record(d.ID).Generation == tok.Generation+1 })
	if r := f.record(d.ID); r.Status != datasource.StatusAuthorized || r.LastError != "" || r.Failures != 0 {
		t.Fatalf("after recovery: %+v", r.Authorization())
	}
	f.assertNoSecrets("client-secret-value", "good-token", "new-token")
}

func TestFailureClassification(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter, *http.Request)
		wantKind   grants.Kind
		wantStatus datasource.Status
		wantReason string
	}{
		{"503 without Retry-After", jsonAnswer(503, `oops`), grants.Transient, datasource.StatusError, "HTTP 503"},
		{"429", jsonAnswer(429, `{"error":"slow_down"}`), grants.Transient, datasource.StatusError, "slow_down"},
		{"malformed JSON", jsonAnswer(200, `{"access_token": "x"`), grants.Transient, datasource.StatusError, "nonsense"},
		{"no access token", jsonAnswer(200, `{"token_type":"Bearer"}`), grants.Transient, datasource.StatusError, "missing access_token"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}, grants.Transient, datasource.StatusError, "timed out"},
		{"invalid_client", jsonAnswer(401, `{"error":"invalid_client","error_description":"bad secret client-secret-value"}`), grants.Permanent, datasource.StatusError, "invalid_client: bad secret [redacted]"},
		{"invalid_scope", jsonAnswer(400, `{"error":"invalid_scope"}`), grants.Permanent, datasource.StatusError, "invalid_scope"},
		{"404 token URL", jsonAnswer(404, `not found`), grants.Permanent, datasource.StatusError, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTokenEndpoint(t)
			te.set(tt.answer)
			f := newFixture(t, fixtureOptions{engine: grants.Options{TokenTimeout: 300 * time.Millisecond}})
			d := f.create(te.datasource())
			r := f.record(d.ID)
			if r.Status != tt.wantStatus || !strings.Contains(r.LastError, tt.wantReason) {
				t.Fatalf("record: %s %q, want %s containing %q", r.Status, r.LastError, tt.wantStatus, tt.wantReason)
			}
			_, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
			var tErr *grants.TokenError
			if !errors.As(err, &tErr) || tErr.Kind != tt.wantKind {
				t.Fatalf("Token error %v, want kind %v", err, tt.wantKind)
			}
			_, planned := f.engine.Planned(d.ID)
			if planned != (tt.wantKind == grants.Transient) {
				t.Errorf("retry planned = %v for a %v failure", planned, tt.wantKind)
			}
			if tt.wantKind == grants.Permanent && !errors.Is(err, grants.ErrNotAuthorized) {
				t.Errorf("permanent failure is not ErrNotAuthorized: %v", err)
			}
			if te.requests() != 1 {
				t.Errorf("%d requests, want 1 (callers must not retry past the backoff)", te.requests())
			}
			f.assertNoSecrets("client-secret-value")
		})
	}
}

func TestRefreshTokenKeptWhenNotReturned(t *testing.T) {
	te := newTokenEndpoint(t)
	f := newFixture(t, fixtureOptions{})
	d := te.datasource()
	d.Auth.GrantType = datasource.AuthorizationCode
	d.Auth.AuthorizationURL = te.URL + "/authorize"
	d.Auth.Scope = "read"
	d = f.create(d)
	// Seed an authorized record, as a callback would have stored it.
	seed := &datasource.TokenRecord{Generation: 1, AccessToken: datasource.NewSecret("at-1"), RefreshToken: datasource.NewSecret("rt-original"),
		TokenType: "Bearer", Expiry: epoch.Add(time.Hour), Status: datasource.StatusAuthorized, LastRefreshedAt: epoch, GrantedScope: "read"}
	if err := f.store.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), seed, 0); err != nil {
		t.Fatal(err)
	}
	f.engine.Invalidate(ctx, datasource.SharedKey(d.ID))

	te.set(jsonAnswer(200, `{"access_token":"at-2","token_type":"Bearer","expires_in":3600}`))
	if a, _ := f.engine.Refresh(ctx, datasource.SharedKey(d.ID)); a.Status != datasource.StatusAuthorized {
		t.Fatalf("refresh: %+v", a)
	}
	if te.lastReq["refresh_token"] != "rt-original" || te.lastReq["scope"] != "" {
		t.Errorf("refresh request %v", te.lastReq)
	}
	r := f.record(d.ID)
	if r.RefreshToken.Reveal() != "rt-original" || r.AccessToken.Reveal() != "at-2" || r.GrantedScope != "read" {
		t.Fatalf("refresh token not kept: %+v", r)
	}

	// sendScopeOnRefresh puts the scope on the refresh request.
	d2 := d.Clone()
	d2.Auth.SendScopeOnRefresh = true
	if _, _, _, err := f.engine.Update(ctx, grants.Change{Datasource: d2}); err != nil {
		t.Fatal(err)
	}
	f.engine.Refresh(ctx, datasource.SharedKey(d.ID))
	if te.lastReq["scope"] != "read" {
		t.Errorf("sendScopeOnRefresh: request %v", te.lastReq)
	}

	// invalid_grant on refresh: the grant is gone.
	te.set(jsonAnswer(400, `{"error":"invalid_grant","error_description":"refresh token revoked"}`))
	a, _ := f.engine.Refresh(ctx, datasource.SharedKey(d.ID))
	if a.Status != datasource.StatusNeedsReauthorization || a.HasRefreshToken || !strings.Contains(a.LastError, "refresh token revoked") {
		t.Fatalf("after invalid_grant: %+v", a)
	}
	if _, planned := f.engine.Planned(d.ID); planned {
		t.Error("a retry is planned after invalid_grant")
	}
	f.assertNoSecrets("rt-original", "at-1", "at-2", "client-secret-value")
}

// TestCloseLeavesStoredStateAsItWas: a token request cut short by Close
// (graceful shutdown) is not the provider's failure. The record stays as
// it was — no error status, no failure count, no retryAt, no status-change
// hook (and so no webhook) — and the caller gets ErrClosed.
func TestCloseLeavesStoredStateAsItWas(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(200, `{"access_token":"first-token","token_type":"Bearer","expires_in":3600}`))
	f := newFixture(t, fixtureOptions{})
	d := f.create(te.datasource())
	before := f.record(d.ID)
	f.mu.Lock()
	changes := len(f.statuses)
	f.mu.Unlock()

	arrived := make(chan struct{})
	te.set(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // hangs until grantd gives up
	})
	got := make(chan error, 1)
	go func() { _, err := f.engine.Refresh(ctx, datasource.SharedKey(d.ID)); got <- err }()
	tok := make(chan error, 1)
	<-arrived
	f.clock.Set(before.Expiry.Add(time.Second)) // a caller now needs the new token too
	go func() { _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); tok <- err }()
	f.engine.Close()

	if err := <-tok; !errors.Is(err, grants.ErrClosed) {
		t.Errorf("a caller waiting on the cut request got %v, want ErrClosed", err)
	}
	<-got
	after, err := f.store.TokenRecord(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation || after.Status != before.Status || after.Failures != 0 ||
		!after.RetryAt.IsZero() || after.LastError != "" || !after.AccessToken.Equal(before.AccessToken) {
		t.Errorf("Close changed the stored record: %+v", after)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.statuses) != changes {
		t.Errorf("Close fired status changes: %v", f.statuses[changes:])
	}
	if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, grants.ErrClosed) {
		t.Errorf("Token after Close: %v, want ErrClosed", err)
	}
}

// A permanent failure plans no retry, and its log line says so by leaving
// retryAt out rather than writing a zero time.
func TestPermanentFailureLogsNoRetryAt(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(401, `{"error":"invalid_client"}`))
	f := newFixture(t, fixtureOptions{})
	f.create(te.datasource())
	logs := f.logs.String()
	if !strings.Contains(logs, "token request failed") || strings.Contains(logs, "retryAt") {
		t.Errorf("log of a permanent failure:\n%s", logs)
	}
}

// TestEchoedCredentialsScrubbed: a provider that echoes what it received —
// the Basic header, the form body — in its error puts the client secret in
// every encoding grantd sent it in. None of them reaches lastError, the
// store, the logs or the status-change hook.
func TestEchoedCredentialsScrubbed(t *testing.T) {
	const secret = "s3cr3t/with+chars=&more"
	te := newTokenEndpoint(t)
	te.set(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		jsonAnswer(401, fmt.Sprintf(`{"error":"invalid_client","error_description":%q}`,
			"you sent "+r.Header.Get("Authorization")+" and "+r.PostForm.Encode()+string(body)+" raw="+secret))(w, r)
	})
	f := newFixture(t, fixtureOptions{})
	for _, style := range []datasource.ClientAuth{datasource.ClientAuthBasic, datasource.ClientAuthBody} {
		d := te.datasource()
		d.Auth.ClientID = "client:id+1"
		d.Auth.ClientSecret = datasource.NewSecret(secret)
		d.Auth.ClientAuthentication = style
		d = f.create(d)
		a := f.status(d.ID)
		if !strings.Contains(a.LastError, "invalid_client") || !strings.Contains(a.LastError, "[redacted]") {
			t.Fatalf("%s: %+v", style, a)
		}
		basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("client:id+1") + ":" + url.QueryEscape(secret)))
		forms := []string{secret, url.QueryEscape(secret), basic, basic[:len(basic)-1]}
		f.mu.Lock()
		hooks := strings.Join(f.hookErrors, "\n")
		f.mu.Unlock()
		for _, form := range forms {
			if strings.Contains(a.LastError, form) || strings.Contains(hooks, form) {
				t.Errorf("%s: lastError or hook holds %q: %q", style, form, a.LastError)
			}
		}
		f.assertNoSecrets(forms...)
		if strings.Contains(f.record(d.ID).LastError, secret) {
			t.Errorf("%s: stored lastError holds the secret", style)
		}
	}
}
