// Package etcdproc runs an etcd cluster as real etcd server processes on
// loopback, for tests that inject the faults an operator meets in
// production: a member frozen with SIGSTOP (alive to the kernel, its TCP
// connections open, answering nothing), a member killed with SIGKILL, a
// quorum lost for longer than a lease. The in-process cluster of
// etcdtest cannot do that: its members share the test's process, so they
// can be closed but not frozen or killed.
//
// The binary is $ETCD_BIN, else etcd on PATH (Debian: apt-get install
// etcd-server). Without it Start fails the test with that advice, except
// under go test -short, where it skips. Each member has its own data
// directory (under the test's TempDir), client and peer ports on
// 127.0.0.1, and a fast heartbeat (100 ms) and election timeout (1 s) so
// that elections fit in a test. Its output goes to member-<i>.log in the
// cluster's directory (Dir), not to the test log.
package etcdproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TB is the part of testing.TB the cluster uses, so that a benchmark
// program can run a cluster outside go test.
type TB interface {
	Helper()
	Fatal(args ...any)
	TempDir() string
	Cleanup(func())
}

// Heartbeat and election timeout every member runs with.
const (
	HeartbeatInterval = 100 * time.Millisecond
	ElectionTimeout   = time.Second
)

// Cluster is an etcd cluster of server processes.
type Cluster struct {
	tb    TB
	bin   string
	dir   string
	token string

	mu      sync.Mutex // guards members' process state
	members []*member
}

type member struct {
	name, dir    string
	client, peer string // host:port
	log          string // the member's output file
	cmd          *exec.Cmd
	done         chan struct{} // closed when cmd has exited
	started      bool          // started once: restarts join an existing cluster
	frozen       bool
}

// Binary returns the etcd binary the cluster would run: $ETCD_BIN, else
// etcd on PATH.
func Binary() (string, error) {
	if b := os.Getenv("ETCD_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("ETCD_BIN=%s: %w", b, err)
		}
		return b, nil
	}
	return exec.LookPath("etcd")
}

// Start starts an n-member cluster and waits until it has a leader. Every
// member is killed when the test ends.
func Start(tb TB, n int) *Cluster {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if testing.Testing() && testing.Short() {
			if s, ok := tb.(interface{ Skip(...any) }); ok {
				s.Skip("etcdproc: no etcd server binary (-short): ", err)
			}
		}
		tb.Fatal("etcdproc: no etcd server binary: install Debian's etcd-server (apt-get install etcd-server) or set ETCD_BIN: ", err)
	}
	c := &Cluster{tb: tb, bin: bin, dir: tb.TempDir(), token: fmt.Sprintf("grantd-etcdproc-%d", time.Now().UnixNano())}
	for i := range n {
		c.members = append(c.members, &member{
			name:   fmt.Sprintf("m%d", i),
			dir:    filepath.Join(c.dir, fmt.Sprintf("m%d", i)),
			client: freeAddr(tb),
			peer:   freeAddr(tb),
			log:    filepath.Join(c.dir, fmt.Sprintf("member-%d.log", i)),
		})
	}
	tb.Cleanup(c.killAll)
	for i := range c.members {
		if err := c.start(i); err != nil {
			tb.Fatal(err)
		}
	}
	if err := c.WaitLeader(30 * time.Second); err != nil {
		tb.Fatal(err)
	}
	return c
}

func freeAddr(tb TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Dir is the cluster's directory: member data dirs and member-<i>.log.
func (c *Cluster) Dir() string { return c.dir }

// Len is the number of members.
func (c *Cluster) Len() int { return len(c.members) }

func (c *Cluster) initialCluster() string {
	var parts []string
	for _, m := range c.members {
		parts = append(parts, m.name+"=http://"+m.peer)
	}
	return strings.Join(parts, ",")
}

// start runs member i's process; it does not wait for it to serve.
func (c *Cluster) start(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[i]
	if m.cmd != nil {
		return fmt.Errorf("etcdproc: %s is running", m.name)
	}
	state := "new"
	if m.started {
		state = "existing"
	}
	out, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n=== etcdproc: starting %s (%s) at %s\n", m.name, state, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin,
		"--name", m.name,
		"--data-dir", m.dir,
		"--listen-client-urls", "http://"+m.client,
		"--advertise-client-urls", "http://"+m.client,
		"--listen-peer-urls", "http://"+m.peer,
		"--initial-advertise-peer-urls", "http://"+m.peer,
		"--initial-cluster", c.initialCluster(),
		"--initial-cluster-token", c.token,
		"--initial-cluster-state", state,
		"--heartbeat-interval", fmt.Sprint(HeartbeatInterval.Milliseconds()),
		"--election-timeout", fmt.Sprint(ElectionTimeout.Milliseconds()),
		"--logger", "zap",
		// As etcd 3.5 and later do by default: without pre-vote a member
		// that rejoins (thawed, restarted) campaigns at once and deposes
		// a healthy leader, a second or more without writes.
		"--pre-vote",
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("etcdproc: start %s: %w", m.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		out.Close()
		close(done)
	}()
	m.cmd, m.done, m.started, m.frozen = cmd, done, true, false
	return nil
}

// Endpoints are the client URLs of every member, running or not.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, "http://"+m.client)
	}
	return out
}

// Pid is the process id of member i, 0 when it is not running.
func (c *Cluster) Pid(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[i]; m.cmd != nil {
		return m.cmd.Process.Pid
	}
	return 0
}

// take detaches member i's process from the cluster state.
func (c *Cluster) take(i int) (*exec.Cmd, chan struct{}, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[i]
	cmd, done, frozen := m.cmd, m.done, m.frozen
	m.cmd, m.done, m.frozen = nil, nil, false
	return cmd, done, frozen
}

// Stop stops member i with SIGTERM and waits for it to exit (SIGKILL after
// 10 s). Its data stays for Restart.
func (c *Cluster) Stop(i int) {
	c.tb.Helper()
	cmd, done, frozen := c.take(i)
	if cmd == nil {
		return
	}
	if frozen {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Kill kills member i with SIGKILL, as a crash or the OOM killer would,
// and waits for it to exit.
func (c *Cluster) Kill(i int) {
	cmd, done, _ := c.take(i)
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Freeze stops member i with SIGSTOP: its sockets stay open and nothing
// answers, as with a process stuck in a long GC pause, a full disk's fsync
// or a VM paused by its hypervisor.
func (c *Cluster) Freeze(i int) {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[i]
	if m.cmd == nil {
		c.tb.Fatal("etcdproc: freeze ", m.name, ": not running")
	}
	m.cmd.Process.Signal(syscall.SIGSTOP)
	m.frozen = true
}

// Thaw resumes a member frozen with Freeze (SIGCONT).
func (c *Cluster) Thaw(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[i]
	if m.cmd != nil && m.frozen {
		m.cmd.Process.Signal(syscall.SIGCONT)
		m.frozen = false
	}
}

// Restart starts member i again on its data (--initial-cluster-state
// existing) and waits until its client port accepts connections. It does
// not wait for a leader: without a quorum there is none. See WaitLeader.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	if err := c.start(i); err != nil {
		c.tb.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", c.members[i].client, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		c.mu.Lock()
		done := c.members[i].done
		c.mu.Unlock()
		select {
		case <-done:
			c.tb.Fatal("etcdproc: ", c.members[i].name, " exited on restart; see ", c.members[i].log)
		default:
		}
		if time.Now().After(deadline) {
			c.tb.Fatal("etcdproc: ", c.members[i].name, " does not listen after a restart; see ", c.members[i].log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitLeader waits until a running member reports a leader, at most d.
func (c *Cluster) WaitLeader(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if c.Leader() >= 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcdproc: no leader after %v; member logs in %s", d, c.dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Leader is the index of the member that is leader, as the running,
// unfrozen members report it (clientv3 Status), or -1 when none knows of
// one. A leader that was killed or frozen, which the others still name
// until their election timeout, does not count.
func (c *Cluster) Leader() int {
	c.mu.Lock()
	var eps []string
	for _, m := range c.members {
		if m.cmd != nil && !m.frozen {
			eps = append(eps, "http://"+m.client)
		}
	}
	c.mu.Unlock()
	if len(eps) == 0 {
		return -1
	}
	cl, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return -1
	}
	defer cl.Close()
	for _, ep := range eps {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		st, err := cl.Status(ctx, ep)
		cancel()
		if err != nil || st.Leader == 0 {
			continue
		}
		if i := c.memberIndex(cl, st.Leader); i >= 0 && c.serving(i) {
			return i
		}
	}
	return -1
}

func (c *Cluster) serving(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].cmd != nil && !c.members[i].frozen
}

// memberIndex maps an etcd member id to the member's index by its client
// URL in the member list.
func (c *Cluster) memberIndex(cl *clientv3.Client, id uint64) int {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	list, err := cl.MemberList(ctx)
	if err != nil {
		return -1
	}
	for _, mm := range list.Members {
		if mm.ID != id {
			continue
		}
		for i, m := range c.members {
			if mm.Name == m.name {
				return i
			}
		}
	}
	return -1
}

// killAll kills every running member (frozen ones too).
func (c *Cluster) killAll() {
	for i := range c.members {
		c.Kill(i)
	}
}
