package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/etcd"
	"github.com/grantd/grantd/datasource/etcd/etcdtest"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestReplicasOnEtcd runs three grantd binaries on a three-member etcd
// cluster (embedded, real raft) and checks what replicas promise: one
// token request per refresh across all of them, a callback that lands on
// another replica, takeover of a dead replica's refresh within the lock
// TTL, service with one etcd member down, cached tokens and a clear 503
// without a quorum, and everything still there after a full restart.
func TestReplicasOnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	var hold atomic.Bool
	held := make(chan struct{}, 16)
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	prov := grantstest.NewProvider(t, grantstest.ProviderOptions{AccessTokenLifespan: 3 * time.Second,
		TokenHandler: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hold.Load() {
					held <- struct{}{}
					<-release
				}
				next.ServeHTTP(w, r)
			})
		}})
	kek := crypto.GenerateMasterKey().Encode()
	env := []string{"GRANTD_ADMIN_TOKEN=" + adminTok, "GRANTD_MASTER_KEY=" + kek}
	addrs := []string{freePort(t), freePort(t), freePort(t)}
	public := "http://" + addrs[0] // the "load balancer" URL providers redirect to
	args := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(cluster.Endpoints(), ","), "--lock-ttl", "2s", "--public-url", public}
	startAll := func() []*proc {
		var ps []*proc
		for _, a := range addrs {
			ps = append(ps, startOn(t, t.TempDir(), a, args, env...))
		}
		return ps
	}
	r := startAll()
	prov.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret-77", Scopes: []string{"read"}})
	prov.AddClient(grantstest.Client{ID: "web", Secret: "web-secret-88", Scopes: []string{"read"}, RedirectURIs: []string{public + "/api/v1/datasources/authorize"}, AccessTokenLifespan: time.Hour})

	create := func(p *proc, body map[string]any) string {
		t.Helper()
		code, b := p.call("POST", "/api/v1/datasources", adminTok, body)
		if code != 201 {
			t.Fatalf("create on %s: %d %s", p.URL, code, b)
		}
		var v struct{ ID string }
		json.Unmarshal(b, &v)
		return v.ID
	}
	cc := create(r[0], map[string]any{"name": "svc", "url": prov.URL + "/api", "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": prov.TokenURL(), "clientId": "svc", "clientSecret": "svc-secret-77",
		"scope": "read", "clientAuthentication": "basic"}})

	// 1. A storm over all replicas for several token lifetimes: every
	// token request the provider answered produced one stored generation;
	// none was wasted on a refresh another replica already made.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, fails atomic.Int64
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := r[i%3]
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _ := p.call("GET", "/api/v1/datasources/"+cc+"/proxy/x", adminTok, nil)
				calls.Add(1)
				if code != 200 {
					fails.Add(1)
				}
			}
		}()
	}
	time.Sleep(7 * time.Second) // the storm's length: what is measured, not a synchronisation
	close(stop)
	wg.Wait()
	var st struct {
		Status    string
		ExpiresAt string
	}
	_, b := r[1].call("GET", "/api/v1/datasources/"+cc+"/status", adminTok, nil)
	json.Unmarshal(b, &st)
	gen := storedGeneration(t, cluster.Endpoints(), kek, cc)
	requests := prov.Count("client_credentials")
	t.Logf("storm over 3 replicas for 7s (3s tokens): %d proxied calls, %d failed; %d token requests for %d token generations", calls.Load(), fails.Load(), requests, gen)
	if fails.Load() > 0 {
		t.Errorf("%d proxied calls failed", fails.Load())
	}
	if uint64(requests) != gen || gen < 3 {
		t.Errorf("%d token requests made %d generations: replicas duplicated refreshes", requests, gen)
	}

	// 2. A flow started on replica A, its callback landing on replica B.
	ac := create(r[0], map[string]any{"name": "web", "url": prov.URL + "/api", "auth": map[string]any{
		"grantType": "authorization_code", "accessTokenUrl": prov.TokenURL(), "authorizationUrl": prov.AuthURL(),
		"clientId": "web", "clientSecret": "web-secret-88", "scope": "read", "clientAuthentication": "basic"}})
	_, b = r[0].call("POST", "/api/v1/datasources/"+ac+"/authorize", adminTok, nil)
	var au struct{ AuthorizeURL string }
	json.Unmarshal(b, &au)
	br := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := br.PostForm(au.AuthorizeURL, url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := strings.Replace(resp.Header.Get("Location"), public, r[1].URL, 1)
	resp, err = br.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Location"), "result=authorized") {
		t.Fatalf("callback on replica B: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := r[2].call("GET", "/api/v1/datasources/"+ac+"/proxy/me", adminTok, nil); code != 200 {
		t.Fatalf("replica C with the token B stored: %d", code)
	}

	// 3. kill -9 a replica in the middle of a refresh: the provider holds
	// A's token request, A dies holding the lock, B takes over after the
	// lease (2s).
	hold.Store(true)
	go r[0].callQuiet("POST", "/api/v1/datasources/"+cc+"/refresh")
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("A's refresh never reached the provider")
	}
	r[0].cmd.Process.Kill()
	<-r[0].done
	killed := time.Now()
	hold.Store(false)
	releaseOnce.Do(func() { close(release) })
	code, b := r[1].call("POST", "/api/v1/datasources/"+cc+"/refresh", adminTok, nil)
	took := time.Since(killed)
	json.Unmarshal(b, &st)
	t.Logf("replica killed during its refresh; another completed it %v later (lock TTL 2s)", took.Round(time.Millisecond))
	if code != 200 || st.Status != "authorized" || took > 6*time.Second {
		t.Fatalf("takeover: %d %s after %v", code, b, took)
	}
	r[0] = startOn(t, t.TempDir(), addrs[0], args, env...)

	// 4. One etcd member down: everything works.
	cluster.Stop(2)
	other := create(r[1], map[string]any{"name": "while-degraded", "url": prov.URL + "/api", "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": prov.TokenURL(), "clientId": "svc", "clientSecret": "svc-secret-77", "scope": "read"}})
	if code, _ := r[2].call("GET", "/api/v1/datasources/"+other+"/proxy/x", adminTok, nil); code != 200 {
		t.Fatalf("proxy with one member down: %d", code)
	}

	// 5. No quorum: a cached token is still served, writes and readiness get 503.
	r[2].call("GET", "/api/v1/datasources/"+ac+"/proxy/me", adminTok, nil) // make sure C holds it
	cluster.Stop(1)
	if code, b := r[2].call("GET", "/api/v1/datasources/"+ac+"/proxy/me", adminTok, nil); code != 200 {
		t.Fatalf("cached token without quorum: %d %s", code, b)
	}
	code, b = r[2].call("POST", "/api/v1/datasources", adminTok, map[string]any{"name": "no-quorum", "url": "https://x.example", "auth": map[string]any{
		"grantType": "client_credentials", "accessTokenUrl": "https://x.example/t", "clientId": "a", "clientSecret": "b"}})
	if code != 503 || !strings.Contains(string(b), "unavailable") {
		t.Fatalf("write without quorum: %d %s", code, b)
	}
	// Readiness says the replica cannot refresh while it lasts.
	if code, b := r[2].call("GET", "/readyz", "", nil); code != 503 {
		t.Fatalf("readiness without quorum: %d %s", code, b)
	}
	cluster.Restart(1)
	cluster.Restart(2)

	// 6. Restart everything: datasources and tokens are all there.
	for _, p := range r {
		p.stop()
	}
	cluster.StopAll()
	cluster.RestartAll()
	before := prov.Count("refresh_token") + prov.Count("authorization_code")
	r = startAll()
	for _, id := range []string{ac, other} {
		code, b := r[1].call("GET", "/api/v1/datasources/"+id+"/proxy/x", adminTok, nil)
		if code != 200 {
			t.Fatalf("%s after a full restart: %d %s", id, code, b)
		}
	}
	// The 3-second client-credentials tokens expired during the restart
	// and were refreshed; the authorization-code one lives an hour and
	// must have been served as stored.
	if n := prov.Count("refresh_token") + prov.Count("authorization_code") - before; n != 0 {
		t.Errorf("%d token requests for the stored one-hour token after the restart", n)
	}
	for _, p := range r {
		p.stop()
		if strings.Contains(p.logs.String(), "svc-secret-77") || strings.Contains(p.logs.String(), kek) {
			t.Error("a secret in a replica's logs")
		}
	}
}

// storedGeneration reads the token record's generation straight from
// etcd, with the shared keyset.
func storedGeneration(t *testing.T, endpoints []string, kek, id string) uint64 {
	t.Helper()
	cl, err := etcd.Dial(etcd.Options{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mk, _ := crypto.ParseMasterKey(kek)
	keys, _, err := crypto.LoadOrCreateKeyset(cl.Keyset(), mk)
	if err != nil {
		t.Fatal(err)
	}
	store, err := cl.Open(keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.TokenRecord(context.Background(), datasource.SharedKey(id))
	if err != nil {
		t.Fatal(err)
	}
	return rec.Generation
}
