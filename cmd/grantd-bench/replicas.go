package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource/etcd"
	"github.com/grantd/grantd/datasource/etcd/etcdtest"
)

// replicasResult is the run of three grantd replicas on a three-member
// etcd cluster sharing one per-user datasource's connections.
type replicasResult struct {
	Connections int             `json:"connections"`
	Replicas    int             `json:"replicas"`
	Populate    time.Duration   `json:"populate"`
	Ready       []time.Duration `json:"ready"` // exec to /readyz, per replica
	// Refresh is the whole wave: every connection's token refreshed once,
	// across the replicas, one replica killed a third of the way in.
	Refresh         time.Duration `json:"refresh"`
	RefreshRate     float64       `json:"refreshRate"`
	RefreshTimeline []fillSample  `json:"refreshTimeline,omitempty"`
	// RateBeforeKill is the rate over the first third, all replicas up.
	RateBeforeKill float64 `json:"rateBeforeKill"`
	// Answered is the token requests the endpoint answered; Distinct the
	// connections they were for. Answered/Distinct is the token requests
	// per refresh: 1 when no two replicas refreshed the same connection.
	Answered int64 `json:"answered"`
	Distinct int   `json:"distinct"`
	// Orphaned are the refreshes the killed replica had in flight (its
	// token requests were cut off with it, holding their etcd locks).
	// Failover is kill -9 to the last of them answered for a survivor.
	Orphaned int           `json:"orphaned"`
	Failover time.Duration `json:"failover"`
	// TakenOver is kill -9 to each of them answered for a survivor,
	// shortest first.
	TakenOver []time.Duration `json:"takenOver,omitempty"`
	LockTTL   time.Duration   `json:"lockTtl"`
}

// benchTB lets etcdtest run a cluster outside go test.
type benchTB struct {
	dir      string
	n        int
	cleanups []func()
}

func (b *benchTB) Helper()           {}
func (b *benchTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (b *benchTB) Cleanup(f func())  { b.cleanups = append(b.cleanups, f) }
func (b *benchTB) TempDir() string {
	b.n++
	d := fmt.Sprintf("%s/%d", b.dir, b.n)
	if err := os.MkdirAll(d, 0o700); err != nil {
		panic(err)
	}
	return d
}
func (b *benchTB) close() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

// gatedEndpoint is a token endpoint on net/http (which notices a client
// that went away while its request waits) that can hold every request at
// a gate, and remembers which refresh token each answer was for.
type gatedEndpoint struct {
	srv      *http.Server
	ln       net.Listener
	answered atomic.Int64
	held     atomic.Int64

	mu       sync.Mutex
	gate     chan struct{} // nil: open
	seen     map[string]struct{}
	orphans  map[string]time.Time // refresh token → answered for a survivor at (zero: not yet)
	killedAt time.Time
	first    time.Time // the first answer: the wave's start
}

func startGatedEndpoint() (*gatedEndpoint, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &gatedEndpoint{ln: ln, seen: map[string]struct{}{}, orphans: map[string]time.Time{}}
	e.srv = &http.Server{Handler: e}
	go e.srv.Serve(ln)
	return e, nil
}

func (e *gatedEndpoint) URL() string { return "http://" + e.ln.Addr().String() + "/oauth2/token" }
func (e *gatedEndpoint) Close()      { e.srv.Close() }

func (e *gatedEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	rt := r.PostForm.Get("refresh_token")
	e.mu.Lock()
	gate := e.gate
	e.mu.Unlock()
	if gate != nil {
		e.held.Add(1)
		select {
		case <-gate:
			e.held.Add(-1)
		case <-r.Context().Done():
			// The replica that asked is gone: this refresh is orphaned.
			e.held.Add(-1)
			e.mu.Lock()
			e.orphans[rt] = time.Time{}
			e.mu.Unlock()
			return
		}
	}
	e.answered.Add(1)
	e.mu.Lock()
	if e.first.IsZero() {
		e.first = time.Now()
	}
	e.seen[rt] = struct{}{}
	if at, ok := e.orphans[rt]; ok && at.IsZero() {
		e.orphans[rt] = time.Now()
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"%s","token_type":"Bearer","expires_in":3600}`, randHex())
}

func (e *gatedEndpoint) distinct() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.seen)
}

// benchReplicas runs the replicas measurement once per count.
func benchReplicas(ctx context.Context, o options, r *report) error {
	for _, n := range o.replicaConns {
		res, err := replicasOnce(ctx, o, n)
		if err != nil {
			return err
		}
		r.Replicas = append(r.Replicas, res)
	}
	return nil
}

// replicasOnce stores one per-user datasource with n connections, every
// token due, in a three-member etcd cluster (embedded, real raft, fsync
// on), starts three grantd binaries on it and measures the refresh wave
// they share: its rate, token requests per refresh, and the failover
// when one replica is killed with refreshes in flight.
func replicasOnce(ctx context.Context, o options, n int) (res replicasResult, err error) {
	const replicas = 3
	fmt.Printf("== replicas: %d per-user connections, %d grantd on a %d-member etcd cluster\n", n, replicas, replicas)
	res = replicasResult{Connections: n, Replicas: replicas, LockTTL: o.lockTTL}
	dir, err := os.MkdirTemp("", "grantd-bench-replicas")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	tb := &benchTB{dir: dir}
	defer tb.close()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("etcd cluster: %v", p)
		}
	}()
	cluster := etcdtest.Start(tb, replicas)
	endpoints := strings.Join(cluster.Endpoints(), ",")
	te, err := startGatedEndpoint()
	if err != nil {
		return res, err
	}
	defer te.Close()

	kek := crypto.GenerateMasterKey()
	start := time.Now()
	cl, err := etcd.Dial(etcd.Options{Endpoints: cluster.Endpoints()})
	if err != nil {
		return res, err
	}
	defer cl.Close()
	keys, _, err := crypto.LoadOrCreateKeyset(cl.Keyset(), kek)
	if err != nil {
		return res, err
	}
	store, err := cl.Open(keys, nil)
	if err != nil {
		return res, err
	}
	if _, err := populatePerUser(ctx, store, te.URL(), n, 256); err != nil {
		return res, err
	}
	res.Populate = time.Since(start)
	fmt.Printf("  populated in %v\n", res.Populate.Round(time.Millisecond))

	// Three replicas, started together as a deployment would.
	var wg sync.WaitGroup
	procs := make([]*grantdProc, replicas)
	startErrs := make([]error, replicas)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i], startErrs[i] = startGrantd(ctx, o, tb.TempDir(), kek.Encode(),
				"--store", "etcd", "--etcd-endpoints", endpoints, "--lock-ttl", o.lockTTL.String())
		}()
	}
	wg.Wait()
	defer func() {
		for _, p := range procs {
			if p != nil && p.cmd.ProcessState == nil {
				p.stop()
			}
		}
	}()
	waveStart := time.Now()
	for _, err := range startErrs {
		if err != nil {
			return res, err
		}
	}
	for _, p := range procs {
		res.Ready = append(res.Ready, p.ready)
	}
	fmt.Printf("  ready in %v\n", res.Ready)

	// The wave; a third of the way in, every token request is held at the
	// gate, replica 0 is killed with its refreshes in flight, the gate opens.
	res.RefreshTimeline = []fillSample{{}}
	killed := false
	for {
		done := te.distinct()
		t := time.Since(waveStart)
		if last := res.RefreshTimeline[len(res.RefreshTimeline)-1]; done >= n || t-last.T >= fillSampleEvery {
			res.RefreshTimeline = append(res.RefreshTimeline, fillSample{T: t, Authorized: done})
		}
		if done >= n {
			break
		}
		if !killed && done >= n/3 {
			killed = true
			// From the first answer: the first replica ready starts
			// refreshing before the last one is.
			te.mu.Lock()
			since := time.Since(te.first)
			te.mu.Unlock()
			res.RateBeforeKill = float64(done) / since.Seconds()
			if err := killWithRefreshesInFlight(te, procs[0]); err != nil {
				return res, err
			}
		}
		if t > 15*time.Minute {
			return res, fmt.Errorf("only %d of %d refreshed after 15 minutes", done, n)
		}
		time.Sleep(20 * time.Millisecond) // benchmark polling, not a test
	}
	te.mu.Lock()
	if te.first.Before(waveStart) {
		waveStart = te.first
	}
	te.mu.Unlock()
	res.Refresh = time.Since(waveStart)
	res.RefreshRate = float64(n) / res.Refresh.Seconds()
	te.mu.Lock()
	res.Answered, res.Distinct, res.Orphaned = te.answered.Load(), len(te.seen), len(te.orphans)
	for _, at := range te.orphans {
		res.TakenOver = append(res.TakenOver, at.Sub(te.killedAt))
	}
	te.mu.Unlock()
	slices.Sort(res.TakenOver)
	if len(res.TakenOver) > 0 {
		res.Failover = res.TakenOver[len(res.TakenOver)-1]
	}
	fmt.Printf("  %d connections refreshed in %v: %.0f/s (%.0f/s before the kill); %d token requests answered for %d connections\n",
		n, res.Refresh.Round(time.Millisecond), res.RefreshRate, res.RateBeforeKill, res.Answered, res.Distinct)
	fmt.Printf("  replica killed with %d refreshes in flight; the last taken over %v later (lock TTL %v)\n",
		res.Orphaned, res.Failover.Round(time.Millisecond), o.lockTTL)
	if n := len(res.TakenOver); n > 0 {
		fmt.Printf("  taken over after: first %v, median %v, 90th %v, last %v\n", res.TakenOver[0].Round(time.Millisecond),
			res.TakenOver[n/2].Round(time.Millisecond), res.TakenOver[n*9/10].Round(time.Millisecond), res.TakenOver[n-1].Round(time.Millisecond))
	}
	return res, nil
}

// killWithRefreshesInFlight holds every token request at the gate until
// the number held stops growing (each replica's workers are all waiting),
// kills p with SIGKILL, waits until the endpoint has seen p's requests
// cut off, and opens the gate.
func killWithRefreshesInFlight(te *gatedEndpoint, p *grantdProc) error {
	gate := make(chan struct{})
	te.mu.Lock()
	te.gate = gate
	te.mu.Unlock()
	stable := func(f func() int64) {
		last, since := f(), time.Now()
		for time.Since(since) < 300*time.Millisecond {
			time.Sleep(10 * time.Millisecond) // benchmark polling, not a test
			if v := f(); v != last {
				last, since = v, time.Now()
			}
		}
	}
	stable(te.held.Load)
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	te.mu.Lock()
	te.killedAt = time.Now()
	te.mu.Unlock()
	p.cmd.Wait()
	stable(func() int64 {
		te.mu.Lock()
		defer te.mu.Unlock()
		return int64(len(te.orphans))
	})
	te.mu.Lock()
	te.gate = nil
	te.mu.Unlock()
	close(gate)
	return nil
}
