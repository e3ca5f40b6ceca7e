package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
)

type stormRound struct {
	Requests      int           `json:"requests"`
	TokenRequests int64         `json:"tokenRequests"`
	OK            int           `json:"ok"`
	P50           time.Duration `json:"p50"`
	P99           time.Duration `json:"p99"`
	Max           time.Duration `json:"max"`
}

// benchStorm sends o.stormSize concurrent proxied requests the moment the
// token has expired and counts the token requests they cause (must be 1).
// It runs grantd in-process so that a controllable clock can expire the
// token exactly; the requests go over real HTTP on loopback, on connections
// opened beforehand.
func benchStorm(ctx context.Context, o options, r *report) error {
	fmt.Printf("== refresh storm: %d concurrent proxied requests on an expired token\n", o.stormSize)
	te, err := startTokenEndpoint(3600)
	if err != nil {
		return err
	}
	defer te.Close()
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upSrv := &fasthttp.Server{Handler: upstreamHandler, Concurrency: 1 << 16}
	go upSrv.Serve(upLn)
	defer upSrv.Shutdown()

	dir, err := os.MkdirTemp("", "grantd-bench-storm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keys, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), crypto.GenerateMasterKey())
	if err != nil {
		return err
	}
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	clock := grantstest.NewClock(time.Now())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine := grants.New(store, grants.Options{Clock: clock, Logger: quiet, Dialer: &outbound.Dialer{AllowPrivate: true}})
	if err := engine.Start(ctx); err != nil {
		return err
	}
	defer engine.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	public, _ := url.Parse("http://" + ln.Addr().String())
	srv := api.New(api.Config{Engine: engine, PublicURL: public, AdminTokenHash: sha256.Sum256([]byte(benchAdminToken)),
		SessionKey: make([]byte, 32), Dialer: &outbound.Dialer{AllowPrivate: true}, Logger: quiet})
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	d := &datasource.Datasource{Name: "storm", URL: "http://" + upLn.Addr().String(),
		Auth: datasource.OAuth2{GrantType: datasource.ClientCredentials, AccessTokenURL: te.URL(), ClientID: "bench",
			ClientSecret: datasource.NewSecret("bench-secret"), ClientAuthentication: datasource.ClientAuthBasic}}
	d, a, err := engine.Create(ctx, d)
	if err != nil || a.Status != datasource.StatusAuthorized {
		return fmt.Errorf("storm datasource: %v %v", a, err)
	}
	target := public.String() + "/api/v1/datasources/" + d.ID + "/proxy/v1/items"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.stormSize, MaxConnsPerHost: o.stormSize}}
	fire := func() ([]time.Duration, int) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		lat := make([]time.Duration, o.stormSize)
		ok := make([]bool, o.stormSize)
		for i := range o.stormSize {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", target, nil)
				req.Header.Set("Authorization", "Bearer "+benchAdminToken)
				<-start
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok[i] = resp.StatusCode == 200
				}
				lat[i] = time.Since(t0)
			}()
		}
		close(start)
		wg.Wait()
		n := 0
		for _, v := range ok {
			if v {
				n++
			}
		}
		return lat, n
	}
	fire() // open the connections
	for round := range 5 {
		tok, err := engine.Token(ctx, datasource.SharedKey(d.ID))
		if err != nil {
			return err
		}
		before := te.count.Load()
		clock.Set(tok.Expiry.Add(time.Second)) // the token has just expired
		lat, ok := fire()
		slices.Sort(lat)
		sr := stormRound{Requests: o.stormSize, TokenRequests: te.count.Load() - before, OK: ok,
			P50: lat[len(lat)/2], P99: lat[len(lat)*99/100], Max: lat[len(lat)-1]}
		r.Storm = append(r.Storm, sr)
		fmt.Printf("  round %d: %d requests, %d ok, %d token request(s), p50 %v p99 %v max %v\n",
			round+1, sr.Requests, sr.OK, sr.TokenRequests, sr.P50.Round(time.Microsecond), sr.P99.Round(time.Microsecond), sr.Max.Round(time.Microsecond))
	}
	return nil
}
