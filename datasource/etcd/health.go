package etcd

import (
	"context"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
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
// out of the endpoints the balancer uses, until it
// answers again. A dead member costs the same, and is handled the same.

const (
	healthEvery   = time.Second
	healthTimeout = time.Second
	memberSync    = time.Minute // how often the member list is read again
)

// health keeps the endpoints of the client to the members that answer.
type health struct {
	c      *Client
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	all     []string                    // every member's client URL
	conns   map[string]*grpc.ClientConn // the check's own connection per member
	healthy []string                    // what the client uses now
	streak  map[string]int              // good answers in a row, per member
}

func (c *Client) startHealth(endpoints []string) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &health{c: c, cancel: cancel, done: make(chan struct{}), all: slices.Clone(endpoints),
		conns: map[string]*grpc.ClientConn{}, healthy: slices.Clone(endpoints), streak: map[string]int{}}
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
// answered well: a member out of use is taken back after answering well
// rejoinAfter times in a row (one just restarted answers before its
// connections to the others are up, and requests through it time out).
// When none answers (the client's own network is down) the endpoints are
// left as they are: there is nothing better to choose.
func (h *health) check(ctx context.Context) {
	h.mu.Lock()
	all := slices.Clone(h.all)
	h.mu.Unlock()
	sts := make([]*pb.StatusResponse, len(all))
	var wg sync.WaitGroup
	for i, ep := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sts[i] = h.status(ctx, ep)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	// The furthest a member has got: a member far behind it would hold
	// reads until it catches up.
	var newest uint64
	for _, st := range sts {
		if st != nil {
			newest = max(newest, st.RaftIndex)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var healthy []string
	for i, ep := range all {
		st := sts[i]
		good := st != nil && st.Leader != 0 && len(st.Errors) == 0 && !st.IsLearner &&
			newest-min(st.RaftAppliedIndex, newest) <= maxApplyLag
		if !good {
			h.streak[ep] = 0
			continue
		}
		h.streak[ep]++
		if slices.Contains(h.healthy, ep) || h.streak[ep] >= rejoinAfter {
			healthy = append(healthy, ep)
		}
	}
	if len(healthy) == 0 || slices.Equal(healthy, h.healthy) {
		return
	}
	was := h.healthy
	h.healthy = healthy
	for _, ep := range all {
		switch in, wasIn := slices.Contains(healthy, ep), slices.Contains(was, ep); {
		case wasIn && !in:
			h.c.log.Warn("etcd member not answering; requests go to the others until it does", "endpoint", ep)
		case in && !wasIn:
			h.c.log.Info("etcd member answers again", "endpoint", ep)
		}
	}
	h.c.c.SetEndpoints(healthy...)
}

// status asks the member at ep for its status, nil when it does not
// answer within healthTimeout.
func (h *health) status(ctx context.Context, ep string) *pb.StatusResponse {
	h.mu.Lock()
	cc := h.conns[ep]
	h.mu.Unlock()
	if cc == nil {
		var err error
		if cc, err = h.c.c.Dial(ep); err != nil {
			return nil
		}
		h.mu.Lock()
		h.conns[ep] = cc
		h.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	st, err := pb.NewMaintenanceClient(cc).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil
	}
	// A linearizable read through the member: it answers only when the
	// member can reach the leader and has caught up (a member just
	// restarted says it knows a leader while its requests still time out).
	if _, err := pb.NewKVClient(cc).Range(ctx, &pb.RangeRequest{Key: []byte(h.c.prefix + "meta/health")}); err != nil {
		return nil
	}
	return st
}

// rejoinAfter is how many good answers in a row bring a member back.
const rejoinAfter = 3

// maxApplyLag is how many raft entries a member may be behind the
// furthest one and still be used.
const maxApplyLag = 1000
