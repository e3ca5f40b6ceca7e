package etcd

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/etcd/etcdtest"
)

func testLocker(t *testing.T) (*Client, *Locker) {
	t.Helper()
	c := etcdtest.Start(t, 1)
	cl, err := Dial(Options{Endpoints: c.Endpoints(), Prefix: "/lk/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	l, err := cl.Locker(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return cl, l
}

// TestLockerOneHolderPerProcess: etcd's mutex is per lease and a process
// has one lease, so two goroutines of one replica would both "hold" it.
// The Locker lets one in at a time.
func TestLockerOneHolderPerProcess(t *testing.T) {
	_, l := testLocker(t)
	ctx := context.Background()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				unlock, err := l.Lock(ctx, "ds_1")
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				inside.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d goroutines of one process held the lock at once", most.Load())
	}
	// A second goroutine waits while the first holds it, then gets it.
	unlock, err := l.Lock(ctx, "ds_1")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(short, "ds_1"); err == nil {
		t.Fatal("a second goroutine got a lock the first holds")
	}
	got := make(chan error, 1)
	go func() {
		u, err := l.Lock(ctx, "ds_1")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	l.lmu.Lock()
	left := len(l.local)
	l.lmu.Unlock()
	if left != 0 {
		t.Errorf("%d in-process locks left after every holder unlocked", left)
	}
}

// TestLockerReplacesALostSession: a lease lost in an outage longer than
// the TTL ("requested lease not found" on every lock call until a
// restart, in the field) is replaced by the next Lock, and Err says so
// meanwhile only if no new session can be made.
func TestLockerReplacesALostSession(t *testing.T) {
	cl, l := testLocker(t)
	ctx := context.Background()
	l.mu.Lock()
	lease := l.session.Lease()
	l.mu.Unlock()
	// What an outage longer than the TTL leaves behind: the lease is gone
	// on the server.
	if _, err := cl.Raw().Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not notice its lease was gone")
	}
	unlock, err := l.Lock(ctx, "ds_1")
	if err != nil {
		t.Fatalf("lock after the lease was lost: %v", err)
	}
	unlock()
	if err := l.Err(ctx); err != nil {
		t.Fatalf("Err with a new session: %v", err)
	}
	l.mu.Lock()
	renewed := l.session.Lease()
	l.mu.Unlock()
	if renewed == lease {
		t.Fatal("the lost lease is still in use")
	}
}

// TestMapErrUnavailable: the errors a cluster without a leader or quorum
// answers with are datasource.ErrUnavailable (503), not internal errors —
// including the ones the client turns into rpctypes.EtcdError.
func TestMapErrUnavailable(t *testing.T) {
	for _, err := range []error{
		rpctypes.ErrTimeout, rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrTimeoutDueToConnectionLost,
		status.Error(codes.DeadlineExceeded, "context deadline exceeded"),
		status.Error(codes.Unavailable, "connection refused"),
		status.Error(codes.Unknown, "context deadline exceeded"),
		context.DeadlineExceeded,
	} {
		if got := mapErr(err); !errors.Is(got, datasource.ErrUnavailable) {
			t.Errorf("mapErr(%v) = %v, want ErrUnavailable", err, got)
		}
	}
	if got := mapErr(rpctypes.ErrLeaseNotFound); errors.Is(got, datasource.ErrUnavailable) {
		t.Errorf("a lost lease is not unavailability: %v", got)
	}
}

// TestLockerTryLock: TryLock answers at once whether the lock was free,
// for a holder in this process and in another.
func TestLockerTryLock(t *testing.T) {
	cl, l := testLocker(t)
	ctx := context.Background()
	other, err := Dial(Options{Endpoints: cl.c.Endpoints(), Prefix: "/lk/"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ol, err := other.Locker(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ol.Close()

	unlock, err := l.Lock(ctx, "ds_1")
	if err != nil {
		t.Fatal(err)
	}
	for name, lk := range map[string]*Locker{"this process": l, "another process": ol} {
		if _, ok, err := lk.TryLock(ctx, "ds_1"); ok || err != nil {
			t.Fatalf("TryLock from %s while held: ok %v, err %v", name, ok, err)
		}
	}
	unlock()
	u, ok, err := ol.TryLock(ctx, "ds_1")
	if !ok || err != nil {
		t.Fatalf("TryLock of a free lock: ok %v, err %v", ok, err)
	}
	if _, ok, _ := l.TryLock(ctx, "ds_1"); ok {
		t.Fatal("TryLock got a lock another process holds")
	}
	u()
	if u, ok, err := l.TryLock(ctx, "ds_1"); !ok || err != nil {
		t.Fatalf("TryLock after release: ok %v, err %v", ok, err)
	} else {
		u()
	}
}
