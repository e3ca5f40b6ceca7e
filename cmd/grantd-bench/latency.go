package main

import (
	"context"
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
// measures what a caller sees at a moderate load.
func fixedRate(ctx context.Context, url string, conns int, rate float64, d time.Duration) (p50, p99 time.Duration, n int, err error) {
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
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+benchAdminToken)
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 && firstErr == nil {
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
	if len(lat) == 0 {
		return 0, 0, 0, firstErr
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], len(lat), firstErr
}

type errStatus int

func (e errStatus) Error() string { return "HTTP " + http.StatusText(int(e)) }
