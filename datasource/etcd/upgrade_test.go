package etcd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// fill writes a datasource with a token record, a state, events with
// deliveries and meta values for each of n datasources.
func fill(t *testing.T, s *etcd.Store, n int) {
	t.Helper()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("ds_%03d", i)
		if err := s.CreateDatasource(ctx, storetest.Sample(id, "name "+id)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveTokenRecord(ctx, datasource.SharedKey(id), storetest.SampleToken(uint64(i+1)), 0); err != nil {
			t.Fatal(err)
		}
		st := &datasource.State{Key: "k" + id, DatasourceID: id, Verifier: datasource.NewSecret(storetest.Verifier), ExpiresAt: t0.Add(time.Hour)}
		if err := s.SaveState(ctx, st); err != nil {
			t.Fatal(err)
		}
		e := &datasource.Event{ID: fmt.Sprintf("ev_%04d", i), Type: datasource.EventCreated, Time: t0, DatasourceID: id}
		if err := s.AppendEvents(ctx, []*datasource.Event{e}, []string{"https://hooks.example/a"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMeta(ctx, "m"+id, []byte{byte(i), 0xff}); err != nil {
			t.Fatal(err)
		}
	}
}

// strip turns every record under prefix back into what grantd wrote
// before records were authenticated, and removes the schema marker.
func strip(t *testing.T, cl *etcd.Client, prefix string) {
	t.Helper()
	resp, err := cl.Raw().Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case k == prefix+"schema":
			_, err = cl.Raw().Delete(ctx, k)
		case strings.HasPrefix(k, prefix+"name/"), k == prefix+"keyset":
			continue
		default:
			var env struct {
				R json.RawMessage `json:"r"`
			}
			if !sealed.Wrapped(kv.Value) {
				continue // stripped already
			}
			if err := json.Unmarshal(kv.Value, &env); err != nil || env.R == nil {
				t.Fatalf("%s is not an envelope", k)
			}
			v := []byte(env.R)
			if strings.HasPrefix(k, prefix+"meta/") {
				json.Unmarshal(env.R, &v)
			}
			_, err = cl.Raw().Put(ctx, k, string(v))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func versions(t *testing.T, cl *etcd.Client, prefix string) map[string]int64 {
	t.Helper()
	resp, err := cl.Raw().Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.Version
	}
	return out
}

func checkAll(t *testing.T, s *etcd.Store, n int) {
	t.Helper()
	list, err := s.ListDatasources(ctx)
	if err != nil || len(list) != n {
		t.Fatalf("%d datasources listed, %v", len(list), err)
	}
	for i, d := range list {
		if d.Auth.ClientSecret.Reveal() != storetest.ClientSecret {
			t.Errorf("%s: client secret", d.ID)
		}
		tok, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID))
		if err != nil || tok.Generation != uint64(i+1) || tok.RefreshToken.Reveal() != storetest.RefreshToken {
			t.Errorf("%s: token %v", d.ID, err)
		}
		if st, err := s.ConsumeState(ctx, "k"+d.ID); err != nil || st.Verifier.Reveal() != storetest.Verifier {
			t.Errorf("%s: state %v", d.ID, err)
		}
		if v, err := s.Meta(ctx, "m"+d.ID); err != nil || !bytes.Equal(v, []byte{byte(i), 0xff}) {
			t.Errorf("%s: meta %x %v", d.ID, v, err)
		}
	}
	if evs, err := s.ListEvents(ctx, datasource.EventQuery{}); err != nil || len(evs) != n {
		t.Errorf("%d events, %v", len(evs), err)
	}
	if due, err := s.DueDeliveries(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute, 1000); err != nil || len(due) != n {
		t.Errorf("%d deliveries due, %v", len(due), err)
	}
}

// Replicas that start together on a store written before records were
// authenticated all open it, every record is tagged exactly once, and
// every record reads back as it was.
func TestUpgradeOnceAcrossReplicas(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ks, _ := crypto.NewKeyset()
	const prefix, n = "/up/", 40
	cl := dial(t, c, prefix)
	fill(t, open(t, cl, ks, nil), n)
	strip(t, cl, prefix)
	before := versions(t, cl, prefix)

	var wg sync.WaitGroup
	stores := make([]*etcd.Store, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := dial(t, c, prefix).Open(ks, nil)
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
			stores[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	after := versions(t, cl, prefix)
	for k, v := range before {
		want := v + 1 // tagged once
		if strings.HasPrefix(k, prefix+"name/") || k == prefix+"keyset" {
			want = v
		}
		if after[k] != want {
			t.Errorf("%s written %d times by the upgrade", k, after[k]-v)
		}
	}
	checkAll(t, stores[2], n)
}

// An upgrade tags only what was in the store when it began: a record an
// older replica (or anyone) writes without a tag after that stays refused.
func TestUpgradeLeavesLaterUntaggedRecords(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ks, _ := crypto.NewKeyset()
	const prefix = "/late/"
	cl := dial(t, c, prefix)
	fill(t, open(t, cl, ks, nil), 3)
	strip(t, cl, prefix)
	// A replica began the upgrade at this revision, and died.
	resp, err := cl.Raw().Get(ctx, prefix+"schema")
	if err != nil {
		t.Fatal(err)
	}
	marker, _ := json.Marshal(map[string]any{"version": etcd.SchemaVersion, "upgradeUpTo": resp.Header.Revision})
	v, err := sealed.Codec{Sealer: ks}.Wrap(sealed.KindStore, "schema", marker)
	if err != nil {
		t.Fatal(err)
	}
	cl.Raw().Put(ctx, prefix+"schema", string(v))
	// Then an older replica, still running, changed ds_001.
	old, _ := cl.Raw().Get(ctx, prefix+"ds/ds_001")
	late := strings.Replace(string(old.Kvs[0].Value), "https://api.example.com/v1", "https://api.example.com/v2", 1)
	cl.Raw().Put(ctx, prefix+"ds/ds_001", late)

	s := open(t, dial(t, c, prefix), ks, nil)
	if _, err := s.Datasource(ctx, "ds_001"); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("a record written after the upgrade began: %v, want ErrTampered", err)
	}
	for _, id := range []string{"ds_000", "ds_002"} {
		if _, err := s.Datasource(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	got, _ := cl.Raw().Get(ctx, prefix+"schema")
	if bytes.Equal(got.Kvs[0].Value, v) {
		t.Error("the marker was not finished")
	}
}

// A store that was upgraded cannot be relabelled to have records tagged
// anew, and another keyset does not open it.
func TestUpgradeRefusesRelabelledStoreAndWrongKeyset(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ks, _ := crypto.NewKeyset()
	const prefix = "/relabel/"
	cl := dial(t, c, prefix)
	fill(t, open(t, cl, ks, nil), 2)
	other, _ := crypto.NewKeyset()
	if _, err := cl.Open(other, nil); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("another keyset: %v, want ErrTampered", err)
	}

	// Someone strips one record's tag, changes it, and deletes the marker.
	old, _ := cl.Raw().Get(ctx, prefix+"ds/ds_000")
	var env struct {
		R json.RawMessage `json:"r"`
	}
	json.Unmarshal(old.Kvs[0].Value, &env)
	cl.Raw().Put(ctx, prefix+"ds/ds_000", strings.Replace(string(env.R), "auth.example.com/token", "attacker.example/token", 1))
	cl.Raw().Delete(ctx, prefix+"schema")
	if _, err := cl.Open(ks, nil); !errors.Is(err, datasource.ErrTampered) {
		t.Fatalf("relabelled store: %v, want ErrTampered", err)
	}

	// A legacy store under a keyset that did not write it is not upgraded.
	strip(t, cl, prefix)
	before := versions(t, cl, prefix)
	if _, err := cl.Open(other, nil); !errors.Is(err, crypto.ErrOpen) {
		t.Errorf("legacy store, another keyset: %v, want ErrOpen", err)
	}
	if after := versions(t, cl, prefix); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("a refused upgrade wrote to the store")
	}
}
