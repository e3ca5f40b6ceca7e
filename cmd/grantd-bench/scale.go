package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
)

type scaleResult struct {
	Datasources     int           `json:"datasources"`
	Populate        time.Duration `json:"populate"`
	FirstReady      time.Duration `json:"firstReady"`
	Fill            time.Duration `json:"fill"`
	FillRate        float64       `json:"fillRate"` // tokens obtained and persisted per second
	FillCPU         float64       `json:"fillCpu"`  // grantd's CPU during the fill, in cores
	Ready           time.Duration `json:"ready"`    // restart with every token stored
	RSS             int64         `json:"rss"`      // after ready
	IdleCPU         float64       `json:"idleCpu"`  // fraction of one core over the idle window
	IdleWindow      time.Duration `json:"idleWindow"`
	IdleTokenReqs   int64         `json:"idleTokenRequests"`
	FileSize        int64         `json:"fileSize"`
	RSSAfterFill    int64         `json:"rssAfterFill"`
	TokenEndpointRq int64         `json:"tokenEndpointRequests"`
	// FillTimeline is the authorized count during the fill, sampled about
	// every fillSampleEvery: the refresh throughput over time.
	FillTimeline []fillSample `json:"fillTimeline,omitempty"`
}

// fillSample is how many datasources were authorized T after the fill
// started.
type fillSample struct {
	T          time.Duration `json:"t"`
	Authorized int           `json:"authorized"`
}

const fillSampleEvery = 100 * time.Millisecond

// scaleResults is one scaleResult per datasource count. It reads the
// single object that files written before the counts became a list hold.
type scaleResults []scaleResult

func (s *scaleResults) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var one scaleResult
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = scaleResults{one}
		return nil
	}
	return json.Unmarshal(b, (*[]scaleResult)(s))
}

// benchScale runs the scale measurement once per count in o.datasets,
// each on a fresh store.
func benchScale(ctx context.Context, o options, r *report) error {
	for _, n := range o.datasets {
		res, err := scaleOnce(ctx, o, n)
		if err != nil {
			return err
		}
		r.Scale = append(r.Scale, res)
	}
	return nil
}

// scaleOnce loads n client-credentials datasources into a store,
// starts the real grantd on it, and measures: time to ready, the rate at
// which the refresher obtains and persists a token for each (the same
// path as a refresh: token request, seal, committed write), then, after a
// restart with every token stored, time to ready, resident memory, idle
// CPU and the file size.
func scaleOnce(ctx context.Context, o options, n int) (scaleResult, error) {
	fmt.Printf("== scale: %d client-credentials datasources\n", n)
	res := scaleResult{Datasources: n, IdleWindow: o.idle}
	te, err := startTokenEndpoint(3600)
	if err != nil {
		return res, err
	}
	defer te.Close()
	dir, err := os.MkdirTemp("", "grantd-bench-scale")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	kek := crypto.GenerateMasterKey()

	// Populate without fsync: this is set-up, not what is measured.
	start := time.Now()
	keys, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), kek)
	if err != nil {
		return res, err
	}
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, &bolt.Options{NoSync: true})
	if err != nil {
		return res, err
	}
	now := time.Now().UTC()
	for i := range n {
		d := &datasource.Datasource{ID: datasource.NewID(), Name: fmt.Sprintf("datasource-%06d", i), URL: "https://api.example.com/v1",
			Auth: datasource.OAuth2{GrantType: datasource.ClientCredentials, AccessTokenURL: te.URL(), ClientID: fmt.Sprintf("client-%d", i),
				ClientSecret: datasource.NewSecret(fmt.Sprintf("secret-%d-0123456789abcdef", i)), Scope: "api/read, api/write",
				ClientAuthentication: datasource.ClientAuthBody},
			CreatedAt: now, UpdatedAt: now}
		d.Normalize()
		if err := store.CreateDatasource(ctx, d); err != nil {
			return res, err
		}
	}
	if err := store.Close(); err != nil {
		return res, err
	}
	res.Populate = time.Since(start)
	fmt.Printf("  populated in %v\n", res.Populate.Round(time.Millisecond))

	// First start: no tokens yet; the refresher gets one for each.
	var extra []string
	if o.workers > 0 {
		extra = append(extra, "--refresh-workers", fmt.Sprint(o.workers))
	}
	g, err := startGrantd(ctx, o, dir, kek.Encode(), extra...)
	if err != nil {
		return res, err
	}
	res.FirstReady = g.ready
	before, _ := readProc(g.cmd.Process.Pid)
	fillStart := time.Now()
	res.FillTimeline = []fillSample{{}}
	for {
		a, err := g.metric(`grantd_datasources{status="authorized"}`)
		if err != nil {
			g.stop()
			return res, err
		}
		t := time.Since(fillStart)
		if last := res.FillTimeline[len(res.FillTimeline)-1]; int(a) >= n || t-last.T >= fillSampleEvery {
			res.FillTimeline = append(res.FillTimeline, fillSample{T: t, Authorized: int(a)})
		}
		if int(a) >= n {
			break
		}
		if t > 10*time.Minute {
			g.stop()
			return res, fmt.Errorf("only %d of %d authorized after 10 minutes", int(a), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Fill = time.Since(fillStart)
	after, _ := readProc(g.cmd.Process.Pid)
	res.FillRate = float64(n) / res.Fill.Seconds()
	res.FillCPU = float64(after.cpu-before.cpu) / float64(res.Fill)
	res.RSSAfterFill = after.rss
	res.TokenEndpointRq = te.count.Load()
	fmt.Printf("  first start ready in %v; %d tokens obtained and persisted in %v: %.0f/s, grantd CPU %.2f cores, RSS %d MiB\n",
		res.FirstReady.Round(time.Millisecond), n, res.Fill.Round(time.Millisecond), res.FillRate, res.FillCPU, res.RSSAfterFill>>20)
	g.stop()

	// Restart with every token stored: ready, memory, idle CPU.
	g, err = startGrantd(ctx, o, dir, kek.Encode())
	if err != nil {
		return res, err
	}
	defer g.stop()
	res.Ready = g.ready
	p0, _ := readProc(g.cmd.Process.Pid)
	res.RSS = p0.rss
	reqs0 := te.count.Load()
	idleStart := time.Now()
	select {
	case <-time.After(o.idle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	p1, _ := readProc(g.cmd.Process.Pid)
	res.IdleCPU = float64(p1.cpu-p0.cpu) / float64(time.Since(idleStart))
	res.IdleTokenReqs = te.count.Load() - reqs0
	if fi, err := os.Stat(filepath.Join(dir, "grantd.db")); err == nil {
		res.FileSize = fi.Size()
	}
	fmt.Printf("  restart ready in %v, RSS %d MiB, idle CPU %.2f%% over %v (%d token requests), file %d MiB\n",
		res.Ready.Round(time.Millisecond), res.RSS>>20, res.IdleCPU*100, o.idle, res.IdleTokenReqs, res.FileSize>>20)
	return res, nil
}
