package bolt

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

var (
	_ datasource.EventLog = (*Store)(nil)
	_ datasource.Outbox   = (*Store)(nil)
)

var (
	bucketEvents     = []byte("events")
	bucketDeliveries = []byte("deliveries")
	keyEventCount    = []byte(eventCounter)
)

// DefaultMaxEvents is how many events the store keeps unless
// Options.MaxEvents says otherwise; older ones are dropped as new ones
// arrive (their pending deliveries are not).
const DefaultMaxEvents = 10_000

func deliveryKey(eventID, url string) []byte { return []byte(sealed.DeliveryKey(eventID, url)) }

// AppendEvents implements datasource.EventLog.
func (s *Store) AppendEvents(ctx context.Context, list []*datasource.Event, deliverTo []string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		for _, e := range list {
			if err := s.appendEvent(tx, c, e, deliverTo); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) appendEvent(tx *bbolt.Tx, c *sealed.Codec, e *datasource.Event, deliverTo []string) error {
	rec, err := c.EncodeEvent(e)
	if err != nil {
		return err
	}
	events := tx.Bucket(bucketEvents)
	if events.Get([]byte(e.ID)) != nil {
		return nil // the same event twice: keep it once
	}
	// The count lives in meta, so trimming is O(1), not a bucket walk.
	meta := tx.Bucket(bucketMeta)
	n, err := eventCount(c, meta, events)
	if err != nil {
		return err
	}
	if err := events.Put([]byte(e.ID), rec); err != nil {
		return err
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
	v, err := c.Wrap(sealed.KindStore, eventCounter, []byte(strconv.Itoa(n)))
	if err != nil {
		return err
	}
	if err := meta.Put(keyEventCount, v); err != nil {
		return err
	}
	deliveries := tx.Bucket(bucketDeliveries)
	for _, u := range deliverTo {
		d, err := c.EncodeDelivery(&datasource.Delivery{EventID: e.ID, URL: u, NextAt: e.Time})
		if err != nil {
			return err
		}
		if err := deliveries.Put(deliveryKey(e.ID, u), d); err != nil {
			return err
		}
	}
	return nil
}

// eventCount is the number of stored events: the counter in meta, or, when
// that does not authenticate, a count of the bucket.
func eventCount(c *sealed.Codec, meta, events *bbolt.Bucket) (int, error) {
	v := meta.Get(keyEventCount)
	if v == nil {
		return 0, nil
	}
	rec, err := c.Unwrap(sealed.KindStore, eventCounter, v)
	if err == nil {
		if n, err := strconv.Atoi(string(rec)); err == nil {
			return n, nil
		}
	}
	n := 0
	err = events.ForEach(func(_, _ []byte) error { n++; return nil })
	return n, err
}

// ListEvents implements datasource.EventLog.
func (s *Store) ListEvents(ctx context.Context, q datasource.EventQuery) ([]*datasource.Event, error) {
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	var out []*datasource.Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		cdc := s.codec.Load()
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
			e, err := cdc.DecodeEvent(string(k), v)
			if errors.Is(err, datasource.ErrTampered) {
				continue // refused and logged; the others are listed
			}
			if err != nil {
				return err
			}
			if !q.Matches(e) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Event implements datasource.EventLog.
func (s *Store) Event(ctx context.Context, id string) (*datasource.Event, error) {
	var e *datasource.Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		v := tx.Bucket(bucketEvents).Get([]byte(id))
		if v == nil {
			return datasource.ErrNotFound
		}
		var err error
		e, err = c.DecodeEvent(id, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// DueDeliveries implements datasource.Outbox. Deliveries that do not
// authenticate are skipped (and logged), never handed out.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*datasource.Delivery, error) {
	var out []*datasource.Delivery
	err := s.db.Update(func(tx *bbolt.Tx) error {
		cdc := s.codec.Load()
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
			d, err := cdc.DecodeDelivery(string(k), v)
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			if !d.NextAt.After(now) {
				claims = append(claims, claim{bytes.Clone(k), d})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range claims {
			leased := *c.d
			leased.NextAt = now.Add(lease)
			v, err := cdc.EncodeDelivery(&leased)
			if err != nil {
				return err
			}
			if err := b.Put(c.k, v); err != nil {
				return err
			}
			out = append(out, c.d)
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
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		return tx.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			d, err := c.DecodeDelivery(string(k), v)
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
	v, err := s.codec.Load().EncodeDelivery(d)
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
