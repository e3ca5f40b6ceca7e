package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
)

var (
	_ datasource.EventLog = (*Store)(nil)
	_ datasource.Outbox   = (*Store)(nil)
)

var (
	bucketEvents     = []byte("events")
	bucketDeliveries = []byte("deliveries")
	keyEventCount    = []byte("events:count")
)

// DefaultMaxEvents is how many events the store keeps unless
// Options.MaxEvents says otherwise; older ones are dropped as new ones
// arrive (their pending deliveries are not).
const DefaultMaxEvents = 10_000

func deliveryKey(eventID, url string) []byte { return []byte(eventID + "\x00" + url) }

// AppendEvents implements datasource.EventLog.
func (s *Store) AppendEvents(ctx context.Context, list []*datasource.Event, deliverTo []string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, e := range list {
			if err := s.appendEvent(tx, e, deliverTo); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) appendEvent(tx *bbolt.Tx, e *datasource.Event, deliverTo []string) error {
	rec, err := json.Marshal(e)
	if err != nil {
		return err
	}
	{
		events := tx.Bucket(bucketEvents)
		if events.Get([]byte(e.ID)) != nil {
			return nil // the same event twice: keep it once
		}
		if err := events.Put([]byte(e.ID), rec); err != nil {
			return err
		}
		// The count lives in meta, so trimming is O(1), not a bucket walk.
		meta := tx.Bucket(bucketMeta)
		n := 0
		if v := meta.Get(keyEventCount); v != nil {
			n, _ = strconv.Atoi(string(v))
		}
		for n++; n > s.maxEvents; n-- {
			k, _ := events.Cursor().First()
			if k == nil {
				break
			}
			if err := events.Delete(k); err != nil {
				return err
			}
		}
		if err := meta.Put(keyEventCount, []byte(strconv.Itoa(n))); err != nil {
			return err
		}
		deliveries := tx.Bucket(bucketDeliveries)
		for _, u := range deliverTo {
			d, err := json.Marshal(&datasource.Delivery{EventID: e.ID, URL: u, NextAt: e.Time})
			if err != nil {
				return err
			}
			if err := deliveries.Put(deliveryKey(e.ID, u), d); err != nil {
				return err
			}
		}
		return nil
	}
}

// ListEvents implements datasource.EventLog.
func (s *Store) ListEvents(ctx context.Context, q datasource.EventQuery) ([]*datasource.Event, error) {
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	var out []*datasource.Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		var k, v []byte
		if q.Before != "" {
			// Seek lands on Before or the next key; the page starts just
			// before it.
			if k, _ = c.Seek([]byte(q.Before)); k != nil {
				k, v = c.Prev()
			} else {
				k, v = c.Last()
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var e datasource.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if q.DatasourceID != "" && e.DatasourceID != q.DatasourceID {
				continue
			}
			out = append(out, &e)
		}
		return nil
	})
	return out, err
}

// Event implements datasource.EventLog.
func (s *Store) Event(ctx context.Context, id string) (*datasource.Event, error) {
	var e *datasource.Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketEvents).Get([]byte(id))
		if v == nil {
			return datasource.ErrNotFound
		}
		e = &datasource.Event{}
		return json.Unmarshal(v, e)
	})
	return e, err
}

// DueDeliveries implements datasource.Outbox.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*datasource.Delivery, error) {
	var out []*datasource.Delivery
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		type claim struct {
			k []byte
			d *datasource.Delivery
		}
		var claims []claim
		err := b.ForEach(func(k, v []byte) error {
			if len(claims) >= limit {
				return nil
			}
			var d datasource.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if !d.NextAt.After(now) {
				claims = append(claims, claim{bytes.Clone(k), &d})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range claims {
			leased := *c.d
			leased.NextAt = now.Add(lease)
			v, _ := json.Marshal(&leased)
			if err := b.Put(c.k, v); err != nil {
				return err
			}
			out = append(out, c.d)
		}
		return nil
	})
	return out, err
}

// NextDelivery implements datasource.Outbox.
func (s *Store) NextDelivery(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	found := false
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			var d datasource.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if !found || d.NextAt.Before(at) {
				at, found = d.NextAt, true
			}
			return nil
		})
	})
	return at, found, err
}

// FinishDelivery implements datasource.Outbox.
func (s *Store) FinishDelivery(ctx context.Context, d *datasource.Delivery) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDeliveries).Delete(deliveryKey(d.EventID, d.URL))
	})
}

// RetryDelivery implements datasource.Outbox.
func (s *Store) RetryDelivery(ctx context.Context, d *datasource.Delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		k := deliveryKey(d.EventID, d.URL)
		if b.Get(k) == nil {
			return nil // delivered meanwhile by another attempt
		}
		return b.Put(k, v)
	})
}
