package etcd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/datasource"
)

var _ datasource.APIKeyWatcher = (*Store)(nil)

// CreateAPIKey implements datasource.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *datasource.APIKey) error {
	rec, err := s.cdc().EncodeAPIKey(k)
	if err != nil {
		return err
	}
	kk := s.c.key("apikey", k.ID)
	tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(kk), "=", 0)}, []clientv3.Op{clientv3.OpPut(kk, string(rec))})
	if err != nil {
		return err
	}
	if !tr.Succeeded {
		return fmt.Errorf("etcd: API key id %s already exists", k.ID)
	}
	return nil
}

// APIKeys implements datasource.Store. A key that does not authenticate is
// left out (and logged): it no longer works.
func (s *Store) APIKeys(ctx context.Context) ([]*datasource.APIKey, error) {
	var out []*datasource.APIKey
	p := s.c.key("apikey") + "/"
	c := s.cdc()
	err := s.scan(ctx, p, func(k, v []byte, _ int64) error {
		key, err := c.DecodeAPIKey(strings.TrimPrefix(string(k), p), v)
		if errors.Is(err, datasource.ErrTampered) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, key)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// DeleteAPIKey implements datasource.Store.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	kk := s.c.key("apikey", id)
	tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(kk), ">", 0)}, []clientv3.Op{clientv3.OpDelete(kk)})
	if err != nil {
		return err
	}
	if !tr.Succeeded {
		return datasource.ErrNotFound
	}
	return nil
}

// TouchAPIKeys implements datasource.Store: each key is rewritten with a
// compare on its mod revision; a key changed or deleted meanwhile is
// skipped (last-used times are coarse).
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	c := s.cdc()
	for id, at := range used {
		kk := s.c.key("apikey", id)
		resp, err := s.get(ctx, kk)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			continue
		}
		k, err := c.DecodeAPIKey(id, resp.Kvs[0].Value)
		if err != nil || !at.After(k.LastUsedAt) {
			continue
		}
		k.LastUsedAt = at
		rec, err := c.EncodeAPIKey(k)
		if err != nil {
			return err
		}
		if _, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(kk), "=", resp.Kvs[0].ModRevision)},
			[]clientv3.Op{clientv3.OpPut(kk, string(rec))}); err != nil {
			return err
		}
	}
	return nil
}

// WatchAPIKeys implements datasource.APIKeyWatcher: changed is called for
// every creation or deletion of an API key (by any process; a reload is
// cheap), and once after a lost watch resumes, until ctx ends.
func (s *Store) WatchAPIKeys(ctx context.Context, changed func()) {
	p := s.c.key("apikey") + "/"
	for ctx.Err() == nil {
		wc := s.c.c.Watch(clientv3.WithRequireLeader(ctx), p, clientv3.WithPrefix())
		for resp := range wc {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete || ev.IsCreate() {
					changed()
					break
				}
			}
		}
		changed() // whatever happened while the watch was down
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond): // reconnect pacing
		}
	}
}
