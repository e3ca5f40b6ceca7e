package bolt

import (
	"bytes"
	"context"
	"errors"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// Token records live in the tokens bucket under Key.String(): a shared
// datasource's under its id, a connection's under "<id>/<end user>" — so a
// datasource's connections are the keys with the prefix "<id>/", in end
// user order.

// TokenRecord implements datasource.Store.
func (s *Store) TokenRecord(ctx context.Context, k datasource.Key) (*datasource.TokenRecord, error) {
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec = bytes.Clone(tx.Bucket(bucketTokens).Get([]byte(k.String())))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, datasource.ErrNotFound
	}
	return s.codec.Load().DecodeToken(k, rec)
}

// SaveTokenRecord implements datasource.Store. Concurrent saves are
// committed together in one transaction (bbolt's Batch), which is what lets
// the background refresher persist thousands of tokens a second.
func (s *Store) SaveTokenRecord(ctx context.Context, k datasource.Key, r *datasource.TokenRecord, prev uint64) error {
	rec, err := s.codec.Load().EncodeToken(k, r)
	if err != nil {
		return err
	}
	key := []byte(k.String())
	return s.db.Batch(func(tx *bbolt.Tx) error {
		c := s.codec.Load() // in the transaction: see codec on Store
		if tx.Bucket(bucketDatasources).Get([]byte(k.Datasource)) == nil {
			return datasource.ErrNotFound
		}
		if k.EndUser != "" && tx.Bucket(bucketConnections).Get(key) == nil {
			return datasource.ErrNotFound
		}
		tokens := tx.Bucket(bucketTokens)
		var cur uint64
		if old := tokens.Get(key); old != nil {
			// A stored record that does not authenticate has no
			// generation to compare: ErrTampered, and it stays.
			g, err := c.TokenGeneration(k, old)
			if err != nil {
				return err
			}
			cur = g
		}
		if cur != prev {
			return datasource.ErrConflict
		}
		return tokens.Put(key, rec)
	})
}

// DeleteTokenRecord implements datasource.Store.
func (s *Store) DeleteTokenRecord(ctx context.Context, k datasource.Key) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTokens).Delete([]byte(k.String()))
	})
}

// TokenSchedule implements datasource.Store. It returns ErrTampered when
// the datasource or the token record does not authenticate.
func (s *Store) TokenSchedule(ctx context.Context, k datasource.Key) (datasource.Schedule, error) {
	var sc datasource.Schedule
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		ds := tx.Bucket(bucketDatasources).Get([]byte(k.Datasource))
		if ds == nil {
			return datasource.ErrNotFound
		}
		head, err := c.DatasourceHead(k.Datasource, ds)
		if err != nil {
			return err
		}
		key := []byte(k.String())
		if k.EndUser != "" && tx.Bucket(bucketConnections).Get(key) == nil {
			return datasource.ErrNotFound
		}
		sc, err = schedule(c, head, k, tx.Bucket(bucketTokens).Get(key))
		return err
	})
	return sc, err
}

// schedule is the planning view of k from its datasource's head and its
// token record (nil when it has none).
func schedule(c *sealed.Codec, head sealed.Head, k datasource.Key, tok []byte) (datasource.Schedule, error) {
	var sc datasource.Schedule
	if tok != nil {
		var err error
		if sc, err = c.DecodeSchedule(k, tok); err != nil {
			return datasource.Schedule{}, err
		}
	}
	head.Fill(&sc)
	return sc, nil
}

// Schedules implements datasource.Store: every shared datasource, then
// every connection. A datasource, connection or token record that does not
// authenticate is skipped (and logged): it is not planned, and reading it
// returns ErrTampered.
func (s *Store) Schedules(ctx context.Context, fn func(k datasource.Key, sc datasource.Schedule) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		tokens := tx.Bucket(bucketTokens)
		heads := map[string]sealed.Head{}
		err := tx.Bucket(bucketDatasources).ForEach(func(k, v []byte) error {
			id := string(k)
			head, err := c.DatasourceHead(id, v)
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			heads[id] = head
			if head.PerUser() {
				return nil // its tokens are its connections'
			}
			key := datasource.SharedKey(id)
			sc, err := schedule(c, head, key, tokens.Get(k))
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			return fn(key, sc)
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketConnections).ForEach(func(k, _ []byte) error {
			key := datasource.ParseKey(string(k))
			head, ok := heads[key.Datasource]
			if !ok || !head.PerUser() {
				return nil // refused, or left from a change of mode
			}
			sc, err := schedule(c, head, key, tokens.Get(k))
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			return fn(key, sc)
		})
	})
}

// deleteTokensOf erases the token records of datasource id: the shared one
// and every connection's. It reports whether there was any.
func deleteTokensOf(tx *bbolt.Tx, id string) (bool, error) {
	tokens := tx.Bucket(bucketTokens)
	any := tokens.Get([]byte(id)) != nil
	if err := tokens.Delete([]byte(id)); err != nil {
		return false, err
	}
	n, err := deletePrefix(tokens, []byte(id+"/"))
	return any || n > 0, err
}

// deletePrefix removes every key of b that starts with prefix.
func deletePrefix(b *bbolt.Bucket, prefix []byte) (int, error) {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
