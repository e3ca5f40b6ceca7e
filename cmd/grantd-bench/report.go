package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

type report struct {
	Machine            string                `json:"machine"`
	Date               string                `json:"date"`
	Proxy              []proxyPoint          `json:"proxy,omitempty"`
	ProxyDuration      string                `json:"proxyDuration,omitempty"`
	ProxyRounds        int                   `json:"proxyRounds,omitempty"`
	ProxyTokenRequests int64                 `json:"proxyTokenRequests"`
	FixedRate          []fixedRateResult     `json:"fixedRate,omitempty"`
	Latency            []latencyDistribution `json:"latency,omitempty"` // the fixed-rate runs, rounds pooled
	SlowUpstream       map[string]loadResult `json:"slowUpstream,omitempty"`
	Storm              []stormRound          `json:"storm,omitempty"`
	Scale              scaleResults          `json:"scale,omitempty"`       // one per datasource count
	Connections        []connScaleResult     `json:"connections,omitempty"` // one per connection count
	Replicas           []replicasResult      `json:"replicas,omitempty"`    // one per connection count, on etcd
	MCP                []mcpResult           `json:"mcp,omitempty"`         // call_datasource vs the proxy, per concurrency
}

func (r *report) save(path string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n## Results — %s\n\nMachine: %s\n\n", r.Date, r.Machine)
	if len(r.Proxy) > 0 {
		fmt.Fprintf(w, "### Proxy (wrk, 1 thread; median of %d interleaved %s runs)\n\n", r.ProxyRounds, r.ProxyDuration)
		fmt.Fprintln(w, "| conns | target | req/s | p50 | p99 | wrk CPU | server CPU per request |")
		fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|")
		for _, pt := range r.Proxy {
			for _, t := range proxyTargets {
				res := pt.Results[t]
				fmt.Fprintf(w, "| %d | %s | %.0f | %s | %s | %.0f%% | %.1f µs |\n", pt.Conns, t, res.RPS, ms(res.P50), ms(res.P99), res.LoadCPU*100, float64(res.ServerCPU)/float64(time.Microsecond))
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| conns | b/a (grantd/direct) | b/d (grantd/baseline) | b/f (grantd/forwarder) | c/a (query/direct) | p99 added over direct |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
		for _, pt := range r.Proxy {
			a, b, c, d, f := pt.Results["direct"], pt.Results["grantd-header"], pt.Results["grantd-query"], pt.Results["baseline"], pt.Results["forwarder"]
			fmt.Fprintf(w, "| %d | %.2f | %.2f | %.2f | %.2f | %s |\n", pt.Conns, b.RPS/a.RPS, b.RPS/d.RPS, b.RPS/f.RPS, c.RPS/a.RPS, ms(b.P99-a.P99))
		}
		fmt.Fprintln(w)
		for _, pt := range r.Proxy {
			a, b, d, f := pt.Results["direct"], pt.Results["grantd-header"], pt.Results["baseline"], pt.Results["forwarder"]
			if pt.Conns == 16 || pt.Conns == 64 {
				fmt.Fprintf(w, "- target b/f ≥ 0.9 at %d: %.2f — %s\n", pt.Conns, b.RPS/f.RPS, verdict(b.RPS/f.RPS >= 0.9))
				fmt.Fprintf(w, "- target b/d ≥ 2 at %d: %.2f — %s\n", pt.Conns, b.RPS/d.RPS, verdict(b.RPS/d.RPS >= 2))
			}
			if pt.Conns == 64 {
				fmt.Fprintf(w, "- target b/d ≥ 1.3 at 64: %.2f — %s\n", b.RPS/d.RPS, verdict(b.RPS/d.RPS >= 1.3))
				fmt.Fprintf(w, "- target b/a ≥ 0.5 at 64: %.2f — %s\n", b.RPS/a.RPS, verdict(b.RPS/a.RPS >= 0.5))
			}
			if pt.Conns == 16 {
				fmt.Fprintf(w, "- target p99 added < 1 ms at 16: %s — %s\n", ms(b.P99-a.P99), verdict(b.P99-a.P99 < time.Millisecond))
			}
		}
		for _, pt := range r.Proxy {
			b, g, h := pt.Results["grantd-header"], pt.Results["grantd-apikey"], pt.Results["grantd-peruser"]
			if g.RPS > 0 {
				fmt.Fprintf(w, "- API key vs admin token at %d: %.3f (g/b; no measurable difference is within the rounds' spread)\n", pt.Conns, g.RPS/b.RPS)
			}
			if h.RPS > 0 {
				fmt.Fprintf(w, "- target per-user within 5%% of shared at %d: %.3f (h/b) — %s\n", pt.Conns, h.RPS/b.RPS, verdict(h.RPS/b.RPS >= 0.95))
			}
		}
		fmt.Fprintf(w, "- token requests during all proxy runs: %d (tokens were cached)\n\n", r.ProxyTokenRequests)
	}
	if len(r.FixedRate) > 0 {
		by := map[string][]fixedRateResult{}
		for _, f := range r.FixedRate {
			by[f.Target] = append(by[f.Target], f)
		}
		med := func(t string, f func(fixedRateResult) time.Duration) time.Duration {
			var v []time.Duration
			for _, x := range by[t] {
				v = append(v, f(x))
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		first := r.FixedRate[0]
		fmt.Fprintf(w, "### Latency at a fixed %.0f req/s over %d connections (open loop, median of rounds)\n\n", first.Rate, first.Conns)
		fmt.Fprintln(w, "| target | p50 | p99 |")
		fmt.Fprintln(w, "|---|---:|---:|")
		for _, t := range latencyTargets {
			fmt.Fprintf(w, "| %s | %s | %s |\n", t, ms(med(t, func(f fixedRateResult) time.Duration { return f.P50 })), ms(med(t, func(f fixedRateResult) time.Duration { return f.P99 })))
		}
		added := med("grantd-header", func(f fixedRateResult) time.Duration { return f.P99 }) - med("direct", func(f fixedRateResult) time.Duration { return f.P99 })
		fmt.Fprintf(w, "\n- p99 added over direct at 16 connections, fixed rate: %s — %s\n\n", ms(added), verdict(added < time.Millisecond))
	}
	if r.SlowUpstream != nil {
		a, b, d, f := r.SlowUpstream["direct"], r.SlowUpstream["grantd-header"], r.SlowUpstream["baseline"], r.SlowUpstream["forwarder"]
		fmt.Fprintln(w, "### In front of an upstream that takes 1 ms per answer (wrk, 64 connections)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| target | req/s | p50 | p99 |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		for _, t := range latencyTargets {
			x := r.SlowUpstream[t]
			fmt.Fprintf(w, "| %s | %.0f | %s | %s |\n", t, x.RPS, ms(x.P50), ms(x.P99))
		}
		fmt.Fprintf(w, "\n- b/a %.2f, b/d %.2f, b/f %.2f, p99 added %s\n\n", b.RPS/a.RPS, b.RPS/d.RPS, b.RPS/f.RPS, ms(b.P99-a.P99))
	}
	if len(r.Storm) > 0 {
		fmt.Fprintln(w, "### Refresh storm")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| round | requests | ok | token requests | p50 | p99 | max |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
		for i, s := range r.Storm {
			fmt.Fprintf(w, "| %d | %d | %d | %d | %s | %s | %s |\n", i+1, s.Requests, s.OK, s.TokenRequests, ms(s.P50), ms(s.P99), ms(s.Max))
		}
		fmt.Fprintln(w)
	}
	for _, s := range r.Scale {
		fmt.Fprintf(w, "### Scale: %d client-credentials datasources\n\n", s.Datasources)
		fmt.Fprintln(w, "| figure | value | target |")
		fmt.Fprintln(w, "|---|---:|---|")
		fmt.Fprintf(w, "| start to ready, every token stored | %s | < 3 s — %s |\n", s.Ready.Round(time.Millisecond), verdict(s.Ready < 3*time.Second))
		fmt.Fprintf(w, "| resident memory after ready | %d MiB | < 300 MiB — %s |\n", s.RSS>>20, verdict(s.RSS < 300<<20))
		fmt.Fprintf(w, "| idle CPU over %v | %.2f%% of a core (%d token requests) | < 1%% — %s |\n", s.IdleWindow, s.IdleCPU*100, s.IdleTokenReqs, verdict(s.IdleCPU < 0.01))
		fmt.Fprintf(w, "| tokens obtained and persisted per second | %.0f/s (%.2f cores) | ≥ 2,000/s — %s |\n", s.FillRate, s.FillCPU, verdict(s.FillRate >= 2000))
		fmt.Fprintf(w, "| start to ready, no tokens yet | %s | |\n", s.FirstReady.Round(time.Millisecond))
		fmt.Fprintf(w, "| resident memory after the fill | %d MiB | |\n", s.RSSAfterFill>>20)
		fmt.Fprintf(w, "| bbolt file | %d MiB | |\n", s.FileSize>>20)
		fmt.Fprintln(w)
	}
	for _, s := range r.Connections {
		fmt.Fprintf(w, "### Scale: %d per-user connections on one datasource (bbolt)\n\n", s.Connections)
		fmt.Fprintln(w, "| figure | value | target |")
		fmt.Fprintln(w, "|---|---:|---|")
		fmt.Fprintf(w, "| start to ready | %s | < 10 s — %s |\n", s.Ready.Round(time.Millisecond), verdict(s.Ready < 10*time.Second))
		fmt.Fprintf(w, "| restart to ready, every token fresh | %s | < 10 s — %s |\n", s.Restarted.Round(time.Millisecond), verdict(s.Restarted < 10*time.Second))
		fmt.Fprintf(w, "| resident memory | %d MiB | < 2 GiB — %s |\n", s.RSS>>20, verdict(s.RSS < 2<<30))
		fmt.Fprintf(w, "| idle CPU over %v | %.2f%% of a core (%d token requests) | < 1%% — %s |\n", s.IdleWindow, s.IdleCPU*100, s.IdleTokenReqs, verdict(s.IdleCPU < 0.01))
		fmt.Fprintf(w, "| refreshes obtained and committed per second | %.0f/s (%.2f cores) | ≥ 5,000/s — %s |\n", s.RefreshRate, s.RefreshCPU, verdict(s.RefreshRate >= 5000))
		fmt.Fprintf(w, "| a page of 50 connections, p50 / p99 | %s / %s | < 20 ms — %s |\n", ms(s.PageP50), ms(s.PageP99), verdict(s.PageP99 < 20*time.Millisecond))
		fmt.Fprintf(w, "| bbolt file | %d MiB | |\n", s.FileSize>>20)
		fmt.Fprintln(w)
	}
	for _, s := range r.Replicas {
		fmt.Fprintf(w, "### Replicas: %d per-user connections, %d grantd on a %d-member etcd cluster\n\n", s.Connections, s.Replicas, s.Replicas)
		fmt.Fprintln(w, "| figure | value | target |")
		fmt.Fprintln(w, "|---|---:|---|")
		fmt.Fprintf(w, "| start to ready, per replica | %v | |\n", roundAll(s.Ready))
		fmt.Fprintf(w, "| refreshes per second, all replicas up | %.0f/s | |\n", s.RateBeforeKill)
		fmt.Fprintf(w, "| refreshes per second, whole wave (one replica killed a third in) | %.0f/s (%v for all) | |\n", s.RefreshRate, s.Refresh.Round(time.Millisecond))
		fmt.Fprintf(w, "| token requests per refresh | %.4f (%d answered for %d connections) | = 1 — %s |\n", float64(s.Answered)/float64(s.Distinct), s.Answered, s.Distinct, verdict(s.Answered == int64(s.Distinct)))
		fmt.Fprintf(w, "| failover: kill -9 to the last of its %d in-flight refreshes done by a survivor | %s | ≈ lock TTL %v |\n", s.Orphaned, s.Failover.Round(time.Millisecond), s.LockTTL)
		fmt.Fprintln(w)
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
