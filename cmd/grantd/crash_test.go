package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants/grantstest"
)

// issued records, per chain, the tokens the provider handed out, in
// order: index i is the pair of the i-th successful token response. A
// chain is a client's (a shared datasource) or, for a per-user
// datasource, one end user's: "client/user", followed from the code the
// user's login issued through every refresh token that descends from it.
type issued struct {
	// busy counts token requests being answered. Not a WaitGroup: a late
	// request from a killed process may start while the test waits, and
	// WaitGroup.Add concurrent with Wait at zero is a race.
	busyMu   sync.Mutex
	busyCond *sync.Cond
	busy     int
	mu       sync.Mutex
	pairs    map[string][][2]string // chain → [access, refresh]
	byAT     map[string]int         // access token → index in its chain's list
	codeUser map[string]string      // authorization code → the user who logged in
	rtChain  map[string]string      // refresh token → its chain
	usedMu   sync.Mutex
	used     map[string]bool // access tokens the upstream saw
}

// chainOf is the chain a token request belongs to.
func (is *issued) chainOf(client string, form url.Values) string {
	is.mu.Lock()
	defer is.mu.Unlock()
	switch form.Get("grant_type") {
	case "authorization_code":
		if u := is.codeUser[form.Get("code")]; u != "" {
			return client + "/" + u
		}
	case "refresh_token":
		if c, ok := is.rtChain[form.Get("refresh_token")]; ok {
			return c
		}
	}
	return client
}

func (is *issued) record(chain string, body []byte) {
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.byAT[tok.AccessToken] = len(is.pairs[chain])
	is.pairs[chain] = append(is.pairs[chain], [2]string{tok.AccessToken, tok.RefreshToken})
	if tok.RefreshToken != "" {
		is.rtChain[tok.RefreshToken] = chain
	}
}

// indexOfRefresh returns the index of the response that issued rt, or -1.
func (is *issued) indexOfRefresh(client, rt string) (idx, last int) {
	is.mu.Lock()
	defer is.mu.Unlock()
	idx = -1
	for i, p := range is.pairs[client] {
		if p[1] == rt {
			idx = i
		}
	}
	return idx, len(is.pairs[client]) - 1
}

// capture holds a response back until it is recorded, so that the record
// exists before the client can have seen the answer.
type capture struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (c *capture) Header() http.Header         { return c.header }
func (c *capture) WriteHeader(s int)           { c.status = s }
func (c *capture) Write(b []byte) (int, error) { return c.buf.Write(b) }

// TestCrashConsistency builds the real binary, runs it against the
// authorization server with refresh-token rotation and 2-second tokens,
// and SIGKILLs it at random moments of a refresh storm, 20 times. After
// every kill the bbolt file must open with every record readable, and no
// access token the upstream saw may be newer than the refresh token in the
// store (rotated refresh tokens are committed before their access token
// is used). After every restart each datasource is authorized again, or —
// only when the provider had rotated its refresh token past the stored
// one, that is when its refresh was in flight at the kill — flagged
// needs_reauthorization, never silently broken.
func TestCrashConsistency(t *testing.T) {
	const acCount, ccCount = 6, 4
	kills := 20 // make reliability KILLS=200 runs a longer one
	if v, err := strconv.Atoi(os.Getenv("GRANTD_CRASH_KILLS")); err == nil && v > 0 {
		kills = v
	}
	is := &issued{pairs: map[string][][2]string{}, byAT: map[string]int{}, used: map[string]bool{},
		codeUser: map[string]string{}, rtChain: map[string]string{}}
	is.busyCond = sync.NewCond(&is.busyMu)
	prov := grantstest.NewProvider(t, grantstest.ProviderOptions{AccessTokenLifespan: 2 * time.Second,
		TokenHandler: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				is.busyMu.Lock()
				is.busy++
				is.busyMu.Unlock()
				defer func() {
					is.busyMu.Lock()
					is.busy--
					is.busyCond.Broadcast()
					is.busyMu.Unlock()
				}()
				r.ParseForm()
				client, _, ok := r.BasicAuth()
				if !ok {
					client = r.PostForm.Get("client_id")
				}
				chain := is.chainOf(client, r.PostForm)
				cw := &capture{header: http.Header{}, status: 200}
				next.ServeHTTP(cw, r)
				is.record(chain, cw.buf.Bytes())
				for k, v := range cw.header {
					w.Header()[k] = v
				}
				w.WriteHeader(cw.status)
				w.Write(cw.buf.Bytes())
			})
		}})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.usedMu.Lock()
		is.used[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] = true
		is.usedMu.Unlock()
		w.WriteHeader(200)
	}))
	defer upstream.Close()

	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	kek := crypto.GenerateMasterKey()
	env := []string{"GRANTD_ADMIN_TOKEN=" + adminTok, "GRANTD_MASTER_KEY=" + kek.Encode()}

	// The public URL must stay the same across restarts: it is the
	// redirect URI registered with the provider.
	addr := freePort(t)
	startAt := func() *proc {
		t.Helper()
		return startFixed(t, dataDir, addr, env...)
	}
	p := startAt()
	redirect := p.URL + "/api/v1/datasources/authorize"
	// ds is one token chain: a shared datasource, or one end user's
	// connection to the per-user datasource (user set).
	type ds struct {
		id, client, user string
		ac               bool
	}
	chain := func(d ds) string {
		if d.user == "" {
			return d.client
		}
		return d.client + "/" + d.user
	}
	// paths of the proxy, the status and a forced refresh of d.
	proxyOf := func(d ds) string { return "/api/v1/datasources/" + d.id + "/proxy/x" }
	statusOf := func(d ds) string {
		if d.user == "" {
			return "/api/v1/datasources/" + d.id + "/status"
		}
		return "/api/v1/datasources/" + d.id + "/connections/" + d.user
	}
	refreshOf := func(d ds) string {
		if d.user == "" {
			return "/api/v1/datasources/" + d.id + "/refresh"
		}
		return "/api/v1/datasources/" + d.id + "/connections/" + d.user + "/refresh"
	}
	var all []ds
	for i := range acCount + ccCount {
		ac := i < acCount
		client := fmt.Sprintf("client-%d", i)
		prov.AddClient(grantstest.Client{ID: client, Secret: "secret-" + client, Scopes: []string{"read"}, RedirectURIs: []string{redirect}})
		body := map[string]any{"name": client, "url": upstream.URL, "auth": map[string]any{
			"grantType": "client_credentials", "accessTokenUrl": prov.TokenURL(), "clientId": client,
			"clientSecret": "secret-" + client, "scope": "read", "clientAuthentication": "basic"}}
		if ac {
			a := body["auth"].(map[string]any)
			a["grantType"], a["authorizationUrl"] = "authorization_code", prov.AuthURL()
		}
		code, b := p.call("POST", "/api/v1/datasources", adminTok, body)
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		var v struct{ ID string }
		json.Unmarshal(b, &v)
		all = append(all, ds{id: v.ID, client: client, ac: ac})
	}
	// A per-user datasource with three end users, each logged in as their
	// own account: three chains of one client.
	prov.AddClient(grantstest.Client{ID: "client-pu", Secret: "secret-client-pu", Scopes: []string{"read"}, RedirectURIs: []string{redirect}})
	code, b := p.call("POST", "/api/v1/datasources", adminTok, map[string]any{"name": "per-user", "url": upstream.URL, "connectionMode": "perUser",
		"auth": map[string]any{"grantType": "authorization_code", "accessTokenUrl": prov.TokenURL(), "authorizationUrl": prov.AuthURL(),
			"clientId": "client-pu", "clientSecret": "secret-client-pu", "scope": "read", "clientAuthentication": "basic"}})
	if code != 201 {
		t.Fatalf("create per-user: %d %s", code, b)
	}
	var pu struct{ ID string }
	json.Unmarshal(b, &pu)
	for _, u := range []string{"alice", "bob", "carol"} {
		all = append(all, ds{id: pu.ID, client: "client-pu", user: u, ac: true})
	}
	// login finishes a browser flow at authorizeURL as user (the admin's
	// account for shared datasources), noting which user the code is for.
	login := func(authorizeURL, user string) {
		t.Helper()
		account := user
		if account == "" {
			account = grantstest.Username
		}
		br := browserClient()
		resp, err := br.Get(authorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound { // a connect link: on to the provider
			authorizeURL = resp.Header.Get("Location")
		}
		resp, err = br.PostForm(authorizeURL, url.Values{"username": {account}, "password": {grantstest.Users[account]}, "consent": {"allow"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cb := resp.Header.Get("Location")
		if user != "" {
			is.mu.Lock()
			is.codeUser[mustParse(cb).Query().Get("code")] = user
			is.mu.Unlock()
		}
		resp, err = br.Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.Contains(resp.Header.Get("Location"), "result=authorized") {
			t.Fatalf("callback for %s: %s", user, resp.Header.Get("Location"))
		}
	}
	authorize := func(p *proc, d ds) {
		t.Helper()
		if d.user != "" {
			code, b := p.call("POST", "/api/v1/connect/sessions", adminTok, map[string]any{"datasource": d.id, "endUserId": d.user})
			var cs struct{ ConnectURL string }
			json.Unmarshal(b, &cs)
			if code != 201 {
				t.Fatalf("connect session for %s: %d %s", d.user, code, b)
			}
			login(cs.ConnectURL, d.user)
			return
		}
		code, b := p.call("POST", "/api/v1/datasources/"+d.id+"/authorize", adminTok, nil)
		var a struct{ AuthorizeURL string }
		json.Unmarshal(b, &a)
		if code != 200 {
			t.Fatalf("authorize %s: %d %s", d.id, code, b)
		}
		login(a.AuthorizeURL, "")
	}
	for _, d := range all {
		if d.ac {
			authorize(p, d)
		}
	}

	counts := map[string]int{}
	inFlight := 0
	for kill := 1; kill <= kills; kill++ {
		// The storm: proxied calls for every datasource, and forced
		// refreshes, from several goroutines, until the kill.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, d := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if i%3 == 0 {
						p.callQuietAs("POST", refreshOf(d), d.user)
					} else {
						p.callQuietAs("GET", proxyOf(d), d.user)
					}
				}
			}()
		}
		time.Sleep(time.Duration(100+rand.IntN(900)) * time.Millisecond) // a random moment: what is measured, not a synchronisation
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		close(stop)
		wg.Wait()
		// Let the provider finish answering requests the dead process sent.
		is.busyMu.Lock()
		for is.busy > 0 {
			is.busyCond.Wait()
		}
		is.busyMu.Unlock()

		// The file as the kill left it.
		keys, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dataDir, "keyset.json")), kek)
		if err != nil {
			t.Fatal(err)
		}
		store, err := bolt.Open(filepath.Join(dataDir, "grantd.db"), keys, nil)
		if err != nil {
			t.Fatalf("kill %d: the database does not open: %v", kill, err)
		}
		list, err := store.ListDatasources(context.Background())
		if err != nil || len(list) != acCount+ccCount+1 {
			t.Fatalf("kill %d: %d datasources, %v", kill, len(list), err)
		}
		stale := map[string]bool{}
		for _, d := range all {
			rec, err := store.TokenRecord(context.Background(), datasource.Key{Datasource: d.id, EndUser: d.user})
			if err != nil {
				t.Fatalf("kill %d: token record of %s: %v", kill, chain(d), err)
			}
			if !d.ac || rec.RefreshToken.IsZero() {
				continue
			}
			k, last := is.indexOfRefresh(chain(d), rec.RefreshToken.Reveal())
			if k < 0 {
				t.Fatalf("kill %d: %s holds refresh token %s…, which the provider never issued to it (another user's?)", kill, chain(d), rec.RefreshToken.Reveal()[:8])
			}
			is.usedMu.Lock()
			for at := range is.used {
				is.mu.Lock()
				j, ok := is.byAT[at]
				owner := ok && j < len(is.pairs[chain(d)]) && is.pairs[chain(d)][j][0] == at
				is.mu.Unlock()
				if owner && j > k {
					t.Errorf("kill %d: %s used access token #%d but the store holds refresh token #%d: a rotated refresh token was not committed first", kill, chain(d), j, k)
				}
			}
			is.usedMu.Unlock()
			if k < last {
				stale[chain(d)] = true // the provider rotated past it: the refresh was in flight
				inFlight++
			}
		}
		store.Close()

		// Restart: every datasource is authorized again, or flagged.
		p = startAt()
		for _, d := range all {
			p.callQuietAs("POST", refreshOf(d), d.user)
			_, b := p.callAs("GET", statusOf(d), d.user)
			var st struct {
				Status        string
				Authorization struct{ Status string }
			}
			json.Unmarshal(b, &st)
			if d.user != "" {
				st.Status = st.Authorization.Status
			}
			counts[st.Status]++
			switch {
			case st.Status == "authorized":
				if code, _ := p.callAs("GET", proxyOf(d), d.user); code != 200 {
					t.Errorf("kill %d: %s is authorized but a proxied call answers %d", kill, chain(d), code)
				}
				if stale[chain(d)] {
					t.Errorf("kill %d: %s holds a rotated-away refresh token but reports authorized", kill, chain(d))
				}
			case st.Status == "needs_reauthorization" && stale[chain(d)]:
				authorize(p, d) // a person authorizes (connects) again; the storm goes on
			default:
				t.Errorf("kill %d: %s is %s (its refresh token was %s)", kill, chain(d), st.Status, map[bool]string{true: "rotated away", false: "current"}[stale[chain(d)]])
			}
		}
	}
	p.stop()
	t.Logf("crash consistency: %d kills × %d token chains (%d authorization code, %d client credentials, 3 end users' connections to a per-user datasource); after restarts: %d authorized, %d needs_reauthorization (each one a refresh in flight at the kill: %d), %d other",
		kills, len(all), acCount, ccCount, counts["authorized"], counts["needs_reauthorization"], inFlight,
		kills*len(all)-counts["authorized"]-counts["needs_reauthorization"])
	if counts["needs_reauthorization"] != inFlight {
		t.Errorf("%d flagged, %d in flight", counts["needs_reauthorization"], inFlight)
	}
	logs := p.logs.String()
	for _, s := range []string{"secret-client-0", adminTok} {
		if strings.Contains(logs, s) {
			t.Errorf("%q in the logs", s)
		}
	}
}

// startFixed is startArgs on a fixed address.
func startFixed(t *testing.T, dataDir, addr string, env ...string) *proc {
	t.Helper()
	return startOn(t, dataDir, addr, nil, env...)
}

// callQuiet makes an API call and ignores the answer (the process may be
// killed under it).
func (p *proc) callQuiet(method, path string) { p.callQuietAs(method, path, "") }

// callAs makes an API call for an end user (none when empty).
func (p *proc) callAs(method, path, endUser string) (int, []byte) {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminTok)
	if endUser != "" {
		req.Header.Set("Grantd-End-User", endUser)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// browserClient is a browser: it keeps cookies (the flow's binding) and
// lets the test follow redirects itself.
func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func mustParse(raw string) *url.URL {
	u, _ := url.Parse(raw)
	return u
}

// callQuietAs is callQuiet for an end user (none when empty).
func (p *proc) callQuietAs(method, path, endUser string) {
	req, _ := http.NewRequest(method, p.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminTok)
	if endUser != "" {
		req.Header.Set("Grantd-End-User", endUser)
	}
	resp, err := quietClient.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

var quietClient = &http.Client{Timeout: 5 * time.Second}
