package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/grantd/grantd/grants/grantstest"
)

// endUser is an end user of the app backend: its id in the app, and the
// account they log in with at the provider.
type endUser struct {
	id, name, email, account string
}

var endUsers = []endUser{
	{id: "u-alice", name: "Alice Liddell", email: "alice@example.com", account: "alice"},
	{id: "u-bob", name: "Bob Builder", email: "bob@example.com", account: "bob"},
	{id: "u-carol", name: "Carol Singer", email: "carol@example.com", account: "carol"},
}

// rows is how many rows the connection table shows now.
const rows = `document.querySelectorAll('#connection-table:not([hidden]) tbody tr').length`

// settled is true when the connection list shows the answer to the last
// change of its search, status, page size or page.
const settled = `document.querySelector('#connections')?.hasAttribute('aria-busy') === false`

// shows waits until the settled list has n rows.
func shows(n int) step { return waitJS(fmt.Sprintf(`%s && %s === %d`, settled, rows, n)) }

// retype replaces what a field holds, as a person would: it empties the
// field (input and change events fire, as when a person deletes the text)
// and types v.
func retype(sel, v string) step {
	empty := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+jsString(sel)+`); el.value = '';
			el.dispatchEvent(new Event('input', { bubbles: true })); return el.dispatchEvent(new Event('change', { bubbles: true })); })()`)(ctx, tg)
		return chromedp.Void{}, err
	}
	steps := []step{visible(sel), empty}
	if v != "" {
		steps = append(steps, keys(sel, v))
	}
	return chromedp.Steps(steps...)
}

// choose picks the option with value v in a select, as a person would.
func choose(sel, v string) step {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+jsString(sel)+`); el.value = `+jsString(v)+`;
			return el.dispatchEvent(new Event('change', { bubbles: true })); })()`)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// shownUsers is the end user ids the connection table shows, in order.
func shownUsers(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`[...document.querySelectorAll('#connection-table:not([hidden]) tbody tr')].map((r) => r.dataset.endUser).join(' ')`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUIConnections: the admin makes a per-user datasource and connect
// links for three end users in the UI; three other browsers (each its own
// chromium browser context, so no cookie is shared with the admin or with
// each other) open the links, log in at the provider as three different
// accounts and come back to the end user's page (a fourth declines). The
// datasource's page then lists the three connections, authorized and
// healthy; the search, the status filter and paging work; a connection's
// page shows its events and revokes it; an edit keeps the datasource per
// user; and a test request as one end user reaches the API as that user's
// account.
func TestUIConnections(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	p := s.provider
	signIn(t, ctx, s)

	// The copy buttons write to the clipboard; the test reads it back.
	run(t, ctx, "clipboard", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: s.URL})
			if err != nil {
				return err
			}
		}
		return nil
	}))

	// The form: per end user is only for the authorization code grant.
	run(t, ctx, "new", chromedp.Navigate(s.URL+"/datasources/new"), visible("#datasource-form"),
		waitJS(`document.querySelector('#f-connectionMode-perUser').disabled`))
	if help := text(t, ctx, "#connection-mode-help"); !strings.Contains(help, "authorization code") {
		t.Errorf("no word on why per end user is off for client credentials: %q", help)
	}
	run(t, ctx, "fill per-user", click("#f-auth-grantType-authorization_code"),
		waitJS(`!document.querySelector('#f-connectionMode-perUser').disabled`),
		click("#f-connectionMode-perUser"),
		waitJS(`document.querySelector('#save-authorize').offsetParent === null`),
		fill("#f-name", "Mailbox"), fill("#f-url", p.URL+"/api"),
		keys("#f-description", "Each end user's own mailbox"),
		fill("#f-auth-accessTokenUrl", p.TokenURL()), fill("#f-auth-authorizationUrl", p.AuthURL()),
		fill("#f-auth-clientId", "web"), fill("#f-auth-clientSecret", "web-secret"), fill("#f-auth-scope", "openid profile"),
		click(`[data-add="connectionConfig"]`),
		fill(`#f-connectionConfig .row:last-child .row-key`, "region"),
		fill(`#f-connectionConfig .row:last-child .row-value`, "eu"),
		click("#f-healthCheck"), visible("#f-healthCheck-path"),
		fill("#f-healthCheck-path", "/whoami"), fill("#f-healthCheck-expectStatus", "200, 204"),
		fill("#f-healthCheck-intervalSeconds", "3600"),
		// Commit the number before clicking Save: Chromium commits it on
		// the click's mousedown and may scroll it into view then, so the
		// mouseup lands elsewhere and no click happens.
		chromedp.Blur(chromedp.CSS("#f-healthCheck-intervalSeconds")))
	shot(t, ctx, shots, "20-new-per-user")
	run(t, ctx, "save per-user", click("#save"), visible("#connections"), visible("#conn-note"))
	if kind := text(t, ctx, "#ds-kind"); !strings.Contains(kind, "per end user") {
		t.Errorf("the page does not say per end user: %q", kind)
	}
	if hc := text(t, ctx, "#ds-health-check"); !strings.Contains(hc, "GET /whoami → 200 or 204") {
		t.Errorf("health check shown as %q", hc)
	}
	if exists(t, ctx, "#authorize:not([hidden])") {
		t.Error("a per-user datasource offers to authorize its shared token")
	}

	// Three connect links, each read from the page and copied.
	links := map[string]string{}
	for _, u := range endUsers {
		run(t, ctx, "link for "+u.id, retype("#connect-end-user", u.id),
			retype("#connect-display-name", u.name), retype("#connect-email", u.email),
			click("#connect-create"),
			waitJS(`document.querySelector('#connect-result:not([hidden])')?.dataset.endUser === `+jsString(u.id)))
		link, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#connect-url")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, s.URL+"/connect/") {
			t.Fatalf("connect link for %s: %q", u.id, link)
		}
		run(t, ctx, "copy "+u.id, click("#copy-connect-url"),
			waitJS(`document.querySelector('#copy-connect-url').textContent === 'Copied'`))
		copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("read the clipboard: %v", err)
		}
		if copied != link {
			t.Fatalf("copied %q, the page shows %q", copied, link)
		}
		if l := text(t, ctx, "#connect-url-label"); !strings.Contains(l, u.name) || !strings.Contains(l, u.id) {
			t.Errorf("link labelled %q", l)
		}
		links[u.id] = link
	}
	shot(t, ctx, shots, "21-connect-link")

	// Each end user's browser: the link, the provider's login page as
	// their own account, back to the end user's page.
	for i, u := range endUsers {
		uctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		run(t, uctx, u.id+" opens the link", chromedp.Navigate(links[u.id]), visible("#username"))
		if loc := location(t, uctx); !strings.HasPrefix(loc, p.AuthURL()) {
			t.Fatalf("%s's browser went to %s", u.id, loc)
		}
		if i == 0 {
			shot(t, uctx, shots, "22-end-user-provider-login")
		}
		run(t, uctx, u.id+" logs in as "+u.account, keys("#username", u.account), keys("#password", grantstest.Users[u.account]),
			click("#login"), visible("#connect-outcome"), waitJS(`document.querySelector('#connect-outcome').dataset.result === 'authorized'`))
		if h := text(t, uctx, "#connect-outcome h1"); h != "Your account is connected" {
			t.Errorf("%s sees %q", u.id, h)
		}
		if exists(t, uctx, "#nav:not([hidden])") || strings.Contains(location(t, uctx), "/login") {
			t.Errorf("%s's browser was shown grantd's admin UI", u.id)
		}
		if i == 0 {
			shot(t, uctx, shots, "23-end-user-connected")
		}
		// A link works once.
		run(t, uctx, u.id+" opens the link again", chromedp.Navigate(links[u.id]),
			waitJS(`document.body.innerText.includes('already been used or has expired')`))
		if i == 0 {
			shot(t, uctx, shots, "23b-end-user-link-used")
		}
		cancel()
	}

	// An end user who declines at the provider is told so, and no
	// connection comes of it.
	run(t, ctx, "link for u-dave", retype("#connect-end-user", "u-dave"), retype("#connect-display-name", ""), retype("#connect-email", ""),
		click("#connect-create"), waitJS(`document.querySelector('#connect-result:not([hidden])')?.dataset.endUser === 'u-dave'`))
	dave, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#connect-url")))
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	run(t, dctx, "u-dave declines", chromedp.Navigate(dave), visible("#deny"),
		keys("#username", "alice"), keys("#password", grantstest.Users["alice"]), click("#deny"),
		visible("#connect-outcome"), waitJS(`document.querySelector('#connect-outcome').dataset.result === 'error'`))
	if got := text(t, dctx, "#connect-outcome"); !strings.Contains(got, "not connected") || !strings.Contains(got, "You declined access") {
		t.Errorf("u-dave sees %q", got)
	}
	shot(t, dctx, shots, "23c-end-user-declined")
	cancel()

	// The admin's page lists the three, authorized and, once their health
	// checks ran (in the background after each authorization), healthy.
	run(t, ctx, "connections", chromedp.Reload(), visible("#connection-table"),
		waitJS(`document.querySelectorAll('#connection-table tbody tr[data-status="authorized"]').length === 3`))
	run(t, ctx, "healthy", pollClicking(`document.querySelectorAll('#connection-table [data-health="ok"]').length === 3`, "#conn-reload"))
	if got := shownUsers(t, ctx); got != "u-alice u-bob u-carol" {
		t.Errorf("connections listed: %q", got)
	}
	if who := text(t, ctx, `#connection-table tr[data-end-user="u-bob"] td:first-child`); !strings.Contains(who, "Bob Builder · bob@example.com") {
		t.Errorf("bob's row says %q", who)
	}
	run(t, ctx, "events", waitJS(`document.querySelectorAll('#events [data-type="connection.created"]').length === 3`))
	shot(t, ctx, shots, "24-connections")

	// The search finds one end user by id, or by the start of it.
	for _, c := range []struct{ q, want string }{{"u-bob", "u-bob"}, {"u-c", "u-carol"}, {"u-", "u-alice u-bob u-carol"}, {"nobody", ""}} {
		run(t, ctx, "search "+c.q, retype("#conn-search", c.q),
			waitJS(`new URLSearchParams(location.search).get('q') === `+jsString(c.q)),
			shows(len(strings.Fields(c.want))))
		if got := shownUsers(t, ctx); got != c.want {
			t.Errorf("search %q found %q, want %q", c.q, got, c.want)
		}
	}
	if note := text(t, ctx, "#conn-note"); !strings.Contains(note, `"nobody"`) {
		t.Errorf("no match says %q", note)
	}
	shot(t, ctx, shots, "25-search")
	run(t, ctx, "clear search", retype("#conn-search", ""), waitJS(`!new URLSearchParams(location.search).has('q')`), shows(3))

	// Carol's connection: its page shows her events only; revoking it
	// leaves the connection without tokens.
	run(t, ctx, "carol", click(`#connection-table tr[data-end-user="u-carol"] a`), visible("#end-user-id"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'authorized'`),
		waitJS(`document.querySelector('#events [data-type="connection.created"]') !== null`),
		waitJS(`document.querySelector('#events [data-type="connection.connect_started"]') !== null`))
	if got := text(t, ctx, "#end-user"); got != "Carol Singer · carol@example.com" {
		t.Errorf("carol's page names her %q", got)
	}
	if got := text(t, ctx, `#connection-config [data-config="region"]`); got != "eu the datasource's" {
		t.Errorf("carol's region: %q", got)
	}
	others, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('#events li[data-type]')].filter((li) => li.dataset.endUser !== 'u-carol').length`))
	if err != nil || others != 0 {
		t.Errorf("carol's page shows %d events of others (%v)", others, err)
	}
	run(t, ctx, "carol's health", pollClicking(`document.querySelector('#health [data-health]')?.dataset.health === 'ok'`, "#check"))
	shot(t, ctx, shots, "26-connection")
	run(t, ctx, "revoke carol", click("#revoke"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'unauthorized'`),
		waitJS(`document.querySelector('#events [data-type="tokens.revoked"]') !== null`))

	// The status filter.
	run(t, ctx, "back", click("#back"), visible("#connection-table"), shows(3))
	for _, c := range []struct{ status, want string }{{"authorized", "u-alice u-bob"}, {"unauthorized", "u-carol"}, {"error", ""}, {"", "u-alice u-bob u-carol"}} {
		run(t, ctx, "status "+c.status, choose("#conn-status", c.status),
			waitJS(`(new URLSearchParams(location.search).get('status') || '') === `+jsString(c.status)),
			shows(len(strings.Fields(c.want))))
		if got := shownUsers(t, ctx); got != c.want {
			t.Errorf("status %q lists %q, want %q", c.status, got, c.want)
		}
	}

	// Paging, two a page.
	run(t, ctx, "two a page", retype("#conn-limit", "2"), waitJS(`new URLSearchParams(location.search).get('limit') === '2'`), shows(2))
	if got := shownUsers(t, ctx); got != "u-alice u-bob" {
		t.Errorf("page 1: %q", got)
	}
	shot(t, ctx, shots, "27-paging")
	run(t, ctx, "next", click("#conn-next"), shows(1))
	if got := shownUsers(t, ctx); got != "u-carol" {
		t.Errorf("page 2: %q", got)
	}
	run(t, ctx, "last page", waitJS(`document.querySelector('#conn-next').disabled && !document.querySelector('#conn-prev').disabled`))
	run(t, ctx, "previous", click("#conn-prev"), shows(2),
		waitJS(`document.querySelector('#conn-prev').disabled`))
	// Paging within a search.
	run(t, ctx, "search pages", retype("#conn-search", "u-"), waitJS(`new URLSearchParams(location.search).get('q') === 'u-'`),
		shows(2), click("#conn-next"), shows(1))
	if got := shownUsers(t, ctx); got != "u-carol" {
		t.Errorf("page 2 of the search: %q", got)
	}

	// Editing keeps the mode and the health check; changing the mode
	// asks first, since it would delete every connection.
	run(t, ctx, "edit", click("#edit"), visible("#datasource-form"),
		waitJS(`document.querySelector('#f-connectionMode-perUser').checked && document.querySelector('#f-healthCheck').checked`),
		waitJS(`document.querySelector('#f-healthCheck-path').value === '/whoami' && document.querySelector('#f-healthCheck-expectStatus').value === '200, 204'`),
		waitJS(`document.querySelector('#f-connectionConfig .row-key').value === 'region'`),
		click("#f-connectionMode-shared"), click("#save"), visible("#confirm-ok"))
	if q := text(t, ctx, "#confirm-text"); !strings.Contains(q, "connection is deleted") {
		t.Errorf("changing the mode asks %q", q)
	}
	run(t, ctx, "keep per user", click("#confirm-cancel"), waitJS(`!document.querySelector('#confirm').open`),
		click("#f-connectionMode-perUser"), click("#save"), visible("#connections"), shows(3))
	if kind := text(t, ctx, "#ds-kind"); !strings.Contains(kind, "per end user") {
		t.Errorf("after a save the page says %q", kind)
	}

	// An end user without a connection.
	page, _ := url.Parse(location(t, ctx))
	run(t, ctx, "no connection", chromedp.Navigate(s.URL+page.Path+"/connections/u-dave"), visible("#page-error"))
	if got := text(t, ctx, "#page-error"); !strings.Contains(got, "u-dave has no connection to Mailbox") {
		t.Errorf("u-dave's page: %q", got)
	}
	run(t, ctx, "back to the datasource", chromedp.Navigate(s.URL+page.Path), visible("#connections"), shows(3))

	// A test request as bob reaches the API as bob's account.
	run(t, ctx, "as bob", retype("#test-end-user", "u-bob"), retype("#test-path", "/whoami"), click("#test-send"), visible("#test-status"))
	if st := text(t, ctx, "#test-status"); !strings.HasPrefix(st, "200") {
		t.Fatalf("test request as bob: %q", st)
	}
	if body := text(t, ctx, "#test-response"); !strings.Contains(body, `"sub": "bob"`) {
		t.Errorf("test request as bob answered %q", body)
	}
}

// pollClicking waits until expr is true, clicking sel between looks: for
// what grantd does in the background (health checks after an
// authorization) and the page shows only when it reads again.
func pollClicking(expr, sel string) step {
	return waitJSEvery(`(() => { if (`+expr+`) return true; document.querySelector(`+jsString(sel)+`)?.click(); return false; })()`, 300*time.Millisecond)
}

func waitJSEvery(expr string, every time.Duration) step {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(every))(ctx, tg)
		return chromedp.Void{}, err
	}
}

// TestUIListCountsConnections: the datasource list shows a per-user
// datasource's connections by status where a shared one has its token's
// status and countdown. The end users here are plain HTTP clients, each
// with its own cookie jar, going through the connect link, the provider's
// login form and the callback.
func TestUIListCountsConnections(t *testing.T) {
	s := startServer(t)
	p := s.provider
	id := s.create(t, map[string]any{"name": "Mailbox", "url": p.URL + "/api", "connectionMode": "perUser",
		"auth": map[string]any{"grantType": "authorization_code", "accessTokenUrl": p.TokenURL(), "authorizationUrl": p.AuthURL(),
			"clientId": "web", "clientSecret": "web-secret", "scope": "openid profile"}})
	s.create(t, s.ccBody("Vectara", p.TokenURL(), "svc-secret"))
	for _, u := range endUsers {
		var cs struct{ ConnectURL string }
		s.call(t, "POST", "/api/v1/connect/sessions", map[string]any{"datasource": id, "endUserId": u.id}, 201, &cs)
		connectOverHTTP(t, cs.ConnectURL, u.account)
	}
	s.call(t, "POST", "/api/v1/datasources/"+id+"/connections/u-carol/revoke", nil, 200, nil)

	var list struct{ Datasources []struct{ ID string } }
	s.call(t, "GET", "/api/v1/datasources", nil, 200, &list)
	listed := false
	for _, d := range list.Datasources {
		listed = listed || d.ID == id
	}
	if !listed {
		t.Fatalf("GET /api/v1/datasources leaves the per-user datasource out: %+v", list)
	}

	ctx, shots := browser(t)
	signIn(t, ctx, s)
	row := `#datasource-table tr[data-name="Mailbox"]`
	run(t, ctx, "list", chromedp.Navigate(s.URL+"/"), visible("#datasource-table"),
		waitJS(`document.querySelector('`+row+` [data-conn-status="authorized"]')?.dataset.count === '2'`),
		waitJS(`document.querySelector('`+row+` [data-conn-status="unauthorized"]')?.dataset.count === '1'`),
		waitJS(`document.querySelectorAll('#datasource-table tr[data-name="Vectara"] .countdown').length === 1`))
	if exists(t, ctx, row+" .countdown") || exists(t, ctx, row+" [data-status]") {
		t.Error("a per-user datasource shows a token status or countdown of its own")
	}
	if got := text(t, ctx, row); !strings.Contains(got, "per end user") {
		t.Errorf("the row does not say per end user: %q", got)
	}
	shot(t, ctx, shots, "28-list-per-user")
}

// connectOverHTTP is an end user's browser as a plain HTTP client with
// its own cookies: it opens the connect link, logs in at the provider's
// form as account and follows the callback back to grantd.
func connectOverHTTP(t *testing.T, link, account string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	br := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := br.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	login := resp.Request.URL.String() // the provider's login page
	resp, err = br.PostForm(login, url.Values{"username": {account}, "password": {grantstest.Users[account]}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if q := resp.Request.URL.Query(); resp.StatusCode != 200 || q.Get("result") != "authorized" {
		t.Fatalf("%s connecting: %d at %s", account, resp.StatusCode, resp.Request.URL)
	}
}

// call sends an admin API request and decodes the answer into out.
func (s *server) call(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
