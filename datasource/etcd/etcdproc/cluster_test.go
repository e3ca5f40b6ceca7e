package etcdproc

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestCluster starts three etcd processes, loses the leader, freezes a
// member, loses the quorum and gets it back.
func TestCluster(t *testing.T) {
	c := Start(t, 3)
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	put := func(v string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := cl.Put(ctx, "k", v)
		return err
	}
	if err := put("1"); err != nil {
		t.Fatal(err)
	}
	l := c.Leader()
	if l < 0 {
		t.Fatal("no leader")
	}
	c.Kill(l)
	if err := c.WaitLeader(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if nl := c.Leader(); nl == l || nl < 0 {
		t.Fatalf("leader after killing %d: %d", l, nl)
	}
	c.Restart(l)
	nl := c.Leader()
	if nl < 0 {
		t.Fatal("no leader after the restart")
	}
	f := (nl + 1) % 3
	c.Freeze(f)
	// Through the leader: a plain client would send some requests to the
	// frozen member and wait for their deadline (grantd's own client
	// checks members, datasource/etcd/health.go).
	lc, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints()[nl : nl+1], DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err = lc.Put(pctx, "k", "2")
	pcancel()
	if err != nil {
		t.Fatalf("put with a frozen follower: %v", err)
	}
	c.Thaw(f)
	c.Stop(0)
	c.Stop(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err = cl.Put(ctx, "k", "3")
	cancel()
	if err == nil {
		t.Fatal("a write without a quorum succeeded")
	}
	c.Restart(0)
	c.Restart(1)
	if err := c.WaitLeader(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := put("4"); err != nil {
		t.Fatal(err)
	}
}
