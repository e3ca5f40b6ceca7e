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

var (
	_ datasource.AgentSessions       = (*Store)(nil)
	_ datasource.AgentSessionWatcher = (*Store)(nil)
)

// CreateAgentSession implements datasource.AgentSessions.
func (s *Store) CreateAgentSession(ctx context.Context, a *datasource.AgentSession) error {
	rec, err := s.cdc().EncodeAgentSession(a)
	if err != nil {
		return err
	}
	k := s.c.key("agentsession", a.ID)
	tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(k), "=", 0)}, []clientv3.Op{clientv3.OpPut(k, string(rec))})
	if err != nil {
		return err
	}
	if !tr.Succeeded {
		return fmt.Errorf("etcd: agent session id %s already exists", a.ID)
	}
	return nil
}

// AgentSession implements datasource.AgentSessions: a linearizable read,
// so a session revoked on another replica is not found here.
func (s *Store) AgentSession(ctx context.Context, id string) (*datasource.AgentSession, error) {
	resp, err := s.get(ctx, s.c.key("agentsession", id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeAgentSession(id, resp.Kvs[0].Value)
}

// AgentSessions implements datasource.AgentSessions. A session that does
// not authenticate is left out (the codec logs it): it no longer works.
func (s *Store) AgentSessions(ctx context.Context) ([]*datasource.AgentSession, error) {
	var out []*datasource.AgentSession
	p := s.c.key("agentsession") + "/"
	c := s.cdc()
	err := s.scan(ctx, p, func(k, v []byte, _ int64) error {
		a, err := c.DecodeAgentSession(strings.TrimPrefix(string(k), p), v)
		if errors.Is(err, datasource.ErrTampered) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// DeleteAgentSession implements datasource.AgentSessions.
func (s *Store) DeleteAgentSession(ctx context.Context, id string) error {
	k := s.c.key("agentsession", id)
	tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(k), ">", 0)}, []clientv3.Op{clientv3.OpDelete(k)})
	if err != nil {
		return err
	}
	if !tr.Succeeded {
		return datasource.ErrNotFound
	}
	return nil
}

// PurgeAgentSessions implements datasource.AgentSessions: each expired
// session is deleted with a compare on its mod revision, so replicas
// purging at once delete each one once. A record that does not
// authenticate is left for an operator to look at.
func (s *Store) PurgeAgentSessions(ctx context.Context, now time.Time) (int, error) {
	p := s.c.key("agentsession") + "/"
	c := s.cdc()
	type victim struct {
		key string
		rev int64
	}
	var expired []victim
	err := s.scan(ctx, p, func(k, v []byte, rev int64) error {
		if a, err := c.DecodeAgentSession(strings.TrimPrefix(string(k), p), v); err == nil && a.Expired(now) {
			expired = append(expired, victim{string(k), rev})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, x := range expired {
		tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(x.key), "=", x.rev)}, []clientv3.Op{clientv3.OpDelete(x.key)})
		if err != nil {
			return n, err
		}
		if tr.Succeeded {
			n++
		}
	}
	return n, nil
}

// WatchAgentSessions implements datasource.AgentSessionWatcher: deleted
// is called with the id of every agent session deleted (by any process,
// this one included: forgetting twice is harmless), and with "" after a
// lost watch resumes, until ctx ends.
func (s *Store) WatchAgentSessions(ctx context.Context, deleted func(id string)) {
	p := s.c.key("agentsession") + "/"
	for ctx.Err() == nil {
		wc := s.c.c.Watch(clientv3.WithRequireLeader(ctx), p, clientv3.WithPrefix())
		for resp := range wc {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					deleted(strings.TrimPrefix(string(ev.Kv.Key), p))
				}
			}
		}
		deleted("") // whatever happened while the watch was down
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond): // reconnect pacing
		}
	}
}
