package bolt

import (
	"bytes"
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
)

// SaveState implements datasource.Store.
func (s *Store) SaveState(ctx context.Context, st *datasource.State) error {
	rec, err := s.codec.Load().EncodeState(st)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketDatasources).Get([]byte(st.DatasourceID)) == nil {
			return datasource.ErrNotFound
		}
		return tx.Bucket(bucketStates).Put([]byte(st.Key), rec)
	})
}

// State implements datasource.Store.
func (s *Store) State(ctx context.Context, key string) (*datasource.State, error) {
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec = bytes.Clone(tx.Bucket(bucketStates).Get([]byte(key)))
		if rec == nil {
			return datasource.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.codec.Load().DecodeState(key, rec)
}

// ConsumeState implements datasource.Store: the read and the delete are one
// transaction, so a state is handed out at most once.
func (s *Store) ConsumeState(ctx context.Context, key string) (*datasource.State, error) {
	var rec []byte
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketStates)
		rec = bytes.Clone(b.Get([]byte(key)))
		if rec == nil {
			return datasource.ErrNotFound
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return nil, err
	}
	return s.codec.Load().DecodeState(key, rec)
}

// PurgeStates implements datasource.Store. States that do not
// authenticate are removed too: nothing can consume them.
func (s *Store) PurgeStates(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		b := tx.Bucket(bucketStates)
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			exp, err := c.StateExpiry(string(k), v)
			if err != nil || !now.Before(exp) {
				expired = append(expired, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	return n, err
}

// Meta implements datasource.Store.
func (s *Store) Meta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketMeta).Get([]byte(metaPrefix + key)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, datasource.ErrNotFound
	}
	return s.codec.Load().DecodeMeta(key, v)
}

// SetMeta implements datasource.Store.
func (s *Store) SetMeta(ctx context.Context, key string, value []byte) error {
	v, err := s.codec.Load().EncodeMeta(key, value)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(metaPrefix+key), v)
	})
}
