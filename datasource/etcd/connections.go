package etcd

import (
	"context"
	"errors"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/datasource"
)

// SaveConnection implements datasource.Store: a transaction on the
// datasource existing and on the connection's mod revision (so a
// concurrent reconnect keeps one createdAt), retried on a conflict.
func (s *Store) SaveConnection(ctx context.Context, cn *datasource.Connection) (bool, error) {
	ck, dk := s.c.key("conn", cn.Key().String()), s.c.key("ds", cn.DatasourceID)
	for attempt := 0; attempt < 10; attempt++ {
		resp, err := s.get(ctx, ck)
		if err != nil {
			return false, err
		}
		stored := *cn
		created := len(resp.Kvs) == 0
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.Version(dk), ">", 0)}
		if created {
			cmps = append(cmps, clientv3.Compare(clientv3.Version(ck), "=", 0))
		} else {
			prev, err := s.cdc().DecodeConnection(cn.Key(), resp.Kvs[0].Value)
			switch {
			case err == nil:
				stored.CreatedAt = prev.CreatedAt
			case !errors.Is(err, datasource.ErrTampered):
				return false, err
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ck), "=", resp.Kvs[0].ModRevision))
		}
		rec, err := s.cdc().EncodeConnection(&stored)
		if err != nil {
			return false, err
		}
		tr, err := s.txn(ctx, cmps, []clientv3.Op{clientv3.OpPut(ck, string(rec))}, clientv3.OpGet(dk, clientv3.WithCountOnly()))
		if err != nil {
			return false, err
		}
		if tr.Succeeded {
			return created, nil
		}
		if tr.Responses[0].GetResponseRange().Count == 0 {
			return false, datasource.ErrNotFound
		}
	}
	return false, errors.New("etcd: saving a connection kept conflicting")
}

// Connection implements datasource.Store.
func (s *Store) Connection(ctx context.Context, datasourceID, endUserID string) (*datasource.Connection, error) {
	k := datasource.Key{Datasource: datasourceID, EndUser: endUserID}
	resp, err := s.get(ctx, s.c.key("conn", k.String()))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeConnection(k, resp.Kvs[0].Value)
}

// ListConnections implements datasource.Store: a range read from the key
// after q.After, a page (and what the status filter skips) at a time,
// joined with the token records of the same range at the same revision.
func (s *Store) ListConnections(ctx context.Context, q datasource.ConnectionQuery) ([]datasource.ConnectionState, string, error) {
	limit := q.Limit
	if limit <= 0 || limit > datasource.MaxConnectionPage {
		limit = datasource.MaxConnectionPage
	}
	ds, err := s.get(ctx, s.c.key("ds", q.DatasourceID))
	if err != nil {
		return nil, "", err
	}
	if len(ds.Kvs) == 0 {
		return nil, "", datasource.ErrNotFound
	}
	c := s.cdc()
	head, err := c.DatasourceHead(q.DatasourceID, ds.Kvs[0].Value)
	if err != nil {
		return nil, "", err
	}
	cp := s.c.key("conn", q.DatasourceID) + "/"
	from := cp + q.Prefix
	if q.After != "" && q.After >= q.Prefix {
		from = cp + q.After + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(cp + q.Prefix)
	var out []datasource.ConnectionState
	for {
		resp, err := s.get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(int64(limit)+1),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		if err != nil {
			return nil, "", err
		}
		for _, kv := range resp.Kvs {
			key := datasource.Key{Datasource: q.DatasourceID, EndUser: strings.TrimPrefix(string(kv.Key), cp)}
			cn, err := c.DecodeConnection(key, kv.Value)
			if errors.Is(err, datasource.ErrTampered) {
				continue
			}
			if err != nil {
				return nil, "", err
			}
			tok, err := s.get(ctx, s.c.key("tok", key.String()), clientv3.WithRev(resp.Header.Revision))
			if err != nil {
				return nil, "", err
			}
			var sc datasource.Schedule
			if len(tok.Kvs) > 0 {
				sc, err = c.DecodeSchedule(key, tok.Kvs[0].Value)
				if errors.Is(err, datasource.ErrTampered) {
					continue
				}
				if err != nil {
					return nil, "", err
				}
			}
			head.Fill(&sc)
			if q.Status != "" && statusOf(sc) != q.Status {
				continue
			}
			if len(out) == limit {
				return out, out[len(out)-1].Connection.EndUserID, nil
			}
			out = append(out, datasource.ConnectionState{Connection: cn, Schedule: sc})
		}
		if !resp.More {
			return out, "", nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// statusOf is the status a schedule view shows.
func statusOf(sc datasource.Schedule) datasource.Status {
	if sc.Status == "" {
		return datasource.StatusUnauthorized
	}
	return sc.Status
}

// DeleteConnection implements datasource.Store.
func (s *Store) DeleteConnection(ctx context.Context, datasourceID, endUserID string) error {
	k := datasource.Key{Datasource: datasourceID, EndUser: endUserID}
	ck := s.c.key("conn", k.String())
	tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(ck), ">", 0)},
		[]clientv3.Op{clientv3.OpDelete(ck), clientv3.OpDelete(s.c.key("tok", k.String()))})
	if err != nil {
		return err
	}
	if !tr.Succeeded {
		return datasource.ErrNotFound
	}
	return nil
}
