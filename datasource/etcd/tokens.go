package etcd

import (
	"context"
	"errors"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// Token records live under tok/<Key.String()>: a shared datasource's at
// tok/<id>, a connection's at tok/<id>/<end user>; connections themselves
// at conn/<id>/<end user>.

// TokenRecord implements datasource.Store.
func (s *Store) TokenRecord(ctx context.Context, k datasource.Key) (*datasource.TokenRecord, error) {
	resp, err := s.get(ctx, s.c.key("tok", k.String()))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeToken(k, resp.Kvs[0].Value)
}

// SaveTokenRecord implements datasource.Store: the generation in the
// stored record is checked, then the write is a transaction on the
// record's mod revision (and on the datasource — for a connection, the
// connection — still existing), retried if only a status update of the
// same generation got in between.
func (s *Store) SaveTokenRecord(ctx context.Context, k datasource.Key, r *datasource.TokenRecord, prev uint64) error {
	rec, err := s.cdc().EncodeToken(k, r)
	if err != nil {
		return err
	}
	owner := s.c.key("ds", k.Datasource)
	if k.EndUser != "" {
		owner = s.c.key("conn", k.String())
	}
	tk := s.c.key("tok", k.String())
	// The write goes in attempts (see attempt): one that went to a member
	// that hangs is made again through another instead of waiting the
	// whole deadline. An attempt that timed out may have landed all the
	// same: the next round finds the record it wrote (equal bytes: sealing
	// is randomised) and is done. Each round has its own deadlines, as
	// each read and transaction does: racing writers may need several
	// rounds (one deadline over all of them failed the conformance test's
	// concurrent saves on a loaded machine).
	attempts := 0 // that timed out
	for round := 0; round < 10; round++ {
		resp, err := s.get(ctx, tk)
		if err != nil {
			return err
		}
		if round > 0 && len(resp.Kvs) > 0 && string(resp.Kvs[0].Value) == string(rec) {
			return nil
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.Version(owner), ">", 0)}
		if len(resp.Kvs) == 0 {
			if prev != 0 {
				return datasource.ErrConflict
			}
			cmps = append(cmps, clientv3.Compare(clientv3.Version(tk), "=", 0))
		} else {
			// A stored record that does not authenticate has no
			// generation to compare: ErrTampered, and it stays.
			gen, err := s.cdc().TokenGeneration(k, resp.Kvs[0].Value)
			if err != nil {
				return err
			}
			if gen != prev {
				return datasource.ErrConflict
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(tk), "=", resp.Kvs[0].ModRevision))
		}
		var tr *clientv3.TxnResponse
		timedOut, err := try(ctx, attempts, func(ctx context.Context) (err error) {
			tr, err = s.txn(ctx, cmps, []clientv3.Op{clientv3.OpPut(tk, string(rec))}, clientv3.OpGet(owner))
			return err
		})
		if err != nil && timedOut {
			attempts++
			continue
		}
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
func (s *Store) DeleteTokenRecord(ctx context.Context, k datasource.Key) error {
	_, err := s.txn(ctx, nil, []clientv3.Op{clientv3.OpDelete(s.c.key("tok", k.String()))})
	return err
}

// TokenSchedule implements datasource.Store. It returns ErrTampered when
// the datasource or the token record does not authenticate.
func (s *Store) TokenSchedule(ctx context.Context, k datasource.Key) (datasource.Schedule, error) {
	ctx, cancel := s.c.op(ctx)
	defer cancel()
	ops := []clientv3.Op{clientv3.OpGet(s.c.key("ds", k.Datasource)), clientv3.OpGet(s.c.key("tok", k.String()))}
	if k.EndUser != "" {
		ops = append(ops, clientv3.OpGet(s.c.key("conn", k.String()), clientv3.WithCountOnly()))
	}
	tr, err := s.c.c.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return datasource.Schedule{}, mapErr(err)
	}
	ds, tok := tr.Responses[0].GetResponseRange().Kvs, tr.Responses[1].GetResponseRange().Kvs
	if len(ds) == 0 || k.EndUser != "" && tr.Responses[2].GetResponseRange().Count == 0 {
		return datasource.Schedule{}, datasource.ErrNotFound
	}
	c := s.cdc()
	head, err := c.DatasourceHead(k.Datasource, ds[0].Value)
	if err != nil {
		return datasource.Schedule{}, err
	}
	var sc datasource.Schedule
	if len(tok) > 0 {
		if sc, err = c.DecodeSchedule(k, tok[0].Value); err != nil {
			return datasource.Schedule{}, err
		}
	}
	head.Fill(&sc)
	return sc, nil
}

// Schedules implements datasource.Store: paged range reads of datasources,
// token records and connections, joined. A datasource, connection or
// token record that does not authenticate is skipped (and logged): it is
// not planned, and reading it returns ErrTampered.
func (s *Store) Schedules(ctx context.Context, fn func(k datasource.Key, sc datasource.Schedule) error) error {
	c := s.cdc()
	heads := map[string]sealed.Head{}
	dp := s.c.key("ds") + "/"
	err := s.scan(ctx, dp, func(k, v []byte, _ int64) error {
		id := strings.TrimPrefix(string(k), dp)
		head, err := c.DatasourceHead(id, v)
		if errors.Is(err, datasource.ErrTampered) {
			return nil
		}
		if err != nil {
			return err
		}
		heads[id] = head
		return nil
	})
	if err != nil {
		return err
	}
	tokens := map[datasource.Key]datasource.Schedule{}
	refused := map[datasource.Key]bool{}
	tp := s.c.key("tok") + "/"
	err = s.scan(ctx, tp, func(k, v []byte, _ int64) error {
		key := datasource.ParseKey(strings.TrimPrefix(string(k), tp))
		sc, err := c.DecodeSchedule(key, v)
		if errors.Is(err, datasource.ErrTampered) {
			refused[key] = true
			return nil
		}
		if err != nil {
			return err
		}
		tokens[key] = sc
		return nil
	})
	if err != nil {
		return err
	}
	emit := func(key datasource.Key, head sealed.Head) error {
		if refused[key] {
			return nil
		}
		sc := tokens[key]
		head.Fill(&sc)
		return fn(key, sc)
	}
	for id, head := range heads {
		if !head.PerUser() {
			if err := emit(datasource.SharedKey(id), head); err != nil {
				return err
			}
		}
	}
	cp := s.c.key("conn") + "/"
	return s.scan(ctx, cp, func(k, _ []byte, _ int64) error {
		key := datasource.ParseKey(strings.TrimPrefix(string(k), cp))
		head, ok := heads[key.Datasource]
		if !ok || !head.PerUser() {
			return nil
		}
		return emit(key, head)
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

// PurgeStates implements datasource.Store. States that do not
// authenticate are removed too: nothing can consume them.
func (s *Store) PurgeStates(ctx context.Context, now time.Time) (int, error) {
	type victim struct {
		key string
		rev int64
	}
	var victims []victim
	c := s.cdc()
	sp := s.c.key("state") + "/"
	err := s.scan(ctx, sp, func(k, v []byte, rev int64) error {
		exp, err := c.StateExpiry(strings.TrimPrefix(string(k), sp), v)
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
