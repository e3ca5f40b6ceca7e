package etcd

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// TokenRecord implements datasource.Store.
func (s *Store) TokenRecord(ctx context.Context, id string) (*datasource.TokenRecord, error) {
	resp, err := s.get(ctx, s.c.key("tok", id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeToken(id, resp.Kvs[0].Value)
}

// SaveTokenRecord implements datasource.Store: the generation in the
// stored record is checked, then the write is a transaction on the
// record's mod revision (and on the datasource still existing), retried if
// only a status update of the same generation got in between.
func (s *Store) SaveTokenRecord(ctx context.Context, id string, r *datasource.TokenRecord, prev uint64) error {
	rec, err := s.cdc().EncodeToken(id, r)
	if err != nil {
		return err
	}
	dk, tk := s.c.key("ds", id), s.c.key("tok", id)
	for attempt := 0; attempt < 10; attempt++ {
		resp, err := s.get(ctx, tk)
		if err != nil {
			return err
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.Version(dk), ">", 0)}
		if len(resp.Kvs) == 0 {
			if prev != 0 {
				return datasource.ErrConflict
			}
			cmps = append(cmps, clientv3.Compare(clientv3.Version(tk), "=", 0))
		} else {
			gen, err := sealed.TokenGeneration(resp.Kvs[0].Value)
			if err != nil {
				return err
			}
			if gen != prev {
				return datasource.ErrConflict
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(tk), "=", resp.Kvs[0].ModRevision))
		}
		tr, err := s.txn(ctx, cmps, []clientv3.Op{clientv3.OpPut(tk, string(rec))}, clientv3.OpGet(dk))
		if err != nil {
			return err
		}
		if tr.Succeeded {
			return nil
		}
		if len(tr.Responses[0].GetResponseRange().Kvs) == 0 {
			return datasource.ErrNotFound
		}
	}
	return datasource.ErrConflict
}

// DeleteTokenRecord implements datasource.Store.
func (s *Store) DeleteTokenRecord(ctx context.Context, id string) error {
	_, err := s.txn(ctx, nil, []clientv3.Op{clientv3.OpDelete(s.c.key("tok", id))})
	return err
}

// TokenSchedule implements datasource.Store.
func (s *Store) TokenSchedule(ctx context.Context, id string) (datasource.Schedule, error) {
	ctx, cancel := s.c.op(ctx)
	defer cancel()
	tr, err := s.c.c.Txn(ctx).Then(clientv3.OpGet(s.c.key("ds", id)), clientv3.OpGet(s.c.key("tok", id))).Commit()
	if err != nil {
		return datasource.Schedule{}, mapErr(err)
	}
	ds, tok := tr.Responses[0].GetResponseRange().Kvs, tr.Responses[1].GetResponseRange().Kvs
	if len(ds) == 0 {
		return datasource.Schedule{}, datasource.ErrNotFound
	}
	gt, err := sealed.GrantType(ds[0].Value)
	if err != nil {
		return datasource.Schedule{}, err
	}
	var sc datasource.Schedule
	if len(tok) > 0 {
		if sc, err = sealed.DecodeSchedule(tok[0].Value); err != nil {
			return datasource.Schedule{}, err
		}
	}
	sc.GrantType = gt
	return sc, nil
}

// Schedules implements datasource.Store: two paged range reads, joined.
func (s *Store) Schedules(ctx context.Context, fn func(id string, sc datasource.Schedule) error) error {
	tokens := map[string]datasource.Schedule{}
	tp := s.c.key("tok") + "/"
	err := s.scan(ctx, tp, func(k, v []byte, _ int64) error {
		sc, err := sealed.DecodeSchedule(v)
		if err != nil {
			return err
		}
		tokens[strings.TrimPrefix(string(k), tp)] = sc
		return nil
	})
	if err != nil {
		return err
	}
	dp := s.c.key("ds") + "/"
	return s.scan(ctx, dp, func(k, v []byte, _ int64) error {
		gt, err := sealed.GrantType(v)
		if err != nil {
			return err
		}
		id := strings.TrimPrefix(string(k), dp)
		sc := tokens[id]
		sc.GrantType = gt
		return fn(id, sc)
	})
}

// SaveState implements datasource.Store.
func (s *Store) SaveState(ctx context.Context, st *datasource.State) error {
	rec, err := s.cdc().EncodeState(st)
	if err != nil {
		return err
	}
	tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(s.c.key("ds", st.DatasourceID)), ">", 0)},
		[]clientv3.Op{clientv3.OpPut(s.c.key("state", st.Key), string(rec))})
	if err != nil {
		return err
	}
	if !tr.Succeeded {
		return datasource.ErrNotFound
	}
	return nil
}

// State implements datasource.Store.
func (s *Store) State(ctx context.Context, key string) (*datasource.State, error) {
	resp, err := s.get(ctx, s.c.key("state", key))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeState(key, resp.Kvs[0].Value)
}

// ConsumeState implements datasource.Store: a delete that returns what it
// deleted, so of two concurrent calls (on any replicas) one gets the state.
func (s *Store) ConsumeState(ctx context.Context, key string) (*datasource.State, error) {
	ctx2, cancel := s.c.op(ctx)
	defer cancel()
	resp, err := s.c.c.Delete(ctx2, s.c.key("state", key), clientv3.WithPrevKV())
	if err != nil {
		return nil, mapErr(err)
	}
	if len(resp.PrevKvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeState(key, resp.PrevKvs[0].Value)
}

// PurgeStates implements datasource.Store.
func (s *Store) PurgeStates(ctx context.Context, now time.Time) (int, error) {
	type victim struct {
		key string
		rev int64
	}
	var victims []victim
	err := s.scan(ctx, s.c.key("state")+"/", func(k, v []byte, rev int64) error {
		exp, err := sealed.StateExpiry(v)
		if err != nil || !now.Before(exp) {
			victims = append(victims, victim{string(k), rev})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range victims {
		tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(v.key), "=", v.rev)}, []clientv3.Op{clientv3.OpDelete(v.key)})
		if err != nil {
			return n, err
		}
		if tr.Succeeded {
			n++
		}
	}
	return n, nil
}

// Reseal re-encrypts every sealed record under with's primary key and from
// then on seals with it (grantd keys rotate). Each record is rewritten in
// its own transaction on its mod revision, so a concurrent change wins and
// is sealed by its writer.
func (s *Store) Reseal(ctx context.Context, with sealed.Sealer) (int, error) {
	next := sealed.Codec{Sealer: with}
	cur := s.cdc()
	n := 0
	rewrite := func(prefix string, f func(k string, v []byte) ([]byte, error)) error {
		return s.scan(ctx, prefix, func(k, v []byte, rev int64) error {
			nv, err := f(string(k), v)
			if err != nil {
				return err
			}
			tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(k)), "=", rev)}, []clientv3.Op{clientv3.OpPut(string(k), string(nv))})
			if err != nil {
				return err
			}
			if tr.Succeeded {
				n++
			}
			return nil
		})
	}
	dp, tp, sp := s.c.key("ds")+"/", s.c.key("tok")+"/", s.c.key("state")+"/"
	if err := rewrite(dp, func(k string, v []byte) ([]byte, error) {
		d, err := cur.DecodeDatasource(v)
		if err != nil {
			return nil, err
		}
		return next.EncodeDatasource(d)
	}); err != nil {
		return n, err
	}
	if err := rewrite(tp, func(k string, v []byte) ([]byte, error) {
		id := strings.TrimPrefix(k, tp)
		t, err := cur.DecodeToken(id, v)
		if err != nil {
			return nil, err
		}
		return next.EncodeToken(id, t)
	}); err != nil {
		return n, err
	}
	if err := rewrite(sp, func(k string, v []byte) ([]byte, error) {
		key := strings.TrimPrefix(k, sp)
		st, err := cur.DecodeState(key, v)
		if err != nil {
			return nil, err
		}
		return next.EncodeState(st)
	}); err != nil {
		return n, err
	}
	s.codecMu.Lock()
	s.codec = next
	s.codecMu.Unlock()
	return n, nil
}
