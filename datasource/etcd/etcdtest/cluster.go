// Package etcdtest runs a real etcd cluster in the test process: members
// of go.etcd.io/etcd/server/v3/embed on loopback, with real raft between
// them and their data in temporary directories.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// TB is the part of testing.TB the cluster uses, so that a benchmark
// program (cmd/grantd-bench) can run a cluster outside go test.
type TB interface {
	Helper()
	Fatal(args ...any)
	TempDir() string
	Cleanup(func())
}

// Cluster is an embedded etcd cluster. Members can be stopped and started
// again on the same data, to test quorum loss and restarts.
type Cluster struct {
	tb      TB
	mu      sync.Mutex // guards members
	members []*member
	token   string
}

type member struct {
	name, dir    string
	client, peer url.URL
	etcd         *embed.Etcd // nil while stopped
	started      bool        // has been started once (for ClusterState)
}

// Start starts an n-member cluster and waits until it has a leader. It is
// stopped when the test ends.
func Start(tb TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, token: fmt.Sprintf("grantd-test-%d", time.Now().UnixNano())}
	dir := tb.TempDir()
	for i := range n {
		c.members = append(c.members, &member{
			name:   fmt.Sprintf("m%d", i),
			dir:    filepath.Join(dir, fmt.Sprintf("m%d", i)),
			client: freeURL(tb),
			peer:   freeURL(tb),
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range c.members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.start(i) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.StopAll()
			tb.Fatal(err)
		}
	}
	tb.Cleanup(c.StopAll)
	return c
}

func freeURL(tb TB) url.URL {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return url.URL{Scheme: "http", Host: ln.Addr().String()}
}

func (c *Cluster) initialCluster() string {
	var parts []string
	for _, m := range c.members {
		parts = append(parts, m.name+"="+m.peer.String())
	}
	return strings.Join(parts, ",")
}

func (c *Cluster) start(i int) error {
	c.mu.Lock()
	m := c.members[i]
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{m.client}
	cfg.AdvertiseClientUrls = []url.URL{m.client}
	cfg.ListenPeerUrls = []url.URL{m.peer}
	cfg.AdvertisePeerUrls = []url.URL{m.peer}
	cfg.InitialCluster = c.initialCluster()
	cfg.InitialClusterToken = c.token
	if m.started {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.TickMs = 20
	cfg.ElectionMs = 200
	c.mu.Unlock()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcdtest: start %s: %w", m.name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return fmt.Errorf("etcdtest: %s not ready", m.name)
	}
	c.mu.Lock()
	m.etcd, m.started = e, true
	c.mu.Unlock()
	return nil
}

// Endpoints are the client URLs of every member, running or not.
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.members {
		out = append(out, m.client.String())
	}
	return out
}

// Stop stops member i (its data stays).
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	e := c.members[i].etcd
	c.members[i].etcd = nil
	c.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Restart starts member i again on its data. With fewer than a quorum of
// members running it returns before the cluster has a leader.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	done := make(chan error, 1)
	go func() { done <- c.start(i) }()
	select {
	case err := <-done:
		if err != nil {
			c.tb.Fatal(err)
		}
	case <-time.After(time.Second):
		// Waiting for peers to form a quorum; ReadyNotify fires later.
		go func() { <-done }()
	}
}

// StopAll stops every member.
func (c *Cluster) StopAll() {
	for i := range c.members {
		c.Stop(i)
	}
}

// RestartAll starts every member again on its data and waits for a leader.
func (c *Cluster) RestartAll() {
	c.tb.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(c.members))
	for i := range c.members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.start(i) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.tb.Fatal(err)
		}
	}
}
