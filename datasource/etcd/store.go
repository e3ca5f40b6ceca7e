package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

var (
	_ datasource.Store       = (*Store)(nil)
	_ datasource.EventLog    = (*Store)(nil)
	_ datasource.Outbox      = (*Store)(nil)
	_ datasource.MetaCreator = (*Store)(nil)
	_ datasource.Watcher     = (*Store)(nil)
)

// Store is a datasource.Store (and datasource.EventLog and Outbox) in
// etcd. Safe for concurrent use.
type Store struct {
	c         *Client
	codecMu   sync.RWMutex // guards codec (Reseal replaces it)
	codec     sealed.Codec
	maxEvents int
	log       *slog.Logger

	ownMu sync.Mutex          // guards own
	own   map[int64]time.Time // revisions this store wrote, for Watch
}

// StoreOptions tune Open.
type StoreOptions struct {
	// MaxEvents caps the event log; default 10,000.
	MaxEvents int
	// Logger gets a line for each record refused because it does not
	// authenticate (kind and key, never content); default slog.Default().
	Logger *slog.Logger
}

// Open returns the store on c, sealing secrets and tagging records with
// s. It reads the schema marker first (see upgrade): a store written
// before records were authenticated is upgraded, once, whichever replicas
// start together. It returns an error matching datasource.ErrTampered
// when the marker does not authenticate with s (another keyset, or etcd
// was changed outside grantd), ErrSchema for a store of a newer version,
// or datasource.ErrUnavailable without a quorum.
func (c *Client) Open(s sealed.Sealer, o *StoreOptions) (*Store, error) {
	max := 10_000
	var log *slog.Logger
	if o != nil {
		if o.MaxEvents > 0 {
			max = o.MaxEvents
		}
		log = o.Logger
	}
	if log == nil {
		log = slog.Default()
	}
	st := &Store{c: c, codec: sealed.Codec{Sealer: s, Log: log}, maxEvents: max, log: log, own: map[int64]time.Time{}}
	if err := st.upgrade(context.Background()); err != nil {
		return nil, err
	}
	return st, nil
}

// Close does nothing: the Client owns the connection.
func (s *Store) Close() error { return nil }

func (s *Store) cdc() sealed.Codec {
	s.codecMu.RLock()
	defer s.codecMu.RUnlock()
	return s.codec
}

// wrote remembers a revision this store committed, so Watch can skip it.
func (s *Store) wrote(rev int64) {
	s.ownMu.Lock()
	defer s.ownMu.Unlock()
	now := time.Now()
	s.own[rev] = now
	if len(s.own) > 10_000 {
		for r, t := range s.own {
			if now.Sub(t) > time.Minute {
				delete(s.own, r)
			}
		}
	}
}

// isOwn reports whether this store wrote revision rev (every key of one
// transaction has the same revision, so the entry is kept until it ages
// out rather than removed at the first match).
func (s *Store) isOwn(rev int64) bool {
	s.ownMu.Lock()
	defer s.ownMu.Unlock()
	_, ok := s.own[rev]
	return ok
}

func (s *Store) txn(ctx context.Context, cmps []clientv3.Cmp, then []clientv3.Op, els ...clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := s.c.op(ctx)
	defer cancel()
	resp, err := s.c.c.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
	if err != nil {
		return nil, mapErr(err)
	}
	if resp.Succeeded {
		s.wrote(resp.Header.Revision)
	}
	return resp, nil
}

// get reads key. A read is repeatable, so it is tried in attempts within
// the request's deadline (see attempt): one that went to a member that
// hangs (before the health checks take it out of use) is tried again on
// another instead of waiting the whole deadline.
func (s *Store) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := s.c.op(ctx)
	defer cancel()
	for n := 0; ; n++ {
		var resp *clientv3.GetResponse
		timedOut, err := try(ctx, n, func(ctx context.Context) (err error) {
			resp, err = s.c.c.Get(ctx, key, opts...)
			return err
		})
		if err == nil || ctx.Err() != nil || !timedOut {
			return resp, mapErr(err)
		}
	}
}

// try runs op under the deadline of attempt n (within ctx's) and reports
// whether that attempt's deadline, not ctx's, cut it short.
func try(ctx context.Context, n int, op func(context.Context) error) (timedOut bool, err error) {
	actx, cancel := context.WithTimeout(ctx, attempt(n))
	defer cancel()
	err = op(actx)
	return errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil, err
}

// attempt bounds the n-th attempt (from 0) of a request tried again when
// one times out: a second, then two, then four. The first is long enough
// for a healthy member and short enough that one sent to a member that
// hangs costs little; the next are longer, so that a cluster that is
// merely slow (busy disks, a loaded machine) is not given up on: fixed
// one-second attempts all timed out there, where one long one would have
// succeeded.
func attempt(n int) time.Duration { return time.Second << min(n, 2) }

// CreateDatasource implements datasource.Store.
func (s *Store) CreateDatasource(ctx context.Context, d *datasource.Datasource) error {
	rec, err := s.cdc().EncodeDatasource(d)
	if err != nil {
		return err
	}
	dk, nk := s.c.key("ds", d.ID), s.c.key("name", datasource.NameKey(d.Name))
	resp, err := s.txn(ctx,
		[]clientv3.Cmp{clientv3.Compare(clientv3.Version(dk), "=", 0), clientv3.Compare(clientv3.Version(nk), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(dk, string(rec)), clientv3.OpPut(nk, d.ID)},
		clientv3.OpGet(nk))
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
			return datasource.ErrDuplicateName
		}
		return fmt.Errorf("etcd: datasource id %s already exists", d.ID)
	}
	return nil
}

// Datasource implements datasource.Store.
func (s *Store) Datasource(ctx context.Context, id string) (*datasource.Datasource, error) {
	resp, err := s.get(ctx, s.c.key("ds", id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeDatasource(id, resp.Kvs[0].Value)
}

// DatasourceByName implements datasource.Store. The names entry is checked
// against the record it points to: a record that does not authenticate,
// or whose name is not the one looked up, is refused.
func (s *Store) DatasourceByName(ctx context.Context, name string) (*datasource.Datasource, error) {
	nk := datasource.NameKey(name)
	resp, err := s.get(ctx, s.c.key("name", nk))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	d, err := s.Datasource(ctx, string(resp.Kvs[0].Value))
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, err // deleted meanwhile, or an entry pointing nowhere
	}
	if err != nil {
		return nil, err
	}
	if datasource.NameKey(d.Name) != nk {
		s.log.Error("stored record failed authentication; refusing it", "kind", "name", "id", nk)
		return nil, &sealed.RecordError{Kind: "name", ID: nk}
	}
	return d, nil
}

// ListDatasources implements datasource.Store. Datasources whose record
// does not authenticate are left out (and logged).
func (s *Store) ListDatasources(ctx context.Context) ([]*datasource.Datasource, error) {
	var out []*datasource.Datasource
	p := s.c.key("ds") + "/"
	c := s.cdc()
	err := s.scan(ctx, p, func(k, v []byte, _ int64) error {
		d, err := c.DecodeDatasource(strings.TrimPrefix(string(k), p), v)
		if errors.Is(err, datasource.ErrTampered) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// scan reads every key under prefix in pages, calling fn in key order.
func (s *Store) scan(ctx context.Context, prefix string, fn func(k, v []byte, modRev int64) error) error {
	return s.scanAt(ctx, prefix, 0, fn)
}

// scanAt is scan of the store as it was at revision rev (0: now).
func (s *Store) scanAt(ctx context.Context, prefix string, rev int64, fn func(k, v []byte, modRev int64) error) error {
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		resp, err := s.get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(1000),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithRev(rev))
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv.Key, kv.Value, kv.ModRevision); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// UpdateDatasource implements datasource.Store.
func (s *Store) UpdateDatasource(ctx context.Context, d *datasource.Datasource) (erased bool, err error) {
	rec, err := s.cdc().EncodeDatasource(d)
	if err != nil {
		return false, err
	}
	dk, tk := s.c.key("ds", d.ID), s.c.key("tok", d.ID)
	for attempt := 0; attempt < 10; attempt++ {
		resp, err := s.get(ctx, dk)
		if err != nil {
			return false, err
		}
		if len(resp.Kvs) == 0 {
			return false, datasource.ErrNotFound
		}
		old, err := s.cdc().DecodeDatasource(d.ID, resp.Kvs[0].Value)
		if err != nil {
			return false, err
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(dk), "=", resp.Kvs[0].ModRevision)}
		ops := []clientv3.Op{clientv3.OpPut(dk, string(rec))}
		renamed := datasource.NameKey(old.Name) != datasource.NameKey(d.Name)
		if renamed {
			nk := s.c.key("name", datasource.NameKey(d.Name))
			cmps = append(cmps, clientv3.Compare(clientv3.Version(nk), "=", 0))
			ops = append(ops, clientv3.OpDelete(s.c.key("name", datasource.NameKey(old.Name))), clientv3.OpPut(nk, d.ID))
		}
		modeChanged := old.ConnectionMode != d.ConnectionMode
		erase := !old.KeepsTokens(d) || modeChanged
		if modeChanged {
			// A change of mode ends the connections (no longer per user)
			// or starts without any.
			ops = append(ops, clientv3.OpDelete(s.c.key("conn", d.ID)+"/", clientv3.WithPrefix()))
		}
		if erase {
			// The shared record and every connection's, in one range:
			// tok/<id> and tok/<id>/… (ids have a fixed length, so the
			// range holds no other datasource's).
			ops = append(ops, clientv3.OpDelete(tk, clientv3.WithRange(clientv3.GetPrefixRangeEnd(tk+"/"))))
		}
		tr, err := s.txn(ctx, cmps, ops)
		if err != nil {
			return false, err
		}
		if tr.Succeeded {
			if erase {
				del := tr.Responses[len(tr.Responses)-1].GetResponseDeleteRange()
				erased = del != nil && del.Deleted > 0
			}
			return erased, nil
		}
		if renamed {
			if r, err := s.get(ctx, s.c.key("name", datasource.NameKey(d.Name))); err == nil && len(r.Kvs) > 0 {
				return false, datasource.ErrDuplicateName
			}
		}
		// The record changed meanwhile: read it again.
	}
	return false, errors.New("etcd: update kept conflicting")
}

// DeleteDatasource implements datasource.Store. A record that does not
// authenticate is deleted too (its names entries found by id, not by the
// name it claims), so that an operator can clear it.
func (s *Store) DeleteDatasource(ctx context.Context, id string) error {
	dk := s.c.key("ds", id)
	for attempt := 0; attempt < 10; attempt++ {
		resp, err := s.get(ctx, dk)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return datasource.ErrNotFound
		}
		c := s.cdc()
		tk := s.c.key("tok", id)
		ops := []clientv3.Op{clientv3.OpDelete(dk), clientv3.OpDelete(tk, clientv3.WithRange(clientv3.GetPrefixRangeEnd(tk+"/"))),
			clientv3.OpDelete(s.c.key("conn", id)+"/", clientv3.WithPrefix())}
		old, err := c.DecodeDatasource(id, resp.Kvs[0].Value)
		switch {
		case err == nil:
			ops = append(ops, clientv3.OpDelete(s.c.key("name", datasource.NameKey(old.Name))))
		case errors.Is(err, datasource.ErrTampered):
			// Its name cannot be trusted: remove the entries that point to it.
			err = s.scan(ctx, s.c.key("name")+"/", func(k, v []byte, _ int64) error {
				if string(v) == id && len(ops) < 60 {
					ops = append(ops, clientv3.OpDelete(string(k)))
				}
				return nil
			})
			if err != nil {
				return err
			}
		default:
			return err
		}
		sp := s.c.key("state") + "/"
		err = s.scan(ctx, sp, func(k, v []byte, _ int64) error {
			// A state that does not authenticate is left for PurgeStates.
			if ds, err := c.StateDatasource(strings.TrimPrefix(string(k), sp), v); err == nil && ds == id && len(ops) < 120 {
				ops = append(ops, clientv3.OpDelete(string(k)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(dk), "=", resp.Kvs[0].ModRevision)}, ops)
		if err != nil {
			return err
		}
		if tr.Succeeded {
			return nil
		}
	}
	return errors.New("etcd: delete kept conflicting")
}

// Meta implements datasource.Store.
func (s *Store) Meta(ctx context.Context, key string) ([]byte, error) {
	resp, err := s.get(ctx, s.c.key("meta", key))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeMeta(key, resp.Kvs[0].Value)
}

// SetMeta implements datasource.Store.
func (s *Store) SetMeta(ctx context.Context, key string, value []byte) error {
	v, err := s.cdc().EncodeMeta(key, value)
	if err != nil {
		return err
	}
	ctx, cancel := s.c.op(ctx)
	defer cancel()
	_, err = s.c.c.Put(ctx, s.c.key("meta", key), string(v))
	return mapErr(err)
}

// CreateMeta implements datasource.MetaCreator: it stores value under key
// only if the key is absent and reports whether it did, so replicas that
// start together agree on one admin token hash or session key.
func (s *Store) CreateMeta(ctx context.Context, key string, value []byte) (bool, error) {
	k := s.c.key("meta", key)
	v, err := s.cdc().EncodeMeta(key, value)
	if err != nil {
		return false, err
	}
	resp, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(k), "=", 0)}, []clientv3.Op{clientv3.OpPut(k, string(v))})
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}
