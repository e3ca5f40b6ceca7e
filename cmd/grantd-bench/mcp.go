package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grantd/grantd/crypto"
)

// mcpResult is one target of the mcp run: closed-loop throughput and
// latency over conns concurrent callers.
type mcpResult struct {
	Target   string        `json:"target"` // proxy or mcp
	Conns    int           `json:"conns"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Requests int           `json:"requests"`
	// ServerCPU is grantd's CPU time per call (the load generator, the
	// SDK's client here, runs on the same cores).
	ServerCPU time.Duration `json:"serverCpu,omitempty"`
}

// benchMCP measures a call_datasource round trip over MCP (the SDK's own
// client, streamable HTTP, an API key with mcp) against the same call
// through the proxy with the same key, on the real grantd binary, the
// same upstream and token endpoint, interleaved round by round. wrk
// cannot speak MCP, so both sides use the same Go closed-loop driver.
func benchMCP(ctx context.Context, o options, r *report) error {
	fmt.Println("== MCP call_datasource vs the proxy")
	te, err := startTokenEndpoint(86400)
	if err != nil {
		return err
	}
	defer te.Close()
	up, err := startHelper(ctx, "serve-upstream")
	if err != nil {
		return err
	}
	defer up.Close()
	dir, err := os.MkdirTemp("", "grantd-bench-mcp")
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
	code, b, err := g.api("POST", "/api/v1/datasources", map[string]any{
		"name": "bench", "url": up.URL(),
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": te.URL(), "clientId": "bench",
			"clientSecret": "bench-secret", "clientAuthentication": "basic"},
	})
	if err != nil || code != 201 {
		return fmt.Errorf("creating the datasource: %d %s %v", code, b, err)
	}
	var ds struct{ ID string }
	json.Unmarshal(b, &ds)
	code, b, err = g.api("POST", "/api/v1/api-keys", map[string]any{"name": "bench", "permissions": []string{"proxy", "mcp"}})
	if err != nil || code != 201 {
		return fmt.Errorf("creating the API key: %d %s %v", code, b, err)
	}
	var key struct{ Key string }
	json.Unmarshal(b, &key)

	proxyURL := g.url + "/api/v1/datasources/" + ds.ID + "/proxy/v1/items"
	for _, c := range o.conns {
		transport := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
		client := &http.Client{Transport: bearerTransport{key.Key, transport}, Timeout: 10 * time.Second}
		sessions := make([]*sdk.ClientSession, c)
		for i := range sessions {
			cl := sdk.NewClient(&sdk.Implementation{Name: "grantd-bench", Version: "v0"}, nil)
			if sessions[i], err = cl.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: g.url + "/mcp", HTTPClient: client, MaxRetries: -1}, nil); err != nil {
				return fmt.Errorf("connecting to /mcp: %w", err)
			}
			defer sessions[i].Close()
		}
		targets := map[string]func(worker int) error{
			"proxy": func(int) error {
				req, _ := http.NewRequestWithContext(ctx, "GET", proxyURL, nil)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return errStatus(resp.StatusCode)
				}
				return nil
			},
			"mcp": func(w int) error {
				res, err := sessions[w].CallTool(ctx, &sdk.CallToolParams{Name: "call_datasource",
					Arguments: map[string]any{"datasource": "bench", "path": "/v1/items"}})
				if err != nil {
					return err
				}
				if res.IsError {
					return fmt.Errorf("tool error: %v", res.Content)
				}
				return nil
			},
		}
		order := []string{"proxy", "mcp"}
		for _, t := range order { // warm up
			if _, err := closedLoop(c, time.Second, targets[t]); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		pooled := map[string][]time.Duration{}
		var elapsed = map[string]time.Duration{}
		cpu := map[string]time.Duration{}
		for round := 0; round < o.rounds; round++ {
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				before, _ := readProc(g.cmd.Process.Pid)
				if o.cpuProfile != "" && t == "mcp" && c == 16 && round == 0 {
					go fetchProfile(o, max(int(o.duration/time.Second)-1, 1), o.cpuProfile+".mcp")
				}
				lat, err := closedLoop(c, o.duration, targets[t])
				if err != nil {
					return fmt.Errorf("%s at %d callers: %w", t, c, err)
				}
				after, _ := readProc(g.cmd.Process.Pid)
				cpu[t] += after.cpu - before.cpu
				fmt.Printf("  %-6s c=%-3d round %d: %8.0f req/s  p50 %-9v p99 %v\n", t, c, round+1,
					float64(len(lat))/o.duration.Seconds(), quantile(lat, 0.5), quantile(lat, 0.99))
				pooled[t] = append(pooled[t], lat...)
				elapsed[t] += o.duration
			}
		}
		res := map[string]mcpResult{}
		for _, t := range []string{"proxy", "mcp"} {
			lat := pooled[t]
			slices.Sort(lat)
			res[t] = mcpResult{Target: t, Conns: c, RPS: float64(len(lat)) / elapsed[t].Seconds(), P50: quantile(lat, 0.5), P99: quantile(lat, 0.99), Requests: len(lat)}
			if len(lat) > 0 {
				res[t] = mcpResult{Target: t, Conns: c, RPS: res[t].RPS, P50: res[t].P50, P99: res[t].P99, Requests: len(lat), ServerCPU: cpu[t] / time.Duration(len(lat))}
			}
			r.MCP = append(r.MCP, res[t])
		}
		fmt.Printf("  c=%-3d proxy %8.0f req/s p50 %-9v p99 %-9v | mcp %8.0f req/s p50 %-9v p99 %-9v | mcp/proxy throughput %.2f, p50 %.2f×; grantd CPU per call %v vs %v (%.1f×)\n",
			c, res["proxy"].RPS, res["proxy"].P50, res["proxy"].P99, res["mcp"].RPS, res["mcp"].P50, res["mcp"].P99,
			res["mcp"].RPS/res["proxy"].RPS, float64(res["mcp"].P50)/float64(res["proxy"].P50),
			res["mcp"].ServerCPU.Round(time.Microsecond), res["proxy"].ServerCPU.Round(time.Microsecond),
			float64(res["mcp"].ServerCPU)/float64(max(res["proxy"].ServerCPU, 1)))
	}
	return nil
}

// closedLoop runs conns workers calling do back to back for d and returns
// every call's latency, sorted, or the first error.
func closedLoop(conns int, d time.Duration, do func(worker int) error) ([]time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				start := time.Now()
				if err := do(w); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, firstErr
}

// bearerTransport adds an API key to every request.
type bearerTransport struct {
	key  string
	next http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(r)
}
