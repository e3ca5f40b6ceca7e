package grants_test

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// TestProviderOutage: 40 client-credentials datasources with one-hour
// tokens; the token endpoint fails for 30 minutes from the moment their
// refreshes are due — with 503 and Retry-After, with a bare 503, or by
// hanging. While tokens are valid, callers keep getting them; refresh
// attempts per datasource stay bounded; first retries are spread out;
// after recovery every token is fresh again within MaxBackoff (5 min) plus
// jitter. Time is the fake clock's: 30 minutes pass in a few seconds.
func TestProviderOutage(t *testing.T) {
	for _, mode := range []string{"503 Retry-After 120", "503", "hang"} {
		t.Run(mode, func(t *testing.T) { outage(t, mode) })
	}
}

func outage(t *testing.T, mode string) {
	const n = 40
	te := newTokenEndpoint(t)
	var mu sync.Mutex
	attempts := map[string]int{} // client id → failed attempts
	down := false
	release := make(chan struct{})
	var clock interface{ Now() time.Time }
	te.set(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		isDown, now := down, clock.Now()
		client := r.PostForm.Get("client_id")
		if isDown {
			attempts[client]++
		}
		mu.Unlock()
		switch {
		case !isDown:
			jsonAnswer(200, `{"access_token":"tok-`+client+fmt.Sprint(now.UnixNano())+`","token_type":"Bearer","expires_in":3600}`)(w, r)
		case mode == "hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case mode == "503":
			jsonAnswer(503, `{"error":"temporarily_unavailable"}`)(w, r)
		default:
			jsonAnswer(503, `{"error":"temporarily_unavailable"}`, "Retry-After", "120")(w, r)
		}
	})
	defer close(release)
	// The timeout ends hanging attempts (real time); it is long enough that
	// a loaded machine does not turn answered requests into timeouts.
	f := newFixture(t, fixtureOptions{engine: grants.Options{TokenTimeout: 300 * time.Millisecond}})
	clock = f.clock
	var ids []string
	for i := range n {
		d := te.datasource()
		d.Auth.ClientID = fmt.Sprint("c", i)
		ids = append(ids, f.create(d).ID)
	}
	expiry := f.record(ids[0]).Expiry

	// settle waits until the refresher has nothing due: every datasource
	// is planned in the future (an item being worked on is not planned).
	settle := func() {
		f.waitFor("the refresher to settle", func() bool {
			now := f.clock.Now()
			for _, id := range ids {
				if at, ok := f.engine.Planned(id); !ok || !at.After(now) {
					return false
				}
			}
			return true
		})
	}
	settle()
	// The outage starts 8 minutes before expiry, before any refresh is due.
	f.clock.Set(expiry.Add(-8 * time.Minute))
	mu.Lock()
	down = true
	mu.Unlock()
	outageStart := f.clock.Now()
	served := 0
	// When each datasource will first ask (and fail): its jittered plan.
	var first []time.Time
	for _, id := range ids {
		at, _ := f.engine.Planned(id)
		first = append(first, at)
	}
	for f.clock.Now().Before(outageStart.Add(30 * time.Minute)) {
		f.clock.Advance(20 * time.Second)
		settle()
		// Callers: while the token is valid they get it, without a request.
		if f.clock.Now().Before(expiry.Add(-10 * time.Second)) {
			for _, id := range ids[:5] {
				if _, err := f.engine.Token(ctx, datasource.SharedKey(id)); err != nil {
					t.Fatalf("at +%v: Token of a still-valid token: %v", f.clock.Now().Sub(outageStart), err)
				}
				served++
			}
		}
	}
	mu.Lock()
	maxAttempts, total := 0, 0
	for _, a := range attempts {
		total += a
		maxAttempts = max(maxAttempts, a)
	}
	mu.Unlock()
	sort.Slice(first, func(i, j int) bool { return first[i].Before(first[j]) })
	spread := first[len(first)-1].Sub(first[0])
	seconds := map[int64]int{}
	for _, ft := range first {
		seconds[ft.Unix()]++
	}
	burst := 0
	for _, c := range seconds {
		burst = max(burst, c)
	}

	// Recovery.
	mu.Lock()
	down = false
	mu.Unlock()
	recovered := f.clock.Now()
	var lastFresh time.Time
	for {
		f.clock.Advance(20 * time.Second)
		settle()
		fresh := 0
		for _, id := range ids {
			if r := f.record(id); r.Status == datasource.StatusAuthorized && r.Expiry.After(f.clock.Now()) {
				fresh++
			}
		}
		if fresh == n {
			lastFresh = f.clock.Now()
			break
		}
		if f.clock.Now().Sub(recovered) > time.Hour {
			t.Fatalf("only %d of %d fresh an hour after recovery", fresh, n)
		}
	}
	took := lastFresh.Sub(recovered)
	t.Logf("%s: %d datasources, 30 min outage: %d failed attempts in all, at most %d per datasource; first attempts spread over %v by the jittered plans (at most %d in one second); %d calls served from valid tokens; all fresh %v after recovery",
		mode, n, total, maxAttempts, spread.Round(time.Second), burst, served, took)
	// Bounds: backoff doubles from 2 s to 5 min, so 30 minutes hold at most
	// ~15 attempts (10 with Retry-After 120 s).
	if maxAttempts > 16 {
		t.Errorf("%d attempts for one datasource in 30 minutes", maxAttempts)
	}
	if took > 5*time.Minute+40*time.Second {
		t.Errorf("recovery took %v, want within MaxBackoff (5m) plus a step", took)
	}
	if burst > n/4 {
		t.Errorf("%d of %d datasources planned their first attempt for the same second", burst, n)
	}
}
