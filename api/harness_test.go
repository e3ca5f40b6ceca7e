package api_test

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
	"github.com/grantd/grantd/timeline"
	"github.com/grantd/grantd/ui"
	"github.com/grantd/grantd/webhook"
)

var ctx = context.Background()

const adminToken = "admin-token-for-tests-0123456789"

// harness is a real grantd server on loopback: bbolt in a temp dir, real
// Tink keys, the engine with a controllable clock, and every log line
// captured.
type harness struct {
	t            *testing.T
	URL          string
	engineDialer *outbound.Dialer
	clock        *grantstest.Clock
	store        *bolt.Store
	engine       *grants.Engine
	server       *api.Server
	apiConfig    api.Config // what server was built with
	keys         *access.Keys
	sessions     *access.AgentSessions
	hub          *webhook.Dispatcher
	stored       chan struct{} // a token after each batch of events the hub stores
	logs         testlog.Buffer
	// secrets are values that must never appear in logs or responses.
	secretsMu  sync.Mutex
	secrets    []string
	logSecrets []string // may appear in answers (a state in an authorize URL), never in logs
	responses  testlog.Buffer
}

type harnessOptions struct {
	proxyDialer   *outbound.Dialer
	proxyTimeout  time.Duration
	https         bool
	jsonLimit     int
	proxyBody     int64 // request body limit
	proxyResponse int64 // response body limit
	engineDialer  *outbound.Dialer
}

func newHarness(t *testing.T, o harnessOptions) *harness {
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
	if o.https {
		public, _ = url.Parse("https://grantd.example")
	}
	log := slog.New(slog.NewTextHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	metrics := api.NewMetrics()
	h.engineDialer = o.engineDialer
	if h.engineDialer == nil {
		h.engineDialer = &outbound.Dialer{AllowPrivate: true}
	}
	tl := timeline.New(h.clock.Now)
	hooks := metrics.Hooks()
	hooks.TokenChange = func(c grants.TokenChange) {
		tl.Token(c.Key, timeline.TokenEvent{Kind: c.Kind, At: c.At, ExpiresAt: c.ExpiresAt, Detail: c.Detail})
	}
	h.engine = grants.New(h.store, grants.Options{
		Clock: h.clock, Logger: log, RedirectURI: api.RedirectURI(public),
		Dialer: h.engineDialer, Hooks: hooks, TokenTimeout: 2 * time.Second,
	})
	if err := h.engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	metrics.CountStatuses(h.engine.StatusCounts)
	dialer := o.proxyDialer
	if dialer == nil {
		dialer = &outbound.Dialer{AllowPrivate: true}
	}
	h.stored = make(chan struct{}, 1)
	hub, err := webhook.New(webhook.Config{Store: storeSignal{h.store, h.stored}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hub.Start()
	h.hub = hub
	h.keys, err = access.NewKeys(ctx, h.store, h.clock.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	h.sessions = access.NewAgentSessions(h.store, h.clock.Now, log)
	agents := mcp.New(mcp.Config{Engine: h.engine, PublicURL: public, Keys: h.keys, Sessions: h.sessions, Dialer: dialer,
		Logger: log, Publish: hub.Publish, Version: "test"})
	h.apiConfig = api.Config{
		Keys: h.keys, Timeline: tl, AgentSessions: h.sessions, MCP: agents.Handler(),
		Events: h.store, Publish: hub.Publish, Meta: h.store,
		Engine: h.engine, PublicURL: public,
		AdminTokenHash: sha256.Sum256([]byte(adminToken)), SessionKey: bytes.Repeat([]byte{7}, 32),
		Dialer: dialer, UI: ui.Files(), Logger: log, Metrics: metrics, Version: "test",
		ProxyTimeout: o.proxyTimeout, JSONBodyLimit: o.jsonLimit, Now: h.clock.Now,
		ProxyBodyLimit: o.proxyBody, ProxyResponseLimit: o.proxyResponse,
	}
	h.server = api.New(h.apiConfig)
	go h.server.Serve(ln)
	t.Cleanup(func() {
		// Every token grantd holds at the end must not be in the logs
		// (tokens do appear in proxied answers: the test upstream echoes
		// its request headers).
		if list, err := h.store.ListDatasources(ctx); err == nil {
			for _, d := range list {
				if r, err := h.store.TokenRecord(ctx, datasource.SharedKey(d.ID)); err == nil {
					h.addLogSecret(r.AccessToken.Reveal(), r.RefreshToken.Reveal())
				}
			}
		}
		h.server.Shutdown(ctx)
		h.hub.Close()
		h.engine.Close()
		h.store.Close()
		h.checkNoSecrets()
	})
	h.addSecret(adminToken)
	return h
}

// addLogSecret registers values that must not be logged but may be
// answered (the state travels in the authorize URL).
func (h *harness) addLogSecret(s ...string) {
	h.secretsMu.Lock()
	h.logSecrets = append(h.logSecrets, s...)
	h.secretsMu.Unlock()
}

func (h *harness) addSecret(s ...string) {
	h.secretsMu.Lock()
	h.secrets = append(h.secrets, s...)
	h.secretsMu.Unlock()
}

// checkNoSecrets scans every log line and every response body of the
// run for the secrets the test registered.
func (h *harness) checkNoSecrets() {
	h.secretsMu.Lock()
	defer h.secretsMu.Unlock()
	logs, resp := h.logs.String(), h.responses.String()
	for _, s := range h.logSecrets {
		if s != "" && strings.Contains(logs, s) {
			h.t.Errorf("value %.12q… appears in the logs", s)
		}
	}
	for _, s := range h.secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			h.t.Errorf("secret %.12q… appears in the logs", s)
		}
		if s != adminToken && strings.Contains(resp, s) {
			h.t.Errorf("secret %.12q… appears in a response", s)
		}
	}
}

// do sends a request with the admin token and returns status and body.
func (h *harness) do(method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	h.t.Helper()
	return h.doWith(http.DefaultClient, method, path, body, append([]string{"Authorization", "Bearer " + adminToken}, hdr...)...)
}

func (h *harness) doWith(c *http.Client, method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	h.t.Helper()
	return h.doAt(h.URL, c, method, path, body, hdr...)
}

// replica is a second grantd server on the harness's store, engine and
// clock, as another replica behind a load balancer.
type replica struct {
	h   *harness
	URL string
}

// replica starts one, with the harness's configuration (and its metrics
// unregistered: a registry takes each metric once).
func (h *harness) replica() *replica {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := h.apiConfig
	cfg.Metrics = nil
	srv := api.New(cfg)
	go srv.Serve(ln)
	h.t.Cleanup(func() { srv.Shutdown(ctx) })
	return &replica{h: h, URL: "http://" + ln.Addr().String()}
}

func (r *replica) doWith(c *http.Client, method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	r.h.t.Helper()
	return r.h.doAt(r.URL, c, method, path, body, hdr...)
}

// doAt sends a request to the server at base.
func (h *harness) doAt(base string, c *http.Client, method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	h.responses.Write(b)
	for k, vs := range resp.Header {
		h.responses.Write([]byte(k + ": " + strings.Join(vs, ",") + "\n"))
	}
	return resp.StatusCode, b, resp.Header
}

// problem decodes a problem+json answer.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"requestId"`
	Errors    []struct {
		Field, Message string
	} `json:"errors"`
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

type dsView struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	URL           string         `json:"url"`
	Auth          map[string]any `json:"auth"`
	Authorization struct {
		Status          string  `json:"status"`
		ExpiresAt       *string `json:"expiresAt"`
		LastError       string  `json:"lastError"`
		HasRefreshToken bool    `json:"hasRefreshToken"`
		GrantedScope    string  `json:"grantedScope"`
	} `json:"authorization"`
}

// create POSTs a datasource and fails the test unless it is 201.
func (h *harness) create(body map[string]any) dsView {
	h.t.Helper()
	code, b, _ := h.do("POST", "/api/v1/datasources", body)
	if code != 201 {
		h.t.Fatalf("create: %d %s", code, b)
	}
	return decode[dsView](h.t, b)
}

func (h *harness) count() int {
	h.t.Helper()
	_, b, _ := h.do("GET", "/api/v1/datasources", nil)
	return len(decode[struct{ Datasources []dsView }](h.t, b).Datasources)
}

func ccBody(p *grantstest.Provider, name, secret string) map[string]any {
	return map[string]any{
		"name": name,
		"url":  p.URL + "/api",
		"auth": map[string]any{
			"grantType":      "client_credentials",
			"accessTokenUrl": p.TokenURL(),
			"clientId":       "svc",
			"clientSecret":   secret,
			"scope":          "api/read, api/write",
		},
	}
}

func acBody(p *grantstest.Provider, name, secret string) map[string]any {
	return map[string]any{
		"name": name,
		"url":  p.URL + "/api",
		"auth": map[string]any{
			"grantType":        "authorization_code",
			"accessTokenUrl":   p.TokenURL(),
			"authorizationUrl": p.AuthURL(),
			"clientId":         "web",
			"clientSecret":     secret,
			"scope":            "openid profile",
			"customAuthParams": map[string]string{"prompt": "consent"},
		},
	}
}

// newProvider starts the fosite provider with the clients the tests use.
func newProvider(t *testing.T, h *harness, opts grantstest.ProviderOptions) *grantstest.Provider {
	p := grantstest.NewProvider(t, opts)
	p.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret-9f8e7d", Scopes: []string{"api/read", "api/write"}})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret-1a2b3c", Scopes: []string{"openid", "profile"},
		RedirectURIs: []string{h.redirectURI()}})
	h.addSecret("svc-secret-9f8e7d", "web-secret-1a2b3c")
	return p
}

func (h *harness) redirectURI() string { return h.URL + "/api/v1/datasources/authorize" }

// browser is an http.Client with a cookie jar that does not follow
// redirects, so tests see every hop.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// storeSignal is the hub's store, which leaves a token in stored after
// each batch of events it appends, so that a test waits for events to be
// written instead of polling on a timer.
type storeSignal struct {
	webhook.Store
	stored chan struct{}
}

func (s storeSignal) AppendEvents(ctx context.Context, events []*datasource.Event, deliverTo []string) error {
	err := s.Store.AppendEvents(ctx, events, deliverTo)
	select {
	case s.stored <- struct{}{}:
	default: // a token is waiting already
	}
	return err
}
