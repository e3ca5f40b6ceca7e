package grants_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/internal/testlog"
	"github.com/grantd/grantd/outbound"
)

var ctx = context.Background()

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const redirectURI = "http://127.0.0.1:9/api/v1/datasources/authorize"

// fixture is one engine on a real bbolt store with real Tink keys, a
// controllable clock, and a log of its token requests.
type fixture struct {
	t      testing.TB
	clock  *grantstest.Clock
	store  *bolt.Store
	engine *grants.Engine
	dir    string
	kek    crypto.MasterKey

	logs testlog.Buffer

	mu         sync.Mutex
	requests   []string            // "grant/request/result"
	statuses   []datasource.Status // status changes, in order
	hookErrors []string            // their lastError
	events     []*datasource.Event // what the hooks would publish, in order
	notify     chan struct{}       // poked on every event
}

type fixtureOptions struct {
	engine grants.Options
	// store, when set, is what the engine gets instead of the bbolt
	// store itself (a wrapper that counts reads, say).
	store func(*bolt.Store) grants.Store
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	return newFixtureTB(t, o)
}

// newBenchFixture is a fixture for benchmarks.
func newBenchFixture(b *testing.B) *fixture { return newFixtureTB(b, fixtureOptions{}) }

func newFixtureTB(t testing.TB, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: grantstest.NewClock(epoch), dir: t.TempDir(), kek: crypto.GenerateMasterKey(), notify: make(chan struct{}, 1)}
	f.open(o)
	return f
}

func (f *fixture) open(o fixtureOptions) {
	t := f.t
	ks, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(f.dir, "keyset.json")), f.kek)
	if err != nil {
		t.Fatal(err)
	}
	f.store, err = bolt.Open(filepath.Join(f.dir, "grantd.db"), ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := o.engine
	opts.Clock = f.clock
	opts.Logger = slog.New(slog.NewTextHandler(&f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.RedirectURI == "" {
		opts.RedirectURI = redirectURI
	}
	if opts.Dialer == nil {
		opts.Dialer = &outbound.Dialer{AllowPrivate: true}
	}
	if opts.TokenTimeout == 0 {
		opts.TokenTimeout = 5 * time.Second
	}
	opts.Hooks.TokenRequest = func(g datasource.GrantType, req, result string, _ time.Duration) {
		f.mu.Lock()
		f.requests = append(f.requests, string(g)+"/"+req+"/"+result)
		f.mu.Unlock()
		f.poke()
	}
	opts.Hooks.HealthChange = func(h grants.HealthChange) {
		f.mu.Lock()
		f.events = append(f.events, h.Event())
		f.mu.Unlock()
		f.poke()
	}
	opts.Hooks.StatusChange = func(c grants.StatusChange) {
		f.mu.Lock()
		f.statuses = append(f.statuses, c.To)
		f.hookErrors = append(f.hookErrors, c.LastError)
		f.events = append(f.events, c.Event())
		f.mu.Unlock()
		f.poke()
	}
	var st grants.Store = f.store
	if o.store != nil {
		st = o.store(f.store)
	}
	f.engine = grants.New(st, opts)
	if err := f.engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.engine != nil {
		f.engine.Close()
		f.store.Close()
		f.engine = nil
	}
}

// restart closes the engine and the store and opens both again, as a
// restarted server would.
func (f *fixture) restart(o fixtureOptions) {
	f.close()
	f.open(o)
}

// assertNoSecrets fails the test if any secret appears in the engine's
// logs.
func (f *fixture) assertNoSecrets(secrets ...string) {
	f.t.Helper()
	logs := f.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			f.t.Errorf("secret %q appears in the logs", s)
		}
	}
}

func (f *fixture) poke() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// waitFor blocks until cond holds, re-checking on every engine event. It
// fails the test if nothing satisfies cond within 10s: that bound only
// catches hangs, it does not synchronise anything.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-f.notify:
		case <-time.After(50 * time.Millisecond): // events may predate the wait
		case <-deadline:
			f.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// create creates d through the engine, as the API does on POST, and
// returns it as stored (with its id).
func (f *fixture) create(d *datasource.Datasource) *datasource.Datasource {
	f.t.Helper()
	d, _, err := f.engine.Create(ctx, d)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) status(id string) datasource.Authorization {
	f.t.Helper()
	a, err := f.engine.Status(ctx, datasource.SharedKey(id))
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) record(id string) *datasource.TokenRecord {
	f.t.Helper()
	r, err := f.store.TokenRecord(ctx, datasource.SharedKey(id))
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func ccDatasource(p *grantstest.Provider, clientID, secret string) *datasource.Datasource {
	return &datasource.Datasource{
		Name: "cc-" + clientID + "-" + datasource.NewID(),
		URL:  p.URL + "/api",
		Auth: datasource.OAuth2{
			GrantType:      datasource.ClientCredentials,
			AccessTokenURL: p.TokenURL(),
			ClientID:       clientID,
			ClientSecret:   datasource.NewSecret(secret),
			Scope:          "api/read, api/write",
		},
	}
}

func acDatasource(p *grantstest.Provider, clientID, secret string) *datasource.Datasource {
	return &datasource.Datasource{
		Name: "ac-" + clientID + "-" + datasource.NewID(),
		URL:  p.URL + "/api",
		Auth: datasource.OAuth2{
			GrantType:        datasource.AuthorizationCode,
			AccessTokenURL:   p.TokenURL(),
			AuthorizationURL: p.AuthURL(),
			ClientID:         clientID,
			ClientSecret:     datasource.NewSecret(secret),
			Scope:            "openid, profile",
			CustomAuthParams: map[string]string{"prompt": "consent", "access_type": "offline"},
		},
	}
}

// callAPI calls the provider's resource API as datasource id through the
// engine's authenticating client.
func (f *fixture) callAPI(id, path string) (int, grantstest.APIAnswer) {
	f.t.Helper()
	hc, err := f.engine.Client(ctx, datasource.SharedKey(id))
	if err != nil {
		f.t.Fatal(err)
	}
	d, err := f.store.Datasource(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := hc.Get(d.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a grantstest.APIAnswer
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &a)
	return resp.StatusCode, a
}

// stateParam returns the state parameter of an authorize URL.
func stateParam(raw string) string {
	u, _ := url.Parse(raw)
	return u.Query().Get("state")
}

// login plays the person at the provider: it opens the authorize URL,
// submits the login form with the test user, and returns the URL the
// provider redirects the browser to (grantd's callback, with code and
// state, or with an error).
func login(t testing.TB, authorizeURL string, consent string) *url.URL {
	t.Helper()
	return loginWith(t, http.DefaultClient, authorizeURL, consent)
}

// loginTLS is login against a provider on HTTPS.
func loginTLS(t *testing.T, p *grantstest.Provider, authorizeURL string) *url.URL {
	t.Helper()
	return loginWith(t, p.Server.Client(), authorizeURL, "allow")
}

func loginWith(t testing.TB, base *http.Client, authorizeURL string, consent string) *url.URL {
	t.Helper()
	hc := &http.Client{Transport: base.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `id="login"`) {
		t.Fatalf("authorize page: %d %s", resp.StatusCode, page)
	}
	form := url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {consent}}
	resp, err = hc.PostForm(authorizeURL, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login answered %d, want a redirect", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
