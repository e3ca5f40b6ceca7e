package bolt

import (
	"bytes"
	"context"
	"errors"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// TokenRecord implements datasource.Store.
func (s *Store) TokenRecord(ctx context.Context, id string) (*datasource.TokenRecord, error) {
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec = bytes.Clone(tx.Bucket(bucketTokens).Get([]byte(id)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, datasource.ErrNotFound
	}
	return s.codec.Load().DecodeToken(id, rec)
}

// SaveTokenRecord implements datasource.Store. Concurrent saves are
// committed together in one transaction (bbolt's Batch), which is what lets
// the background refresher persist thousands of tokens a second.
func (s *Store) SaveTokenRecord(ctx context.Context, id string, r *datasource.TokenRecord, prev uint64) error {
	rec, err := s.codec.Load().EncodeToken(id, r)
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		c := s.codec.Load() // in the transaction: see codec on Store
		if tx.Bucket(bucketDatasources).Get([]byte(id)) == nil {
			return datasource.ErrNotFound
		}
		tokens := tx.Bucket(bucketTokens)
		var cur uint64
		if old := tokens.Get([]byte(id)); old != nil {
			// A stored record that does not authenticate has no
			// generation to compare: ErrTampered, and it stays.
			g, err := c.TokenGeneration(id, old)
			if err != nil {
				return err
			}
			cur = g
		}
		if cur != prev {
			return datasource.ErrConflict
		}
		return tokens.Put([]byte(id), rec)
	})
}

// DeleteTokenRecord implements datasource.Store.
func (s *Store) DeleteTokenRecord(ctx context.Context, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTokens).Delete([]byte(id))
	})
}

// TokenSchedule implements datasource.Store. It returns ErrTampered when
// the datasource or its token record does not authenticate.
func (s *Store) TokenSchedule(ctx context.Context, id string) (datasource.Schedule, error) {
	var sc datasource.Schedule
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		c := s.codec.Load()
		sc, err = schedule(c, id, tx.Bucket(bucketDatasources).Get([]byte(id)), tx.Bucket(bucketTokens).Get([]byte(id)))
		return err
	})
	return sc, err
}

// schedule is the planning view of datasource id from its stored record
// and token record (nil when it has none).
func schedule(c *sealed.Codec, id string, ds, tok []byte) (datasource.Schedule, error) {
	if ds == nil {
		return datasource.Schedule{}, datasource.ErrNotFound
	}
	gt, err := c.GrantType(id, ds)
	if err != nil {
		return datasource.Schedule{}, err
	}
	var sc datasource.Schedule
	if tok != nil {
		if sc, err = c.DecodeSchedule(id, tok); err != nil {
			return datasource.Schedule{}, err
		}
	}
	sc.GrantType = gt
	return sc, nil
}

// Schedules implements datasource.Store. A datasource whose record or
// token record does not authenticate is skipped (and logged): it is not
// planned, and reading it returns ErrTampered.
func (s *Store) Schedules(ctx context.Context, fn func(id string, sc datasource.Schedule) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		tokens := tx.Bucket(bucketTokens)
		return tx.Bucket(bucketDatasources).ForEach(func(k, v []byte) error {
			id := string(k)
			sc, err := schedule(c, id, v, tokens.Get(k))
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			return fn(id, sc)
		})
	})
}
