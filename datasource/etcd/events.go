package etcd

import (
	"context"
	"errors"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/datasource"
)

func (s *Store) dlvKey(eventID, url string) string { return s.c.key("dlv", eventID) + "/" + url }

// AppendEvents implements datasource.EventLog: the events and their
// deliveries in one transaction (each event only if it is new).
func (s *Store) AppendEvents(ctx context.Context, list []*datasource.Event, deliverTo []string) error {
	for len(list) > 0 {
		// etcd caps operations per transaction (128 by default).
		n := min(len(list), 60/(2+len(deliverTo)))
		n = max(n, 1)
		var ops []clientv3.Op
		c := s.cdc()
		for _, e := range list[:n] {
			b, err := c.EncodeEvent(e)
			if err != nil {
				return err
			}
			k := s.c.key("ev", e.ID)
			puts := []clientv3.Op{clientv3.OpPut(k, string(b))}
			for _, u := range deliverTo {
				d, err := c.EncodeDelivery(&datasource.Delivery{EventID: e.ID, URL: u, NextAt: e.Time})
				if err != nil {
					return err
				}
				puts = append(puts, clientv3.OpPut(s.dlvKey(e.ID, u), string(d)))
			}
			// Only a new event is written, with its deliveries.
			ops = append(ops, clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Version(k), "=", 0)}, puts, nil))
		}
		if _, err := s.txn(ctx, nil, ops); err != nil {
			return err
		}
		list = list[n:]
	}
	return s.trimEvents(ctx)
}

// trimEvents drops the oldest events beyond the cap.
func (s *Store) trimEvents(ctx context.Context) error {
	p := s.c.key("ev") + "/"
	resp, err := s.get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	extra := int(resp.Count) - s.maxEvents
	if extra <= 0 {
		return nil
	}
	old, err := s.get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(extra)),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return err
	}
	var ops []clientv3.Op
	for _, kv := range old.Kvs {
		ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		if len(ops) == 100 {
			if _, err := s.txn(ctx, nil, ops); err != nil {
				return err
			}
			ops = nil
		}
	}
	if len(ops) > 0 {
		_, err = s.txn(ctx, nil, ops)
	}
	return err
}

// ListEvents implements datasource.EventLog.
func (s *Store) ListEvents(ctx context.Context, q datasource.EventQuery) ([]*datasource.Event, error) {
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	p := s.c.key("ev") + "/"
	end := p + "\xff"
	if q.Before != "" {
		end = p + q.Before
	}
	var out []*datasource.Event
	c := s.cdc()
	for len(out) < limit {
		resp, err := s.get(ctx, p, clientv3.WithRange(end), clientv3.WithLimit(500),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		if err != nil {
			return nil, err
		}
		for _, kv := range resp.Kvs {
			e, err := c.DecodeEvent(strings.TrimPrefix(string(kv.Key), p), kv.Value)
			if errors.Is(err, datasource.ErrTampered) {
				continue // refused and logged; the others are listed
			}
			if err != nil {
				return nil, err
			}
			if q.Matches(e) {
				out = append(out, e)
				if len(out) == limit {
					break
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key)
	}
	return out, nil
}

// Event implements datasource.EventLog.
func (s *Store) Event(ctx context.Context, id string) (*datasource.Event, error) {
	resp, err := s.get(ctx, s.c.key("ev", id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, datasource.ErrNotFound
	}
	return s.cdc().DecodeEvent(id, resp.Kvs[0].Value)
}

// DueDeliveries implements datasource.Outbox: each due delivery is claimed
// with a transaction on its mod revision, so two replicas do not both send
// it (until the lease runs out). Deliveries that do not authenticate are
// skipped (and logged), never handed out.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*datasource.Delivery, error) {
	var out []*datasource.Delivery
	c := s.cdc()
	p := s.c.key("dlv") + "/"
	err := s.scan(ctx, p, func(k, v []byte, rev int64) error {
		if len(out) >= limit {
			return nil
		}
		d, err := c.DecodeDelivery(deliveryKey(strings.TrimPrefix(string(k), p)), v)
		if errors.Is(err, datasource.ErrTampered) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.NextAt.After(now) {
			return nil
		}
		leased := *d
		leased.NextAt = now.Add(lease)
		b, err := c.EncodeDelivery(&leased)
		if err != nil {
			return err
		}
		tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(k)), "=", rev)}, []clientv3.Op{clientv3.OpPut(string(k), string(b))})
		if err != nil {
			return err
		}
		if tr.Succeeded {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// NextDelivery implements datasource.Outbox. Deliveries that do not
// authenticate are skipped (and logged).
func (s *Store) NextDelivery(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	found := false
	c := s.cdc()
	p := s.c.key("dlv") + "/"
	err := s.scan(ctx, p, func(k, v []byte, _ int64) error {
		d, err := c.DecodeDelivery(deliveryKey(strings.TrimPrefix(string(k), p)), v)
		if errors.Is(err, datasource.ErrTampered) {
			return nil
		}
		if err != nil {
			return err
		}
		if !found || d.NextAt.Before(at) {
			at, found = d.NextAt, true
		}
		return nil
	})
	return at, found, err
}

// FinishDelivery implements datasource.Outbox.
func (s *Store) FinishDelivery(ctx context.Context, d *datasource.Delivery) error {
	_, err := s.txn(ctx, nil, []clientv3.Op{clientv3.OpDelete(s.dlvKey(d.EventID, d.URL))})
	return err
}

// RetryDelivery implements datasource.Outbox.
func (s *Store) RetryDelivery(ctx context.Context, d *datasource.Delivery) error {
	k := s.dlvKey(d.EventID, d.URL)
	b, err := s.cdc().EncodeDelivery(d)
	if err != nil {
		return err
	}
	_, err = s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(k), ">", 0)}, []clientv3.Op{clientv3.OpPut(k, string(b))})
	return err
}
