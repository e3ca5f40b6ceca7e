package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
)

// connScaleResult is the per-user scale run: one per-user datasource with
// n end users' connections on bbolt.
type connScaleResult struct {
	Connections int           `json:"connections"`
	Populate    time.Duration `json:"populate"`
	// Ready is exec to /readyz with every connection stored (the schedule
	// of each loaded, nothing unsealed).
	Ready time.Duration `json:"ready"`
	// Refresh is how long the refresher took to refresh every connection
	// (each token request answered and its record committed), and the
	// rate.
	Refresh     time.Duration `json:"refresh"`
	RefreshRate float64       `json:"refreshRate"`
	RefreshCPU  float64       `json:"refreshCpu"`
	// RefreshTimeline is refreshes done over time.
	RefreshTimeline []fillSample  `json:"refreshTimeline,omitempty"`
	RSS             int64         `json:"rss"` // after the refresh wave
	IdleCPU         float64       `json:"idleCpu"`
	IdleWindow      time.Duration `json:"idleWindow"`
	IdleTokenReqs   int64         `json:"idleTokenRequests"`
	// PageP50, PageP99: GET …/connections?limit=50 at random cursors.
	PageP50   time.Duration `json:"pageP50"`
	PageP99   time.Duration `json:"pageP99"`
	Restarted time.Duration `json:"restartReady"` // ready again after a restart
	FileSize  int64         `json:"fileSize"`
}

// benchConnections runs the per-user scale measurement once per count.
func benchConnections(ctx context.Context, o options, r *report) error {
	for _, n := range o.connections {
		res, err := connectionsOnce(ctx, o, n)
		if err != nil {
			return err
		}
		r.Connections = append(r.Connections, res)
	}
	return nil
}

// connectionsOnce stores a per-user datasource with n connections whose
// tokens are all due for refresh, starts the real grantd on it and
// measures: time to ready, the refresh wave (every token request
// answered, sealed and committed), memory, idle CPU, a page of
// connections at that size, and a restart.
func connectionsOnce(ctx context.Context, o options, n int) (connScaleResult, error) {
	fmt.Printf("== per-user connections: %d on one datasource\n", n)
	res := connScaleResult{Connections: n, IdleWindow: o.idle}
	te, err := startTokenEndpoint(3600)
	if err != nil {
		return res, err
	}
	defer te.Close()
	dir, err := os.MkdirTemp("", "grantd-bench-connections")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	kek := crypto.GenerateMasterKey()

	// Populate without fsync: set-up, not what is measured.
	start := time.Now()
	keys, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), kek)
	if err != nil {
		return res, err
	}
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, &bolt.Options{NoSync: true})
	if err != nil {
		return res, err
	}
	dsID, err := populatePerUser(ctx, store, te.URL(), n, 64)
	if err != nil {
		return res, err
	}
	if err := store.Close(); err != nil {
		return res, err
	}
	res.Populate = time.Since(start)
	fmt.Printf("  populated in %v\n", res.Populate.Round(time.Millisecond))

	var extra []string
	if o.workers > 0 {
		extra = append(extra, "--refresh-workers", fmt.Sprint(o.workers))
	}
	if o.cpuProfile != "" {
		extra = append(extra, "--pprof-addr", o.pprofAddr)
	}
	g, err := startGrantd(ctx, o, dir, kek.Encode(), extra...)
	if err != nil {
		return res, err
	}
	if o.cpuProfile != "" {
		// The first seconds of the refresh wave.
		go fetchProfile(o, 3, fmt.Sprintf("%s.connections-%d", o.cpuProfile, n))
	}
	res.Ready = g.ready
	before, _ := readProc(g.cmd.Process.Pid)
	waveStart := time.Now()
	res.RefreshTimeline = []fillSample{{}}
	for {
		done := int(te.count.Load())
		t := time.Since(waveStart)
		if last := res.RefreshTimeline[len(res.RefreshTimeline)-1]; done >= n || t-last.T >= fillSampleEvery {
			res.RefreshTimeline = append(res.RefreshTimeline, fillSample{T: t, Authorized: done})
		}
		if done >= n {
			break
		}
		if t > 15*time.Minute {
			g.stop()
			return res, fmt.Errorf("only %d of %d refreshed after 15 minutes", done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Refresh = time.Since(waveStart)
	after, _ := readProc(g.cmd.Process.Pid)
	res.RefreshRate = float64(n) / res.Refresh.Seconds()
	res.RefreshCPU = float64(after.cpu-before.cpu) / float64(res.Refresh)
	fmt.Printf("  ready in %v; %d connections refreshed in %v: %.0f/s, grantd CPU %.2f cores\n",
		res.Ready.Round(time.Millisecond), n, res.Refresh.Round(time.Millisecond), res.RefreshRate, res.RefreshCPU)

	// Idle: every token fresh for an hour.
	time.Sleep(2 * time.Second) // commits of the last answers settle: not measured
	p0, _ := readProc(g.cmd.Process.Pid)
	res.RSS = p0.rss
	reqs0 := te.count.Load()
	idleStart := time.Now()
	select {
	case <-time.After(o.idle):
	case <-ctx.Done():
		g.stop()
		return res, ctx.Err()
	}
	p1, _ := readProc(g.cmd.Process.Pid)
	res.IdleCPU = float64(p1.cpu-p0.cpu) / float64(time.Since(idleStart))
	res.IdleTokenReqs = te.count.Load() - reqs0

	// Pages of connections at random cursors.
	var lat []time.Duration
	for range 200 {
		cursor := endUser(rand.IntN(n))
		t0 := time.Now()
		code, b, err := g.api("GET", "/api/v1/datasources/"+dsID+"/connections?limit=50&cursor="+cursor, nil)
		if err != nil || code != 200 {
			g.stop()
			return res, fmt.Errorf("page of connections: %d %v %s", code, err, b)
		}
		lat = append(lat, time.Since(t0))
		var page struct{ Connections []json.RawMessage }
		if json.Unmarshal(b, &page) != nil {
			g.stop()
			return res, fmt.Errorf("page of connections: not JSON")
		}
	}
	slices.Sort(lat)
	res.PageP50, res.PageP99 = quantile(lat, 0.5), quantile(lat, 0.99)
	fmt.Printf("  RSS %d MiB, idle CPU %.2f%% over %v (%d token requests), a page of 50 connections p50 %v p99 %v\n",
		res.RSS>>20, res.IdleCPU*100, o.idle, res.IdleTokenReqs, res.PageP50.Round(time.Microsecond), res.PageP99.Round(time.Microsecond))
	g.stop()

	g, err = startGrantd(ctx, o, dir, kek.Encode())
	if err != nil {
		return res, err
	}
	res.Restarted = g.ready
	g.stop()
	if fi, err := os.Stat(filepath.Join(dir, "grantd.db")); err == nil {
		res.FileSize = fi.Size()
	}
	fmt.Printf("  restart ready in %v, file %d MiB\n", res.Restarted.Round(time.Millisecond), res.FileSize>>20)
	return res, nil
}

func randHex() string {
	b := make([]byte, 24)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// connectionSaver is what storeDueConnections needs of a store (bbolt or
// etcd).
type connectionSaver interface {
	CreateDatasource(context.Context, *datasource.Datasource) error
	SaveConnection(context.Context, *datasource.Connection) (bool, error)
	SaveTokenRecord(context.Context, datasource.Key, *datasource.TokenRecord, uint64) error
}

// populatePerUser stores one per-user datasource whose token endpoint is
// tokenURL and n connections (end users endUser(0) …) whose tokens are all
// due, from loaders goroutines, and returns the datasource's id: the
// set-up of the connections and replicas runs, on bbolt or etcd alike.
func populatePerUser(ctx context.Context, store connectionSaver, tokenURL string, n, loaders int) (string, error) {
	now := time.Now().UTC()
	d := &datasource.Datasource{ID: datasource.NewID(), Name: "per-user", URL: "https://api.example.com/v1", ConnectionMode: datasource.PerUser,
		Auth: datasource.OAuth2{GrantType: datasource.AuthorizationCode, AccessTokenURL: tokenURL, AuthorizationURL: "https://id.example.com/authorize",
			ClientID: "app", ClientSecret: datasource.NewSecret("app-secret-0123456789"), Scope: "read", ClientAuthentication: datasource.ClientAuthBody},
		CreatedAt: now, UpdatedAt: now}
	d.Normalize()
	if err := store.CreateDatasource(ctx, d); err != nil {
		return "", err
	}
	users := make([]string, n)
	for i := range n {
		users[i] = endUser(i)
	}
	return d.ID, storeDueConnections(ctx, store, d.ID, users, loaders)
}

// endUser is the i-th end user of populatePerUser.
func endUser(i int) string { return fmt.Sprintf("user-%07d", i) }

// storeDueConnections stores a connection for each end user of the
// datasource with a token record that is due for refresh, from loaders
// goroutines.
func storeDueConnections(ctx context.Context, store connectionSaver, dsID string, users []string, loaders int) error {
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, loaders)
	for w := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(users); i += loaders {
				k := datasource.Key{Datasource: dsID, EndUser: users[i]}
				if _, err := store.SaveConnection(ctx, &datasource.Connection{DatasourceID: dsID, EndUserID: k.EndUser, CreatedAt: now, UpdatedAt: now}); err != nil {
					errs <- err
					return
				}
				// Issued 58 minutes ago, expiring in 2: every one is due.
				rec := &datasource.TokenRecord{Generation: 1, AccessToken: datasource.NewSecret(randHex()), RefreshToken: datasource.NewSecret(randHex()),
					TokenType: "Bearer", Expiry: now.Add(2 * time.Minute), LastRefreshedAt: now.Add(-58 * time.Minute), Status: datasource.StatusAuthorized}
				if err := store.SaveTokenRecord(ctx, k, rec, 0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
