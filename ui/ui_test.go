package ui_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/mcp"
	"github.com/grantd/grantd/outbound"
	"github.com/grantd/grantd/timeline"
	"github.com/grantd/grantd/ui"
	"github.com/grantd/grantd/webhook"
)

const adminToken = "ui-test-admin-token-0123456789"

// server is a real grantd on loopback serving the embedded UI, with the
// in-process authorization server beside it.
type server struct {
	URL      string
	provider *grantstest.Provider
	hub      *webhook.Dispatcher // writes the events
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	keys, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), crypto.GenerateMasterKey())
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
	public, _ := url.Parse("http://" + ln.Addr().String())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tl := timeline.New(nil)
	hooks := grants.Hooks{TokenChange: func(c grants.TokenChange) {
		tl.Token(c.Key, timeline.TokenEvent{Kind: c.Kind, At: c.At, ExpiresAt: c.ExpiresAt, Detail: c.Detail})
	}}
	engine := grants.New(store, grants.Options{Logger: log, RedirectURI: api.RedirectURI(public), Dialer: &outbound.Dialer{AllowPrivate: true}, Hooks: hooks})
	if err := engine.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hub, _ := webhook.New(webhook.Config{Store: store, Logger: log})
	hub.Start()
	apiKeys, err := access.NewKeys(context.Background(), store, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	sessions := access.NewAgentSessions(store, nil, log)
	agents := mcp.New(mcp.Config{Engine: engine, PublicURL: public, Sessions: sessions, Dialer: &outbound.Dialer{AllowPrivate: true}, Logger: log})
	srv := api.New(api.Config{Engine: engine, PublicURL: public, AdminTokenHash: sha256.Sum256([]byte(adminToken)),
		AgentSessions: sessions, MCP: agents.Handler(),
		SessionKey: []byte("0123456789abcdef0123456789abcdef"), Dialer: &outbound.Dialer{AllowPrivate: true}, UI: ui.Files(),
		Logger: log, Events: store, Publish: hub.Publish, Version: "ui-test", Keys: apiKeys, Timeline: tl})
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		hub.Close()
		engine.Close()
		store.Close()
	})
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret", Scopes: []string{"api/read", "api/write"}})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{api.RedirectURI(public)}})
	return &server{URL: public.String(), provider: p, hub: hub}
}

// browser starts Debian's chromium headless with the flags this machine
// needs. CI installs chromium; without it the test fails, it does not skip.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) (context.Context, string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install -y chromium (.ci/run does this)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	// The deadline only catches a hang; every step waits on a condition.
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	shots, err := os.MkdirTemp("", "grantd-ui-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, shots
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

type step = chromedp.Action[chromedp.Void]

func run(t *testing.T, ctx context.Context, name string, steps ...step) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// content is the textContent of sel, hidden or not.
func content(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).textContent`))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitJS waits until a JavaScript expression is true.
func waitJS(expr string) step {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
		return chromedp.Void{}, err
	}
}

func visible(sel string) step { return chromedp.WaitVisible(chromedp.CSS(sel)) }
func click(sel string) step   { return chromedp.Click(chromedp.CSS(sel)) }
func keys(sel, v string) step { return chromedp.SendKeys(chromedp.CSS(sel), v) }

func fill(sel, value string) step {
	return chromedp.Steps(visible(sel), chromedp.Clear(chromedp.CSS(sel)), keys(sel, value))
}

// signIn opens the UI and trades the admin token for a session cookie.
func signIn(t *testing.T, ctx context.Context, s *server) {
	t.Helper()
	signInAt(t, ctx, s.URL)
}

// signInAt signs in to the UI at base, which may name grantd by another
// host name than its public URL.
func signInAt(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	run(t, ctx, "sign in", chromedp.Navigate(base+"/login"),
		fill("#login-token", adminToken), click("#login-submit"), visible("#new-datasource"))
}

// create makes a datasource through the API, as another client of grantd
// would, and returns its id.
func (s *server) create(t *testing.T, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/datasources", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, out)
	}
	var d struct{ ID string }
	json.Unmarshal(out, &d)
	return d.ID
}

// ccBody is a client-credentials datasource asking tokenURL for tokens.
func (s *server) ccBody(name, tokenURL, secret string) map[string]any {
	return map[string]any{"name": name, "url": s.provider.URL + "/api",
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": tokenURL, "clientId": "svc", "clientSecret": secret}}
}

// closedURL returns a token URL on loopback where nothing listens: grantd
// cannot reach it, and no provider ever answers.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/oauth2/token"
}

// exists reports whether the page has an element for sel now, so a test
// fails at once instead of waiting for an element that never comes.
func exists(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestUI(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	p := s.provider

	// Sign in: the UI sends us to /login, the admin token becomes a cookie.
	run(t, ctx, "open", chromedp.Navigate(s.URL+"/"), visible("#login-token"))
	shot(t, ctx, shots, "01-login")
	run(t, ctx, "sign in", fill("#login-token", "wrong-token-wrong-token"), click("#login-submit"),
		visible("#login-error"))
	run(t, ctx, "sign in", fill("#login-token", adminToken), click("#login-submit"),
		visible("#new-datasource"))
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, adminToken) {
		t.Fatal("the admin token is readable by scripts")
	}

	// A client-credentials datasource becomes authorized at once.
	run(t, ctx, "new cc", click("#new-datasource"), visible("#datasource-form"),
		fill("#f-name", "Vectara"), fill("#f-url", p.URL+"/api"),
		fill("#f-auth-accessTokenUrl", p.TokenURL()), fill("#f-auth-clientId", "svc"), fill("#f-auth-clientSecret", "svc-secret"),
		fill("#f-auth-scope", "api/read, api/write, api/read"),
		waitJS(`document.querySelectorAll('#scope-chips .chip').length === 2`))
	run(t, ctx, "authorization url hidden for cc", waitJS(`document.querySelector('[data-field="auth.authorizationUrl"]').hidden`))
	shot(t, ctx, shots, "02-new-client-credentials")
	run(t, ctx, "save cc", click("#save"), visible("#ds-name"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'authorized'`),
		waitJS(`/^in \d+m/.test(document.querySelector('#expires').textContent.trim())`))

	// A test request through the proxy.
	run(t, ctx, "test request", fill("#test-path", "/whoami?x=1"), click("#test-send"),
		visible("#test-status"))
	if st := text(t, ctx, "#test-status"); !strings.HasPrefix(st, "200") {
		t.Fatalf("test request status %q", st)
	}
	if body := text(t, ctx, "#test-response"); !strings.Contains(body, `"client_id": "svc"`) || !strings.Contains(body, `"via": "header"`) {
		t.Fatalf("test request body %q", body)
	}
	run(t, ctx, "events", waitJS(`document.querySelector('#events').textContent.includes('datasource.created')`))
	shot(t, ctx, shots, "03-client-credentials-authorized")

	// An authorization-code datasource: Authorize, log in at the provider,
	// land back authorized with a success banner.
	run(t, ctx, "new ac", chromedp.Navigate(s.URL+"/datasources/new"), visible("#datasource-form"),
		click("#f-auth-grantType-authorization_code"),
		waitJS(`!document.querySelector('[data-field="auth.authorizationUrl"]').hidden`),
		fill("#f-name", "GitHub-ish"), fill("#f-url", p.URL+"/api"),
		fill("#f-auth-accessTokenUrl", p.TokenURL()), fill("#f-auth-authorizationUrl", p.AuthURL()),
		fill("#f-auth-clientId", "web"), fill("#f-auth-clientSecret", "web-secret"), fill("#f-auth-scope", "openid profile"),
		click(`[data-add="auth.customAuthParams"]`),
		fill(`#f-auth-customAuthParams .row:last-child .row-key`, "prompt"),
		fill(`#f-auth-customAuthParams .row:last-child .row-value`, "consent"))
	if v := text(t, ctx, "#redirect-uri"); v != s.URL+"/api/v1/datasources/authorize" {
		t.Fatalf("redirect URI shown: %q", v)
	}
	shot(t, ctx, shots, "04-new-authorization-code")
	run(t, ctx, "save ac", click("#save"), visible("#authorize"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'unauthorized'`))
	run(t, ctx, "authorize", click("#authorize"), visible("#username"))
	loc := location(t, ctx)
	if !strings.HasPrefix(loc, p.AuthURL()) || !strings.Contains(loc, "prompt=consent") || !strings.Contains(loc, "code_challenge=") {
		t.Fatalf("provider URL %s", loc)
	}
	shot(t, ctx, shots, "05-provider-login")
	run(t, ctx, "log in at the provider", keys("#username", "alice"), keys("#password", "wonderland"),
		click("#login"),
		visible(".banner-success"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'authorized'`))
	if b := text(t, ctx, "#banner"); !strings.Contains(b, "Authorized") {
		t.Fatalf("banner %q", b)
	}
	if loc = location(t, ctx); strings.Contains(loc, "result=") {
		t.Errorf("the outcome stayed in the address bar: %s", loc)
	}
	shot(t, ctx, shots, "06-authorized")

	// A denied authorization shows the provider's error_description.
	run(t, ctx, "deny", click("#authorize"), visible("#deny"),
		keys("#username", "alice"), keys("#password", "wonderland"),
		click("#deny"), visible(".banner-error"))
	if b := text(t, ctx, "#banner"); !strings.Contains(b, "access_denied") || !strings.Contains(b, "denied") {
		t.Fatalf("denied banner %q", b)
	}

	// A bad URL: the API's field error appears next to the field.
	run(t, ctx, "invalid", chromedp.Navigate(s.URL+"/datasources/new"), visible("#datasource-form"),
		fill("#f-name", "Broken"), fill("#f-url", "ftp://files.example.com"),
		fill("#f-auth-accessTokenUrl", "not a url"), fill("#f-auth-clientId", "x"), fill("#f-auth-clientSecret", "y"),
		click("#save"),
		visible(`[data-error-for="url"]`))
	if msg := text(t, ctx, `[data-error-for="url"]`); !strings.Contains(msg, "http") {
		t.Fatalf("url error %q", msg)
	}
	if msg := text(t, ctx, `[data-error-for="auth.accessTokenUrl"]`); msg == "" {
		t.Fatal("no error next to the access token URL")
	}
	invalid, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#f-url"), "aria-invalid"))
	if err != nil || invalid.Value != "true" {
		t.Error("the bad field is not marked aria-invalid")
	}
	shot(t, ctx, shots, "07-validation-error")

	// The list shows both with their badges and live countdowns.
	run(t, ctx, "list", chromedp.Navigate(s.URL+"/"), visible("#datasource-table"),
		waitJS(`document.querySelectorAll('#datasource-table [data-status="authorized"]').length === 2`),
		waitJS(`document.querySelectorAll('#datasource-table .countdown').length === 2`))
	shot(t, ctx, shots, "08-list")

	// Delete, with confirmation.
	run(t, ctx, "delete", click(`#datasource-table tr[data-name="Vectara"] a`), visible("#delete"),
		click("#delete"), visible("#confirm-ok"),
		click("#confirm-ok"), visible("#datasource-table"),
		waitJS(`document.querySelectorAll('#datasource-table tbody tr').length === 1`))
}

// newCC fills the new-datasource form for a client-credentials datasource
// and saves it.
func newCC(t *testing.T, ctx context.Context, s *server, name, tokenURL, secret string) {
	t.Helper()
	run(t, ctx, "new "+name, chromedp.Navigate(s.URL+"/datasources/new"), visible("#datasource-form"),
		fill("#f-name", name), fill("#f-url", s.provider.URL+"/api"),
		fill("#f-auth-accessTokenUrl", tokenURL), fill("#f-auth-clientId", "svc"), fill("#f-auth-clientSecret", secret),
		click("#save"), visible("#ds-name"), visible("#banner"))
}

// TestUISaveOutcome: after a save the banner is an error when the
// datasource has no usable token, and it quotes the provider only when
// the provider really answered.
func TestUISaveOutcome(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	banner := func() (kind, text string) {
		t.Helper()
		kind, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#banner').dataset.kind`))
		if err != nil {
			t.Fatal(err)
		}
		return kind, strings.Join(strings.Fields(strings.TrimSpace(content(t, ctx, "#banner"))), " ")
	}

	// Nobody answers at the token URL: grantd's own finding, in red, and
	// not put in the provider's mouth.
	newCC(t, ctx, s, "Unreachable", closedURL(t), "svc-secret")
	shot(t, ctx, shots, "10-created-unreachable")
	if kind, b := banner(); kind != "error" || strings.Contains(b, "provider said") || !strings.Contains(b, "token endpoint unreachable") {
		t.Errorf("unreachable token endpoint: banner %s %q", kind, b)
	}

	// The provider refuses the client: red, and quoted as the provider's.
	newCC(t, ctx, s, "Wrong secret", s.provider.TokenURL(), "not-the-secret")
	shot(t, ctx, shots, "11-created-invalid-client")
	if kind, b := banner(); kind != "error" || !strings.Contains(b, "The provider said: invalid_client") {
		t.Errorf("rejected client: banner %s %q", kind, b)
	}

	// It works: green, nothing quoted.
	newCC(t, ctx, s, "Works", s.provider.TokenURL(), "svc-secret")
	if kind, b := banner(); kind != "success" || strings.Contains(b, "provider said") {
		t.Errorf("working datasource: banner %s %q", kind, b)
	}

	// Saving a working datasource into a broken one says so too.
	run(t, ctx, "edit", click("#edit"), visible("#datasource-form"),
		click("#secret-replace"), fill("#f-auth-clientSecret", "not-the-secret"),
		click("#save"), visible("#ds-name"), visible("#banner"))
	if kind, b := banner(); kind != "error" || !strings.Contains(b, "Saved") || !strings.Contains(b, "The provider said: invalid_client") {
		t.Errorf("broken by an edit: banner %s %q", kind, b)
	}
}

// TestUIDuplicateName: a 409 marks the Name field like a 400 marks its
// fields.
func TestUIDuplicateName(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	s.create(t, s.ccBody("Vectara", s.provider.TokenURL(), "svc-secret"))
	signIn(t, ctx, s)
	run(t, ctx, "duplicate", chromedp.Navigate(s.URL+"/datasources/new"), visible("#datasource-form"),
		fill("#f-name", "Vectara"), fill("#f-url", s.provider.URL+"/api"),
		fill("#f-auth-accessTokenUrl", s.provider.TokenURL()), fill("#f-auth-clientId", "svc"), fill("#f-auth-clientSecret", "svc-secret"),
		click("#save"), visible("#form-errors"))
	shot(t, ctx, shots, "12-duplicate-name")
	if msg := strings.TrimSpace(content(t, ctx, `[data-error-for="name"]`)); !strings.Contains(msg, "name") {
		t.Errorf("no error next to the name: %q", msg)
	}
	invalid, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#f-name').getAttribute('aria-invalid') || ''`))
	if err != nil || invalid != "true" {
		t.Errorf("the name field is not marked aria-invalid (%q, %v)", invalid, err)
	}
}

// TestUIUnknownDatasource: the page of an id that does not exist shows
// that it does not, and nothing else.
func TestUIUnknownDatasource(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	for _, path := range []string{"/datasources/ds_nope", "/datasources/ds_nope/edit"} {
		run(t, ctx, "open "+path, chromedp.Navigate(s.URL+path),
			waitJS(`document.body.innerText.includes('no such datasource')`))
		page := content(t, ctx, "#app")
		if strings.Contains(page, "Loading") {
			t.Errorf("%s: still says Loading…: %q", path, page)
		}
		if !strings.Contains(page, "Not found") || !strings.Contains(page, "no such datasource") {
			t.Errorf("%s: the page does not say not found: %q", path, page)
		}
	}
	shot(t, ctx, shots, "13-unknown-datasource")
}

// TestUIListOnAPhone: at 375 CSS pixels the list fits the screen; nothing
// scrolls sideways.
func TestUIListOnAPhone(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	s.create(t, s.ccBody("Vectara production search API", s.provider.TokenURL(), "svc-secret"))
	s.create(t, s.ccBody("Unreachable token endpoint", closedURL(t), "svc-secret"))
	signIn(t, ctx, s)
	run(t, ctx, "phone", chromedp.EmulateViewport(375, 812), chromedp.Navigate(s.URL+"/"),
		visible("#datasource-table"),
		waitJS(`document.querySelectorAll('#datasource-table tbody tr').length === 2`),
		waitJS(`document.querySelectorAll('#datasource-table [data-status="authorized"]').length === 1`))
	shot(t, ctx, shots, "14-list-375px")
	w, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if err != nil {
		t.Fatal(err)
	}
	if w[1] != 375 || w[0] > w[1] {
		t.Errorf("the page is %d px wide in a %d px window", w[0], w[1])
	}
}

// TestUISaveAndAuthorize: the authorization-code form saves and goes
// straight on to the provider.
func TestUISaveAndAuthorize(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	p := s.provider
	signIn(t, ctx, s)
	run(t, ctx, "new ac", chromedp.Navigate(s.URL+"/datasources/new"), visible("#datasource-form"))
	if !exists(t, ctx, "#save-authorize") {
		t.Fatal("no Save and authorize button")
	}
	run(t, ctx, "hidden for cc", waitJS(`document.querySelector('#save-authorize').offsetParent === null`))
	run(t, ctx, "fill ac", click("#f-auth-grantType-authorization_code"), visible("#save-authorize"),
		fill("#f-name", "GitHub-ish"), fill("#f-url", p.URL+"/api"),
		fill("#f-auth-accessTokenUrl", p.TokenURL()), fill("#f-auth-authorizationUrl", p.AuthURL()),
		fill("#f-auth-clientId", "web"), fill("#f-auth-clientSecret", "web-secret"), fill("#f-auth-scope", "openid profile"))
	shot(t, ctx, shots, "15-save-and-authorize")
	run(t, ctx, "save and authorize", click("#save-authorize"), visible("#username"))
	if loc := location(t, ctx); !strings.HasPrefix(loc, p.AuthURL()) || !strings.Contains(loc, "client_id=web") {
		t.Fatalf("provider URL %s", loc)
	}
	run(t, ctx, "log in at the provider", keys("#username", "alice"), keys("#password", "wonderland"),
		click("#login"), visible(".banner-success"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'authorized'`))
	if name := text(t, ctx, "#ds-name"); name != "GitHub-ish" {
		t.Errorf("landed on %q", name)
	}
}

// TestUIHeaderPrefix: the header prefix starts as Bearer, and an emptied
// field is sent as "" (the raw token, no prefix), not left out.
func TestUIHeaderPrefix(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	run(t, ctx, "new", chromedp.Navigate(s.URL+"/datasources/new"), visible("#f-auth-headerPrefix"))
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#f-auth-headerPrefix"))); err != nil || v != "Bearer" {
		t.Errorf("header prefix starts as %q (%v), want Bearer", v, err)
	}
	if help := content(t, ctx, `[data-field="auth.headerPrefix"] .help`); !strings.Contains(help, "Leave empty to send the raw token with no prefix") {
		t.Errorf("header prefix hint %q", help)
	}
	run(t, ctx, "fill", fill("#f-name", "API key style"), fill("#f-url", s.provider.URL+"/api"),
		fill("#f-auth-accessTokenUrl", s.provider.TokenURL()), fill("#f-auth-clientId", "svc"), fill("#f-auth-clientSecret", "svc-secret"),
		fill("#f-auth-headerName", "X-Api-Key"), chromedp.Clear(chromedp.CSS("#f-auth-headerPrefix")))
	shot(t, ctx, shots, "16-empty-header-prefix")

	// What the browser sends, read from the DevTools protocol.
	sent := chromedp.Events(ctx, network.RequestWillBeSent)
	run(t, ctx, "save", click("#save"), visible("#ds-name"))
	var body []byte
	for ev, err := range sent {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Request.Method == "POST" && strings.HasSuffix(ev.Request.URL, "/api/v1/datasources") {
			for _, e := range ev.Request.PostDataEntries {
				body = append(body, e.Bytes...)
			}
			break
		}
	}
	var got struct {
		Auth map[string]any `json:"auth"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("POST body %q: %v", body, err)
	}
	if v, ok := got.Auth["headerPrefix"]; !ok || v != "" {
		t.Errorf(`the UI sent headerPrefix %#v (present %v), want ""`, v, ok)
	}
	if got.Auth["headerName"] != "X-Api-Key" {
		t.Errorf("the UI sent headerName %#v", got.Auth["headerName"])
	}
}
