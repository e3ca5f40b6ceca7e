package etcd

import (
	"context"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// Hung members.
//
// A member that hangs — SIGSTOP, a stuck disk, a half-open network — keeps
// its connections open and answers nothing. The client's balancer goes on
// sending it a share of every request, each of which waits for its
// deadline, until gRPC keepalive closes the connection; and gRPC does not
// ping more often than every 10 s. In a field trial one frozen member of
// three (quorum intact) made almost every refresh of every replica fail.
//
// So the client checks every member itself: a Status call each second on
// a connection of its own, answered within a second or the member is taken
// out of the endpoints the balancer uses (and the lock client's), until it
// answers again. A dead member costs the same, and is handled the same.

const (
	healthEvery   = time.Second
	healthTimeout = time.Second
	memberSync    = time.Minute // how often the member list is read again
)

// health keeps the endpoints of the client (and of clients that follow it)
// to the members that answer.
type health struct {
	c      *Client
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	all       []string                    // every member's client URL
	conns     map[string]*grpc.ClientConn // the check's own connection per member
	healthy   []string                    // what the clients use now
	followers []*clientv3.Client          // lock clients (see Locker)
}

func (c *Client) startHealth(endpoints []string) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &health{c: c, cancel: cancel, done: make(chan struct{}), all: slices.Clone(endpoints),
		conns: map[string]*grpc.ClientConn{}, healthy: slices.Clone(endpoints)}
	c.health = h
	go h.run(ctx)
}

func (h *health) stop() {
	h.cancel()
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, cc := range h.conns {
		cc.Close()
	}
}

// endpoints returns the endpoints in use now.
func (h *health) endpoints() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.healthy)
}

// follow makes cl use the endpoints the checks choose, until unfollow.
func (h *health) follow(cl *clientv3.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.followers = append(h.followers, cl)
}

func (h *health) unfollow(cl *clientv3.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.followers = slices.DeleteFunc(h.followers, func(f *clientv3.Client) bool { return f == cl })
}

func (h *health) run(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	lastSync := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastSync) > memberSync {
			lastSync = time.Now()
			h.syncMembers(ctx)
		}
		h.check(ctx)
	}
}

// syncMembers reads the member list, so members added later are used.
func (h *health) syncMembers(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, h.c.opTO)
	defer cancel()
	resp, err := h.c.c.MemberList(ctx)
	if err != nil {
		return
	}
	var eps []string
	for _, m := range resp.Members {
		eps = append(eps, m.ClientURLs...)
	}
	if len(eps) == 0 {
		return
	}
	h.mu.Lock()
	h.all = eps
	h.mu.Unlock()
}

// check asks every member for its status at once and uses those that
// answered. When none answers (the client's own network is down) the
// endpoints are left as they are: there is nothing better to choose.
func (h *health) check(ctx context.Context) {
	h.mu.Lock()
	all := slices.Clone(h.all)
	h.mu.Unlock()
	ok := make([]bool, len(all))
	var wg sync.WaitGroup
	for i, ep := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = h.answers(ctx, ep)
		}()
	}
	wg.Wait()
	var healthy []string
	for i, ep := range all {
		if ok[i] {
			healthy = append(healthy, ep)
		}
	}
	if len(healthy) == 0 || ctx.Err() != nil {
		return
	}
	h.mu.Lock()
	if slices.Equal(healthy, h.healthy) {
		h.mu.Unlock()
		return
	}
	was := h.healthy
	h.healthy = healthy
	followers := slices.Clone(h.followers)
	h.mu.Unlock()
	for _, ep := range all {
		switch in, wasIn := slices.Contains(healthy, ep), slices.Contains(was, ep); {
		case wasIn && !in:
			h.c.log.Warn("etcd member not answering; requests go to the others until it does", "endpoint", ep)
		case in && !wasIn:
			h.c.log.Info("etcd member answers again", "endpoint", ep)
		}
	}
	h.c.c.SetEndpoints(healthy...)
	for _, f := range followers {
		f.SetEndpoints(healthy...)
	}
}

// answers reports whether the member at ep answers a Status call within
// healthTimeout.
func (h *health) answers(ctx context.Context, ep string) bool {
	h.mu.Lock()
	cc := h.conns[ep]
	h.mu.Unlock()
	if cc == nil {
		var err error
		if cc, err = h.c.c.Dial(ep); err != nil {
			return false
		}
		h.mu.Lock()
		h.conns[ep] = cc
		h.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	st, err := pb.NewMaintenanceClient(cc).Status(ctx, &pb.StatusRequest{})
	// A member that answers but has no leader (it just rejoined and is
	// campaigning, or it is cut off from the others) or is far behind
	// would hold reads and forward writes into nothing: not yet.
	return err == nil && st.Leader != 0 && len(st.Errors) == 0 && !st.IsLearner &&
		st.RaftIndex-min(st.RaftAppliedIndex, st.RaftIndex) < maxApplyLag
}

// maxApplyLag is how many raft entries a member may have committed but
// not applied and still be used.
const maxApplyLag = 5000
