package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// fixedRate measures latency at a fixed request rate over conns
// connections (open loop: each request is timed from when it was due,
// not from when it was sent, so a stall is not hidden by the requests it
// delayed). wrk measures at saturation, where p99 is queueing; this
// measures what a caller sees at a moderate load. It returns every
// request's latency, sorted, and the first error or non-200 answer.
func fixedRate(ctx context.Context, t target, conns int, rate float64, d time.Duration) ([]time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	interval := time.Duration(float64(time.Second) * float64(conns) / rate)
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger the connections evenly over one interval.
			due := start.Add(interval * time.Duration(c) / time.Duration(conns))
			for due.Before(start.Add(d)) {
				if w := time.Until(due); w > 0 {
					time.Sleep(w)
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", t.url, nil)
				for _, h := range t.headers {
					req.Header.Set(h[0], h[1])
				}
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = errStatus(resp.StatusCode)
					}
				}
				took := time.Since(due)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lat = append(lat, took)
				mu.Unlock()
				due = due.Add(interval)
			}
		}()
	}
	wg.Wait()
	if len(lat) == 0 && firstErr == nil {
		firstErr = fmt.Errorf("no request was due in %v", d)
	}
	slices.Sort(lat)
	return lat, firstErr
}

// quantile returns the q-quantile of sorted latencies (q in [0, 1]), the
// sample at rank ⌊q·n⌋ (the last for q = 1), or 0 when there are none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

// distributionQuantiles are the points of the latency distribution kept in
// the JSON: enough for a percentile plot up to p99.99 with no need to keep
// every sample.
var distributionQuantiles = []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.965, 0.975,
	0.98, 0.99, 0.993, 0.995, 0.997, 0.998, 0.999, 0.9995, 0.9999, 1}

// latencyDistribution is one target's latency at a fixed rate, every round
// pooled.
type latencyDistribution struct {
	Target      string       `json:"target"`
	Rate        float64      `json:"rate"`
	Conns       int          `json:"conns"`
	Samples     int          `json:"samples"`
	Percentiles []percentile `json:"percentiles"`
}

// percentile is the latency below which a fraction Q of the requests
// finished (Q = 1 is the slowest).
type percentile struct {
	Q       float64       `json:"q"`
	Latency time.Duration `json:"latency"`
}

func newLatencyDistribution(target string, rate float64, conns int, lat []time.Duration) latencyDistribution {
	slices.Sort(lat)
	ld := latencyDistribution{Target: target, Rate: rate, Conns: conns, Samples: len(lat)}
	for _, q := range distributionQuantiles {
		ld.Percentiles = append(ld.Percentiles, percentile{Q: q, Latency: quantile(lat, q)})
	}
	return ld
}

type errStatus int

func (e errStatus) Error() string { return "HTTP " + http.StatusText(int(e)) }
