package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/grantd/grantd/crypto"
)

// Proxy targets, in the order they run in each round.
var proxyTargets = []string{"direct", "grantd-header", "grantd-query", "grantd-apikey", "grantd-peruser", "baseline", "forwarder"}

// latencyTargets are the targets of the fixed-rate and slow-upstream runs.
var latencyTargets = []string{"direct", "grantd-header", "baseline", "forwarder"}

type proxyPoint struct {
	Conns   int                   `json:"conns"`
	Results map[string]loadResult `json:"results"` // median of the rounds
}

// benchProxy measures proxy throughput and added latency: (a) the upstream
// directly, (b) grantd's proxy with a cached client-credentials token in a
// header, (c) the same in a query parameter, (d) the baseline of
// net/http + httputil.ReverseProxy + x/oauth2 clientcredentials, (f) a bare
// fasthttp forwarder that only sets the Authorization header, and grantd
// called with an API key (g) and for one end user of a per-user
// datasource (h), all against
// the same upstream, with the same wrk, in the same run, interleaved round
// by round.
func benchProxy(ctx context.Context, o options, r *report) error {
	fmt.Println("== proxy throughput and added latency")
	te, err := startTokenEndpoint(86400) // a day: no refresh during the runs
	if err != nil {
		return err
	}
	defer te.Close()
	up, err := startHelper(ctx, "serve-upstream")
	if err != nil {
		return err
	}
	defer up.Close()
	base, err := startHelper(ctx, "serve-baseline", "-upstream", up.URL(), "-token-url", te.URL())
	if err != nil {
		return err
	}
	defer base.Close()
	fwd, err := startHelper(ctx, "serve-forwarder", "-upstream", up.URL())
	if err != nil {
		return err
	}
	defer fwd.Close()
	dir, err := os.MkdirTemp("", "grantd-bench-proxy")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var extra []string
	if o.cpuProfile != "" {
		extra = append(extra, "--pprof-addr", o.pprofAddr)
	}
	g, err := startGrantd(ctx, o, dir, crypto.GenerateMasterKey().Encode(), extra...)
	if err != nil {
		return err
	}
	defer g.stop()

	ids := map[string]string{}
	for _, placement := range []string{"header", "query"} {
		code, b, err := g.api("POST", "/api/v1/datasources", map[string]any{
			"name": "bench-" + placement, "url": up.URL(),
			"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": te.URL(), "clientId": "bench",
				"clientSecret": "bench-secret", "clientAuthentication": "basic", "tokenPlacement": placement},
		})
		if err != nil || code != 201 {
			return fmt.Errorf("creating the %s datasource: %d %s %v", placement, code, b, err)
		}
		var v struct {
			ID            string
			Authorization struct{ Status string }
		}
		json.Unmarshal(b, &v)
		if v.Authorization.Status != "authorized" {
			return fmt.Errorf("datasource %s is %s", placement, v.Authorization.Status)
		}
		ids[placement] = v.ID
	}
	// A per-user datasource: JWT bearer, so grantd signs for each end user
	// and no browser is needed; the calls are one end user's.
	code, b, err := g.api("POST", "/api/v1/datasources", map[string]any{
		"name": "bench-peruser", "url": up.URL(), "connectionMode": "perUser",
		"auth": map[string]any{"grantType": "jwt_bearer", "accessTokenUrl": te.URL(), "clientId": "bench", "privateKey": benchPrivateKey()},
	})
	if err != nil || code != 201 {
		return fmt.Errorf("creating the per-user datasource: %d %s %v", code, b, err)
	}
	var pu struct{ ID string }
	json.Unmarshal(b, &pu)
	ids["peruser"] = pu.ID
	// An API key with only the proxy permission, limited to the datasource.
	code, b, err = g.api("POST", "/api/v1/api-keys", map[string]any{"name": "bench", "permissions": []string{"proxy"}, "datasources": []string{"bench-header"}})
	if err != nil || code != 201 {
		return fmt.Errorf("creating the API key: %d %s %v", code, b, err)
	}
	var key struct{ Key string }
	json.Unmarshal(b, &key)
	gp := g.cmd.Process.Pid
	urls := map[string]target{
		"direct":         at(up.URL() + "/v1/items").servedBy(up.cmd.Process.Pid),
		"grantd-header":  at(g.url + "/api/v1/datasources/" + ids["header"] + "/proxy/v1/items").servedBy(gp),
		"grantd-query":   at(g.url + "/api/v1/datasources/" + ids["query"] + "/proxy/v1/items").servedBy(gp),
		"grantd-apikey":  at(g.url+"/api/v1/datasources/"+ids["header"]+"/proxy/v1/items", "Authorization", "Bearer "+key.Key).servedBy(gp),
		"grantd-peruser": at(g.url+"/api/v1/datasources/"+ids["peruser"]+"/proxy/v1/items", "Grantd-End-User", "user-42").servedBy(gp),
		"baseline":       at(base.URL() + "/v1/items").servedBy(base.cmd.Process.Pid),
		"forwarder":      at(fwd.URL() + "/v1/items").servedBy(fwd.cmd.Process.Pid),
	}
	for _, t := range proxyTargets { // warm up connections, caches, JIT of the page cache
		if _, err := runWrk(ctx, o, urls[t], 16, time.Second); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	if o.cpuProfile != "" {
		if err := profileProxy(ctx, o, g, urls["grantd-header"]); err != nil {
			return err
		}
	}
	tokensBefore := te.count.Load()
	for _, c := range o.conns {
		runs := map[string][]loadResult{}
		for round := 0; round < o.rounds; round++ {
			order := slices.Clone(proxyTargets)
			// Rotate the order each round so no target always runs first.
			order = append(order[round%len(order):], order[:round%len(order)]...)
			for _, t := range order {
				res, err := runWrk(ctx, o, urls[t], c, o.duration)
				if err != nil {
					return fmt.Errorf("%s at %d connections: %w", t, c, err)
				}
				runs[t] = append(runs[t], res)
				fmt.Printf("  %-14s c=%-3d round %d: %8.0f req/s  p50 %-9v p99 %-9v wrk CPU %3.0f%%  errors %d\n",
					t, c, round+1, res.RPS, res.P50, res.P99, res.LoadCPU*100, res.Errors)
			}
		}
		pt := proxyPoint{Conns: c, Results: map[string]loadResult{}}
		for t, rs := range runs {
			pt.Results[t] = median(rs)
		}
		r.Proxy = append(r.Proxy, pt)
	}
	r.ProxyTokenRequests = te.count.Load() - tokensBefore
	r.ProxyDuration = o.duration.String()
	r.ProxyRounds = o.rounds

	// Latency at a moderate fixed rate, 16 connections, interleaved. The
	// rounds' samples are pooled per target for the latency distribution.
	const rate, conns = 2000.0, 16
	pooled := map[string][]time.Duration{}
	for round := 0; round < o.rounds; round++ {
		for _, t := range latencyTargets {
			lat, err := fixedRate(ctx, urls[t], conns, rate, o.duration)
			if err != nil {
				return fmt.Errorf("fixed rate %s: %w", t, err)
			}
			p50, p99 := quantile(lat, 0.5), quantile(lat, 0.99)
			fmt.Printf("  %-14s %4.0f req/s over %d connections, round %d: p50 %-9v p99 %v (%d requests)\n", t, rate, conns, round+1, p50, p99, len(lat))
			r.FixedRate = append(r.FixedRate, fixedRateResult{Target: t, Rate: rate, Conns: conns, P50: p50, P99: p99})
			pooled[t] = append(pooled[t], lat...)
		}
	}
	for _, t := range latencyTargets {
		r.Latency = append(r.Latency, newLatencyDistribution(t, rate, conns, pooled[t]))
	}

	// The same proxies in front of an upstream that takes 1 ms per answer,
	// as a real API does: grantd's cost against the work it fronts.
	slow, err := startHelper(ctx, "serve-upstream", "-delay", "1ms")
	if err != nil {
		return err
	}
	defer slow.Close()
	slowBase, err := startHelper(ctx, "serve-baseline", "-upstream", slow.URL(), "-token-url", te.URL())
	if err != nil {
		return err
	}
	defer slowBase.Close()
	slowFwd, err := startHelper(ctx, "serve-forwarder", "-upstream", slow.URL())
	if err != nil {
		return err
	}
	defer slowFwd.Close()
	code, b, err = g.api("POST", "/api/v1/datasources", map[string]any{
		"name": "bench-slow", "url": slow.URL(),
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": te.URL(), "clientId": "bench",
			"clientSecret": "bench-secret", "clientAuthentication": "basic"},
	})
	if err != nil || code != 201 {
		return fmt.Errorf("creating the slow datasource: %d %s %v", code, b, err)
	}
	var sv struct{ ID string }
	json.Unmarshal(b, &sv)
	slowURLs := map[string]target{
		"direct":        at(slow.URL() + "/v1/items"),
		"grantd-header": at(g.url + "/api/v1/datasources/" + sv.ID + "/proxy/v1/items"),
		"baseline":      at(slowBase.URL() + "/v1/items"),
		"forwarder":     at(slowFwd.URL() + "/v1/items"),
	}
	runs := map[string][]loadResult{}
	for round := 0; round < o.rounds; round++ {
		for _, t := range latencyTargets {
			res, err := runWrk(ctx, o, slowURLs[t], 64, o.duration)
			if err != nil {
				return fmt.Errorf("slow %s: %w", t, err)
			}
			runs[t] = append(runs[t], res)
			fmt.Printf("  1ms upstream %-14s c=64 round %d: %8.0f req/s  p50 %-9v p99 %v\n", t, round+1, res.RPS, res.P50, res.P99)
		}
	}
	r.SlowUpstream = map[string]loadResult{}
	for t, rs := range runs {
		r.SlowUpstream[t] = median(rs)
	}
	return nil
}

type fixedRateResult struct {
	Target string        `json:"target"`
	Rate   float64       `json:"rate"`
	Conns  int           `json:"conns"`
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
}

// median takes the median of each figure over the rounds separately.
func median(rs []loadResult) loadResult {
	pick := func(f func(loadResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return loadResult{
		RPS:       pick(func(r loadResult) float64 { return r.RPS }),
		P50:       time.Duration(pick(func(r loadResult) float64 { return float64(r.P50) })),
		P99:       time.Duration(pick(func(r loadResult) float64 { return float64(r.P99) })),
		Errors:    int(pick(func(r loadResult) float64 { return float64(r.Errors) })),
		LoadCPU:   pick(func(r loadResult) float64 { return r.LoadCPU }),
		Requests:  int(pick(func(r loadResult) float64 { return float64(r.Requests) })),
		ServerCPU: time.Duration(pick(func(r loadResult) float64 { return float64(r.ServerCPU) })),
	}
}

// profileProxy takes a CPU profile of grantd over one wrk run against t at
// 64 connections and writes it to o.cpuProfile (go tool pprof reads it).
func profileProxy(ctx context.Context, o options, g *grantdProc, t target) error {
	secs := max(int(o.duration.Seconds()), 1)
	got := make(chan error, 1)
	go func() { got <- fetchProfile(o, secs, o.cpuProfile) }()
	res, err := runWrk(ctx, o, t, 64, time.Duration(secs+1)*time.Second)
	if err != nil {
		return err
	}
	if err := <-got; err != nil {
		return err
	}
	fmt.Printf("  cpu profile of grantd over %d s at 64 connections (%.0f req/s) in %s\n", secs, res.RPS, o.cpuProfile)
	return nil
}

// fetchProfile writes a CPU profile of secs seconds from grantd's pprof
// endpoint to path.
func fetchProfile(o options, secs int, path string) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", o.pprofAddr, secs))
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	return os.WriteFile(path, b, 0o644)
}
