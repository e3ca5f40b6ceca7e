package bolt

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
)

// bucketAPIKeys holds API keys by id (hashes, never the keys).
var bucketAPIKeys = []byte("apikeys")

// CreateAPIKey implements datasource.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *datasource.APIKey) error {
	rec, err := s.codec.Load().EncodeAPIKey(k)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		if b.Get([]byte(k.ID)) != nil {
			return fmt.Errorf("bolt: API key id %s already exists", k.ID)
		}
		return b.Put([]byte(k.ID), rec)
	})
}

// APIKeys implements datasource.Store. A key that does not authenticate is
// left out (and logged): it no longer works.
func (s *Store) APIKeys(ctx context.Context) ([]*datasource.APIKey, error) {
	var out []*datasource.APIKey
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		return tx.Bucket(bucketAPIKeys).ForEach(func(k, v []byte) error {
			key, err := c.DecodeAPIKey(string(k), v)
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			out = append(out, key)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// DeleteAPIKey implements datasource.Store.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		if b.Get([]byte(id)) == nil {
			return datasource.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
}

// TouchAPIKeys implements datasource.Store.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		b := tx.Bucket(bucketAPIKeys)
		for id, at := range used {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			k, err := c.DecodeAPIKey(id, v)
			if err != nil {
				continue // refused: left as it is
			}
			if !at.After(k.LastUsedAt) {
				continue
			}
			k.LastUsedAt = at
			rec, err := c.EncodeAPIKey(k)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(id), rec); err != nil {
				return err
			}
		}
		return nil
	})
}
