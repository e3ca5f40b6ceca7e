package bolt

import (
	"bytes"
	"context"

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
		if tx.Bucket(bucketDatasources).Get([]byte(id)) == nil {
			return datasource.ErrNotFound
		}
		tokens := tx.Bucket(bucketTokens)
		var cur uint64
		if old := tokens.Get([]byte(id)); old != nil {
			g, err := sealed.TokenGeneration(old)
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

// TokenSchedule implements datasource.Store.
func (s *Store) TokenSchedule(ctx context.Context, id string) (datasource.Schedule, error) {
	var sc datasource.Schedule
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketDatasources).Get([]byte(id))
		if v == nil {
			return datasource.ErrNotFound
		}
		gt, err := sealed.GrantType(v)
		if err != nil {
			return err
		}
		if t := tx.Bucket(bucketTokens).Get([]byte(id)); t != nil {
			if sc, err = sealed.DecodeSchedule(t); err != nil {
				return err
			}
		}
		sc.GrantType = gt
		return nil
	})
	return sc, err
}

// Schedules implements datasource.Store.
func (s *Store) Schedules(ctx context.Context, fn func(id string, sc datasource.Schedule) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		tokens := tx.Bucket(bucketTokens)
		return tx.Bucket(bucketDatasources).ForEach(func(k, v []byte) error {
			gt, err := sealed.GrantType(v)
			if err != nil {
				return err
			}
			var sc datasource.Schedule
			if t := tokens.Get(k); t != nil {
				if sc, err = sealed.DecodeSchedule(t); err != nil {
					return err
				}
			}
			sc.GrantType = gt
			return fn(string(k), sc)
		})
	})
}
