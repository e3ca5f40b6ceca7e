package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/grantd/grantd/datasource"
)

// Locker is a grants.Locker on etcd: a per-datasource mutex held with a
// session lease. A replica that dies holding a lock loses it when its
// lease expires, after at most TTL, and another replica takes over.
//
// Four things real clusters do shape it:
//
//   - A lease lost in an outage longer than the TTL is lost for good:
//     every lock under it fails with "requested lease not found". The
//     next Lock (or Err, which readiness calls) replaces it.
//   - etcd's mutex is per lease, and one process has one lease: two
//     goroutines of the same process locking the same id would both "hold"
//     it, and the first to unlock would release it to other replicas while
//     the second is still inside. So every id also has an in-process lock,
//     taken first: one holder per id per process, one per cluster.
//   - The client keeps leases alive on one long gRPC stream; when the
//     member at its other end hangs, the stream hangs with it and the
//     lease expires while this replica is well and may be inside a lock —
//     another replica then makes the same token request. So the Locker
//     also keeps its lease alive itself, a keepalive every quarter TTL on a
//     stream of its own, under a deadline of half a TTL: one that went to
//     a hung member is followed by one that goes to another. The lease is
//     taken for lost only when the cluster says so.
//   - A leader election makes lock calls fail for a second or two; they
//     are retried with backoff (lockRetryFor).
type Locker struct {
	c   *Client
	ttl time.Duration

	mu      sync.Mutex // guards session and lost; held while a new session is made
	session *concurrency.Session
	lost    chan struct{} // closed when the cluster says session's lease is gone
	stop    context.CancelFunc
	done    chan struct{}

	lmu   sync.Mutex // guards local
	local map[string]*localLock
}

// localLock is the in-process side of one id's lock: a one-slot
// semaphore, refcounted so the map holds only ids in use.
type localLock struct {
	slot chan struct{}
	refs int
}

// Locker starts a session with a lease of ttl (at least a second; kept
// alive until Close) and returns the locker.
func (c *Client) Locker(ttl time.Duration) (*Locker, error) {
	l := &Locker{c: c, ttl: max(ttl.Truncate(time.Second), time.Second), local: map[string]*localLock{}, done: make(chan struct{})}
	ctx, cancel := c.op(context.Background())
	defer cancel()
	if _, err := l.live(ctx); err != nil {
		return nil, err
	}
	kctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.keepAlive(kctx)
	return l, nil
}

// live returns a session whose lease is alive, making a new one when the
// last is lost.
func (l *Locker) live(ctx context.Context) (*concurrency.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.session; s != nil {
		select {
		case <-l.lost:
			// Not revoked: a holder under it keeps its lock until the
			// lease's own expiry, never less.
			s.Orphan()
			l.session = nil
		default:
			return s, nil
		}
	}
	// The lease is granted under a deadline (without a quorum the grant
	// would wait forever).
	gctx, cancel := l.c.op(ctx)
	lease, err := l.c.c.Grant(gctx, int64(l.ttl/time.Second))
	cancel()
	var s *concurrency.Session
	if err == nil {
		s, err = concurrency.NewSession(l.c.c, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(l.ttl/time.Second)))
	}
	if err != nil {
		return nil, fmt.Errorf("etcd: lock session: %w", mapErr(err))
	}
	l.session, l.lost = s, make(chan struct{})
	return s, nil
}

// keepAlive keeps the current session's lease alive (see Locker) until
// ctx ends, and marks it lost when the cluster says it is gone.
func (l *Locker) keepAlive(ctx context.Context) {
	defer close(l.done)
	every := l.ttl / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		s, lost := l.session, l.lost
		l.mu.Unlock()
		if s == nil || isClosed(lost) {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 2*every)
		_, err := l.c.c.KeepAliveOnce(actx, s.Lease())
		cancel()
		l.mu.Lock()
		switch {
		case l.session != s:
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			// Only the cluster's word: a keepalive that merely went
			// unanswered (a loaded machine, an election) leaves the lease
			// to the session's own keepalive, and a holder inside its lock.
			close(l.lost)
		}
		l.mu.Unlock()
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Err reports whether this replica can take locks now: nil when its
// session is alive, else why not (it tries to make a new session first).
// Readiness checks call it.
func (l *Locker) Err(ctx context.Context) error {
	_, err := l.live(ctx)
	return err
}

// Lock implements grants.Locker.
func (l *Locker) Lock(ctx context.Context, id string) (func(), error) {
	release, err := l.lockLocal(ctx, id)
	if err != nil {
		return nil, err
	}
	m, err := l.lockRemote(ctx, id)
	if err != nil {
		release()
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.c.opTO)
		defer cancel()
		m.Unlock(ctx) // on failure the lease's expiry releases it
		release()
	}, nil
}

// TryLock implements grants.TryLocker: it takes id's lock if nobody holds
// it, and otherwise returns ok false at once (the background refresher
// then leaves the refresh to the holder instead of queueing behind it).
func (l *Locker) TryLock(ctx context.Context, id string) (unlock func(), ok bool, err error) {
	release, ok := l.tryLocal(id)
	if !ok {
		return nil, false, nil
	}
	s, err := l.live(ctx)
	if err != nil {
		release()
		return nil, false, err
	}
	m := concurrency.NewMutex(s, l.c.key("lock", id))
	if _, err = try(ctx, 1, m.TryLock); err != nil {
		release()
		if errors.Is(err, concurrency.ErrLocked) {
			return nil, false, nil
		}
		l.dropKey(s, id)
		return nil, false, fmt.Errorf("etcd: lock %s: %w", id, mapErr(err))
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.c.opTO)
		defer cancel()
		m.Unlock(ctx)
		release()
	}, true, nil
}

// lockRemote takes id's etcd mutex: attempts of one transaction each
// (TryLock) under a deadline that grows (attempt), so one that went to a
// member that hangs costs a second, not the caller's whole wait; while another replica
// holds the lock it polls. What a leader election or a lost session makes
// fail is retried for lockRetryFor.
func (l *Locker) lockRemote(ctx context.Context, id string) (*concurrency.Mutex, error) {
	poll, wait := 20*time.Millisecond, 50*time.Millisecond
	var failingSince time.Time
	timedOut := 0
	for {
		var err error
		s, err := l.live(ctx)
		if err == nil {
			m := concurrency.NewMutex(s, l.c.key("lock", id))
			var late bool
			if late, err = try(ctx, timedOut, m.TryLock); late {
				timedOut++
			}
			switch {
			case err == nil:
				return m, nil
			case errors.Is(err, concurrency.ErrLocked):
				// Held elsewhere: not a failure, wait for it.
				failingSince = time.Time{}
				if !sleep(ctx, poll) {
					return nil, fmt.Errorf("etcd: lock %s: %w", id, mapErr(ctx.Err()))
				}
				poll = min(2*poll, 250*time.Millisecond)
				continue
			}
			l.dropKey(s, id)
			err = mapErr(err)
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		}
		if ctx.Err() != nil || !retryable(err) || time.Since(failingSince) > lockRetryFor {
			return nil, fmt.Errorf("etcd: lock %s: %w", id, err)
		}
		if !sleep(ctx, wait) {
			return nil, fmt.Errorf("etcd: lock %s: %w", id, err)
		}
		wait = min(2*wait, time.Second)
	}
}

// dropKey deletes this session's key of id's mutex after a lock attempt
// that failed part way (its deadline may have passed after the key was
// put): left behind, it would hold the lock for as long as the session
// lives. Only the goroutine holding id's in-process lock calls it.
func (l *Locker) dropKey(s *concurrency.Session, id string) {
	ctx, cancel := l.c.op(context.Background())
	defer cancel()
	s.Client().Delete(ctx, fmt.Sprintf("%s/%x", l.c.key("lock", id), s.Lease()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// lockRetryFor is how long failing lock calls are retried: longer than an
// election (a second or two), short enough that a caller waiting on a
// token request learns of an outage.
const lockRetryFor = 8 * time.Second

// retryable reports whether a lock failure may pass by itself: no quorum
// or leader for now, or a session that expired (the next try makes a new
// one).
func retryable(err error) bool {
	return errors.Is(err, datasource.ErrUnavailable) || errors.Is(err, concurrency.ErrSessionExpired) ||
		errors.Is(err, rpctypes.ErrLeaseNotFound)
}

// lockLocal takes the in-process side of id's lock.
func (l *Locker) lockLocal(ctx context.Context, id string) (func(), error) {
	ll := l.ref(id)
	select {
	case ll.slot <- struct{}{}:
		return func() { <-ll.slot; l.unref(id, ll) }, nil
	case <-ctx.Done():
		l.unref(id, ll)
		return nil, fmt.Errorf("etcd: lock %s: %w", id, mapErr(ctx.Err()))
	}
}

// tryLocal takes the in-process side of id's lock if it is free.
func (l *Locker) tryLocal(id string) (func(), bool) {
	ll := l.ref(id)
	select {
	case ll.slot <- struct{}{}:
		return func() { <-ll.slot; l.unref(id, ll) }, true
	default:
		l.unref(id, ll)
		return nil, false
	}
}

// ref returns id's in-process lock, counting one more user of it.
func (l *Locker) ref(id string) *localLock {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	ll := l.local[id]
	if ll == nil {
		ll = &localLock{slot: make(chan struct{}, 1)}
		l.local[id] = ll
	}
	ll.refs++
	return ll
}

// unref counts one user less of id's in-process lock, dropping it from
// the map with the last.
func (l *Locker) unref(id string, ll *localLock) {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	if ll.refs--; ll.refs == 0 {
		delete(l.local, id)
	}
}

// Abandon stops keeping the session's lease alive without revoking it, as
// a crashed process would: its locks are released when the lease expires.
// For tests.
func (l *Locker) Abandon() {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session != nil {
		l.session.Orphan()
	}
}

// Close ends the session and its lease: held locks are released.
func (l *Locker) Close() error {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session == nil {
		return nil
	}
	return l.session.Close()
}

// Done is closed when the current session's lease is lost (etcd
// unreachable for longer than the TTL, or the lease revoked). The next
// Lock or Err makes a new session.
func (l *Locker) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}
