package etcd

import (
	"context"
	"strings"
	"time"

	"github.com/grantd/grantd/datasource"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch implements datasource.Watcher: it calls changed with the key of
// every datasource (its shared key), connection or token record (Token
// set) that
// another process creates, changes or deletes, until ctx ends. Writes of this store are skipped. After a lost connection it resumes where it
// left off (or, if etcd compacted that history, reports every datasource
// once so nothing is missed).
func (s *Store) Watch(ctx context.Context, changed func(datasource.Change)) {
	dp, tp, cp := s.c.key("ds")+"/", s.c.key("tok")+"/", s.c.key("conn")+"/"
	var rev int64
	for ctx.Err() == nil {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev+1))
		}
		wc := s.c.c.Watch(clientv3.WithRequireLeader(ctx), s.c.prefix, opts...)
		for resp := range wc {
			if resp.CompactRevision > 0 {
				rev = 0
				s.scan(ctx, dp, func(k, _ []byte, _ int64) error {
					changed(datasource.Change{Key: datasource.SharedKey(strings.TrimPrefix(string(k), dp))})
					return nil
				})
				break
			}
			if err := resp.Err(); err != nil {
				break
			}
			// A write of this store is recorded when its commit returns,
			// which can be a moment after etcd sends the watch event: let
			// that moment pass before telling own writes from others'.
			time.Sleep(20 * time.Millisecond)
			for _, ev := range resp.Events {
				rev = ev.Kv.ModRevision
				if s.isOwn(ev.Kv.ModRevision) {
					continue
				}
				k := string(ev.Kv.Key)
				switch {
				case strings.HasPrefix(k, dp):
					changed(datasource.Change{Key: datasource.SharedKey(strings.TrimPrefix(k, dp))})
				case strings.HasPrefix(k, tp):
					changed(datasource.Change{Key: datasource.ParseKey(strings.TrimPrefix(k, tp)), Token: true})
				case strings.HasPrefix(k, cp):
					changed(datasource.Change{Key: datasource.ParseKey(strings.TrimPrefix(k, cp))})
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond): // reconnect pacing
		}
	}
}
