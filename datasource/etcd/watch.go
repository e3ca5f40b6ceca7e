package etcd

import (
	"context"
	"strings"
	"time"

	"github.com/grantd/grantd/datasource"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch implements datasource.Watcher: it calls changed with the key of
// every datasource (its shared key), connection or token record (Token
// set) that another process creates, changes or deletes, and of every
// refresh lock let go (Unlocked set; a lock key deleted by its holder or
// by its lease's expiry), until ctx ends. Writes of this store are
// skipped. After a lost connection it resumes where it left off (or, if
// etcd compacted that history, reports every datasource once so nothing
// is missed).
func (s *Store) Watch(ctx context.Context, changed func(datasource.Change)) {
	dp, tp, cp, lp := s.c.key("ds")+"/", s.c.key("tok")+"/", s.c.key("conn")+"/", s.c.key("lock")+"/"
	var rev int64
	for ctx.Err() == nil {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev+1))
		}
		wctx, cancel := context.WithCancel(ctx)
		in := stamp(s.c.c.Watch(clientv3.WithRequireLeader(wctx), s.c.prefix, opts...))
		for r := range in {
			resp := r.WatchResponse
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
			// that moment pass, from when the event came, before telling
			// own writes from others'. (Sleeping that long after each
			// answer read, as this did, let the watch fall further and
			// further behind once a wave brought more than 50 a second.)
			time.Sleep(time.Until(r.at.Add(ownWriteSettles)))
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
				case strings.HasPrefix(k, lp) && ev.Type == mvccpb.DELETE:
					// lock/<key>/<lease>: the key may hold a slash itself.
					if name, _, ok := cutLast(strings.TrimPrefix(k, lp), "/"); ok {
						changed(datasource.Change{Key: datasource.ParseKey(name), Unlocked: true})
					}
				}
			}
		}
		cancel()
		for range in {
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond): // reconnect pacing
		}
	}
}

// cutLast slices s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// ownWriteSettles is how long after a watch event this store's own write
// that caused it has surely been recorded as its own.
const ownWriteSettles = 20 * time.Millisecond

// stamped is a watch answer with when it came.
type stamped struct {
	clientv3.WatchResponse
	at time.Time
}

// stamp passes on wc's answers with the time each came, however far
// behind their reader is; the channel closes when wc does.
func stamp(wc clientv3.WatchChan) <-chan stamped {
	out := make(chan stamped, 1024)
	go func() {
		defer close(out)
		for resp := range wc {
			out <- stamped{resp, time.Now()}
		}
	}()
	return out
}
