package mcp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/internal/testlog"
	"github.com/grantd/grantd/mcp"
	"github.com/grantd/grantd/outbound"
)

var ctx = context.Background()

const adminToken = "admin-token-for-mcp-tests-0123456789"

// harness is a real grantd on loopback — the API with /mcp mounted as
// cmd/grantd mounts it — on bbolt in a temp dir, real Tink keys, the
// engine with a controllable clock, the fosite provider, and every log
// line and audit event captured.
type harness struct {
	t        *testing.T
	URL      string
	clock    *grantstest.Clock
	store    *bolt.Store
	engine   *grants.Engine
	keys     *access.Keys
	sessions *access.AgentSessions
	metrics  *api.Metrics
	provider *grantstest.Provider
	logs     testlog.Buffer

	mu      sync.Mutex          // guards events and secrets
	events  []*datasource.Event // audit events published
	secrets []string            // never in a log
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: grantstest.NewClock(time.Now().UTC().Truncate(time.Second))}
	dir := t.TempDir()
	ks, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), crypto.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	h.store, err = bolt.Open(filepath.Join(dir, "grantd.db"), ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.URL = "http://" + ln.Addr().String()
	public, _ := url.Parse(h.URL)
	log := slog.New(slog.NewTextHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.metrics = api.NewMetrics()
	dialer := &outbound.Dialer{AllowPrivate: true} // the provider is on loopback
	h.engine = grants.New(h.store, grants.Options{Clock: h.clock, Logger: log, RedirectURI: api.RedirectURI(public),
		Dialer: dialer, Hooks: h.metrics.Hooks(), TokenTimeout: 5 * time.Second})
	if err := h.engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.keys, err = access.NewKeys(ctx, h.store, h.clock.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	h.sessions = access.NewAgentSessions(h.store, h.clock.Now, log)
	mm := mcp.NewMetrics()
	h.metrics.Registry().MustRegister(mm.Collectors()...)
	agents := mcp.New(mcp.Config{Engine: h.engine, PublicURL: public, Keys: h.keys, Sessions: h.sessions, Dialer: dialer,
		Logger: log, Publish: h.publish, Metrics: mm, Version: "test", MaxText: 4 << 10})
	srv := api.New(api.Config{
		Engine: h.engine, PublicURL: public, AdminTokenHash: sha256.Sum256([]byte(adminToken)), SessionKey: bytes.Repeat([]byte{7}, 32),
		Keys: h.keys, AgentSessions: h.sessions, MCP: agents.Handler(), Dialer: dialer, Logger: log,
		Metrics: h.metrics, MetricsPublic: true, Publish: h.publish, Meta: h.store, Events: h.store, Now: h.clock.Now, Version: "test",
	})
	go srv.Serve(ln)

	h.provider = grantstest.NewProvider(t, grantstest.ProviderOptions{})
	h.provider.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret-9f8e7d", Scopes: []string{"api/read", "api/write"}})
	h.provider.AddClient(grantstest.Client{ID: "web", Secret: "web-secret-1a2b3c", Scopes: []string{"openid", "profile"},
		RedirectURIs: []string{api.RedirectURI(public)}})
	h.secret("svc-secret-9f8e7d", "web-secret-1a2b3c", adminToken)
	t.Cleanup(func() {
		// Every token grantd holds must stay out of the logs.
		h.store.Schedules(ctx, func(k datasource.Key, _ datasource.Schedule) error {
			if r, err := h.store.TokenRecord(ctx, k); err == nil {
				h.secret(r.AccessToken.Reveal(), r.RefreshToken.Reveal())
			}
			return nil
		})
		srv.Shutdown(ctx)
		h.engine.Close()
		h.store.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		logs := h.logs.String()
		for _, s := range h.secrets {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("secret %.14q… appears in the logs", s)
			}
		}
	})
	return h
}

func (h *harness) publish(e *datasource.Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

// secret registers values that must never be logged.
func (h *harness) secret(s ...string) {
	h.mu.Lock()
	h.secrets = append(h.secrets, s...)
	h.mu.Unlock()
}

// audited returns the MCP tool-call events published so far.
func (h *harness) audited() []datasource.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []datasource.Event
	for _, e := range h.events {
		if e.Type == datasource.EventMCPToolCall {
			out = append(out, *e)
		}
	}
	return out
}

// do sends a request to the API with the admin token (or the header
// pairs given, which may replace it).
func (h *harness) do(method, path string, body any, hdr ...string) (int, []byte) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// create makes a datasource over the API and returns its id.
func (h *harness) create(body map[string]any) string {
	h.t.Helper()
	code, b := h.do("POST", "/api/v1/datasources", body)
	if code != 201 {
		h.t.Fatalf("create: %d %s", code, b)
	}
	return decode[struct{ ID string }](h.t, b).ID
}

// shared makes a client-credentials datasource on the provider's API.
func (h *harness) shared(name, description string) string {
	return h.create(map[string]any{"name": name, "url": h.provider.URL + "/api", "description": description,
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": h.provider.TokenURL(),
			"clientId": "svc", "clientSecret": "svc-secret-9f8e7d", "scope": "api/read"}})
}

// perUser makes an authorization-code datasource whose end users each
// connect their own account.
func (h *harness) perUser(name, description string) string {
	return h.create(map[string]any{"name": name, "url": h.provider.URL + "/api", "description": description, "connectionMode": "perUser",
		"auth": map[string]any{"grantType": "authorization_code", "accessTokenUrl": h.provider.TokenURL(), "authorizationUrl": h.provider.AuthURL(),
			"clientId": "web", "clientSecret": "web-secret-1a2b3c", "scope": "openid profile"}})
}

// key makes an API key over the API.
func (h *harness) key(name string, perms []string, datasources ...string) string {
	h.t.Helper()
	code, b := h.do("POST", "/api/v1/api-keys", map[string]any{"name": name, "permissions": perms, "datasources": datasources})
	if code != 201 {
		h.t.Fatalf("key %s: %d %s", name, code, b)
	}
	k := decode[struct{ Key string }](h.t, b).Key
	h.secret(k)
	return k
}

// agentSession is the answer of POST /api/v1/agent-sessions.
type agentSession struct {
	ID, Token, EndUserID string
	MCPURL               string `json:"mcpUrl"`
	ExpiresAt            time.Time
	Datasources          []struct{ ID, Name string }
}

// agentSession makes an agent session over the API, as whoever auth
// names ("" for the admin token).
func (h *harness) agentSession(auth, endUser string, ttl int, datasources ...string) agentSession {
	h.t.Helper()
	var hdr []string
	if auth != "" {
		hdr = []string{"Authorization", "Bearer " + auth}
	}
	code, b := h.do("POST", "/api/v1/agent-sessions", map[string]any{"endUserId": endUser, "datasources": datasources, "ttlSeconds": ttl}, hdr...)
	if code != 201 {
		h.t.Fatalf("agent session for %s: %d %s", endUser, code, b)
	}
	s := decode[agentSession](h.t, b)
	h.secret(s.Token)
	return s
}

// headerTransport adds headers to every request and records the
// protocol version the client sends.
type headerTransport struct {
	hdr     map[string]string
	mu      sync.Mutex
	version string
	base    http.RoundTripper
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.hdr {
		r.Header.Set(k, v)
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" {
		t.mu.Lock()
		t.version = v
		t.mu.Unlock()
	}
	return t.base.RoundTrip(r)
}

// client connects the SDK's own client to /mcp over HTTP with a bearer
// credential and extra headers (name, value pairs).
func (h *harness) client(bearer string, hdr ...string) (*sdk.ClientSession, *headerTransport) {
	h.t.Helper()
	cs, ht, err := h.connect(bearer, hdr...)
	if err != nil {
		h.t.Fatalf("connecting to /mcp: %v", err)
	}
	return cs, ht
}

func (h *harness) connect(bearer string, hdr ...string) (*sdk.ClientSession, *headerTransport, error) {
	m := map[string]string{"Authorization": "Bearer " + bearer}
	for i := 0; i+1 < len(hdr); i += 2 {
		m[hdr[i]] = hdr[i+1]
	}
	ht := &headerTransport{hdr: m, base: http.DefaultTransport}
	client := sdk.NewClient(&sdk.Implementation{Name: "grantd-test", Version: "v0"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: h.URL + "/mcp", HTTPClient: &http.Client{Transport: ht}, MaxRetries: -1}, nil)
	if err != nil {
		return nil, nil, err
	}
	h.t.Cleanup(func() { cs.Close() })
	return cs, ht, nil
}

// callResult is call_datasource's structured result.
type callResult = mcp.CallResult

// toolErr is a tool error's JSON.
type toolErr = mcp.ToolError

// call calls a tool and returns its result.
func call(t testing.TB, cs *sdk.ClientSession, tool string, args map[string]any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s %v: %v", tool, args, err)
	}
	return res
}

// callOK calls call_datasource and decodes its structured result,
// failing the test on a tool error.
func callOK(t testing.TB, cs *sdk.ClientSession, args map[string]any) callResult {
	t.Helper()
	res := call(t, cs, mcp.ToolCall, args)
	if res.IsError {
		t.Fatalf("call_datasource %v: tool error %s", args, text(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	r := decode[callResult](t, b)
	// The text content is the same result, for clients that read text.
	if tb := text(res); !json.Valid([]byte(tb)) || !strings.Contains(tb, `"status":`) {
		t.Errorf("text content is not the result as JSON: %s", tb)
	}
	return r
}

// callErr calls call_datasource and decodes its tool error, failing the
// test unless it is one.
func callErr(t testing.TB, cs *sdk.ClientSession, args map[string]any) toolErr {
	t.Helper()
	res := call(t, cs, mcp.ToolCall, args)
	if !res.IsError {
		t.Fatalf("call_datasource %v: no tool error: %s", args, text(res))
	}
	if len(res.Content) < 2 {
		t.Fatalf("tool error without its JSON: %s", text(res))
	}
	return decode[toolErr](t, []byte(res.Content[1].(*sdk.TextContent).Text))
}

// text is a result's first text content.
func text(res *sdk.CallToolResult) string {
	if len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*sdk.TextContent); ok {
		return tc.Text
	}
	return ""
}

// apiAnswer is what the provider's resource API echoes.
type apiAnswer = grantstest.APIAnswer

func echoed(t testing.TB, r callResult) apiAnswer {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("upstream status %d: %s", r.Status, r.Body)
	}
	return decode[apiAnswer](t, []byte(r.Body))
}

// browser is an http.Client with a cookie jar that does not follow
// redirects, so the test sees every hop.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// connectInBrowser is an end user's browser opening a connect link,
// logging in at the provider as account, and coming back through the
// callback; it returns where grantd finally sends the browser.
func (h *harness) connectInBrowser(connectURL, account string) *url.URL {
	h.t.Helper()
	br := browser()
	resp, err := br.Get(connectURL)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("opening the connect link: %d", resp.StatusCode)
	}
	resp, err = br.PostForm(resp.Header.Get("Location"), url.Values{"username": {account}, "password": {grantstest.Users[account]}, "consent": {"allow"}})
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	cbu, _ := url.Parse(cb)
	h.secret(cbu.Query().Get("code"))
	resp, err = br.Get(cb)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("callback: %d", resp.StatusCode)
	}
	u, _ := url.Parse(resp.Header.Get("Location"))
	return u
}
