package etcd_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/etcd"
	"github.com/grantd/grantd/datasource/etcd/etcdtest"
	"github.com/grantd/grantd/datasource/sealed"
	"github.com/grantd/grantd/datasource/storetest"
)

var ctx = context.Background()

// dial connects to c under prefix. Requests get 10 s, twice grantd's
// default: these tests check what the store does, not how fast, and their
// member runs in this process under the race detector, sharing two cores
// with the rest of the suite (a 2 s bound failed a read in CI's racing
// token saves).
func dial(t *testing.T, c *etcdtest.Cluster, prefix string) *etcd.Client {
	t.Helper()
	cl, err := etcd.Dial(etcd.Options{Endpoints: c.Endpoints(), Prefix: prefix, OpTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

var seq atomic.Int64

// open opens the store on cl, failing the test on an error.
func open(t *testing.T, cl *etcd.Client, s sealed.Sealer, o *etcd.StoreOptions) *etcd.Store {
	t.Helper()
	st, err := cl.Open(s, o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ks, err := crypto.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T, log *slog.Logger) datasource.Store {
		return open(t, dial(t, c, fmt.Sprintf("/test-%d/", seq.Add(1))), ks, &etcd.StoreOptions{Logger: log})
	})
}

// TestNoSecretsInEtcd reads every key the store wrote with the raw client
// and looks for the secrets: they must only be there sealed.
func TestNoSecretsInEtcd(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ks, _ := crypto.NewKeyset()
	cl := dial(t, c, "/raw/")
	s := open(t, cl, ks, nil)
	d := storetest.Sample("ds_1", "one")
	s.CreateDatasource(ctx, d)
	s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), storetest.SampleToken(1), 0)
	s.SaveState(ctx, &datasource.State{Key: "k", DatasourceID: d.ID, Verifier: datasource.NewSecret(storetest.Verifier), ExpiresAt: time.Now().Add(time.Hour)})
	resp, err := cl.Raw().Get(ctx, "/raw/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) < 4 {
		t.Fatalf("raw read: %d keys, %v", len(resp.Kvs), err)
	}
	for _, kv := range resp.Kvs {
		for _, sec := range []string{storetest.ClientSecret, storetest.AccessToken, storetest.RefreshToken, storetest.Verifier} {
			if strings.Contains(string(kv.Value), sec) {
				t.Errorf("%s holds %q in clear", kv.Key, sec)
			}
		}
	}
}

// TestSharedKeysetOneWinner: replicas starting together on an empty
// cluster agree on one keyset.
func TestSharedKeysetOneWinner(t *testing.T) {
	c := etcdtest.Start(t, 1)
	kek := crypto.GenerateMasterKey()
	var wg sync.WaitGroup
	keys := make([]*crypto.Keyset, 8)
	created := atomic.Int64{}
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks, made, err := crypto.LoadOrCreateKeyset(dial(t, c, "/ks/").Keyset(), kek)
			if err != nil {
				t.Error(err)
				return
			}
			if made {
				created.Add(1)
			}
			keys[i] = ks
		}()
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d replicas created a keyset", created.Load())
	}
	sealed, _ := keys[0].Seal([]byte("x"), nil)
	for i, ks := range keys {
		if _, err := ks.Open(sealed, nil); err != nil {
			t.Errorf("replica %d has another keyset", i)
		}
	}
	if _, _, err := crypto.LoadOrCreateKeyset(dial(t, c, "/ks/").Keyset(), crypto.GenerateMasterKey()); err == nil {
		t.Error("another master key opened the shared keyset")
	}
}

// TestLockerTakeover: a lock held by a client that dies (its session is
// not closed, its lease just stops being kept alive) is taken over after
// the lease TTL.
func TestLockerTakeover(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a, err := dial(t, c, "/lk/").Locker(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bClient := dial(t, c, "/lk/")
	b, err := bClient.Locker(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Lock(ctx, "ds_1"); err != nil {
		t.Fatal(err)
	}
	// b waits while a holds it.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := b.Lock(short, "ds_1"); err == nil {
		t.Fatal("b got a lock a holds")
	}
	cancel()
	// a "dies": its keepalive stops (the client closes without revoking).
	a.Abandon()
	start := time.Now()
	unlock, err := b.Lock(ctx, "ds_1")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	took := time.Since(start)
	t.Logf("lock taken over %v after its holder died (lease TTL 2s)", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("takeover took %v", took)
	}
}

func TestWatchReportsOthersOnly(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ks, _ := crypto.NewKeyset()
	mine := open(t, dial(t, c, "/w/"), ks, nil)
	other := open(t, dial(t, c, "/w/"), ks, nil)
	got := make(chan string, 16)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go mine.Watch(wctx, func(c datasource.Change) { got <- c.Key.Datasource })
	mine.CreateDatasource(ctx, storetest.Sample("ds_mine", "mine"))
	d := storetest.Sample("ds_other", "other")
	// Keep writing until the watch has seen one: it may start after the
	// first write.
	deadline := time.After(10 * time.Second)
	for gen := uint64(0); ; gen++ {
		if gen == 0 {
			other.CreateDatasource(ctx, d)
		} else {
			other.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), storetest.SampleToken(gen), gen-1)
		}
		select {
		case id := <-got:
			if id != "ds_other" {
				t.Fatalf("watch reported %s, a write of this store", id)
			}
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("the watch reported nothing")
		}
	}
}
