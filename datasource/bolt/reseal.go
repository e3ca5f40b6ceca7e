package bolt

import (
	"bytes"
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource/sealed"
)

// Reseal re-encrypts every sealed value under the primary key of with, in
// one transaction, and from then on seals with it. The store must have been
// opened with a sealer that opens the existing data (with is usually that
// keyset rotated: it holds the old keys too). It returns how many records
// it rewrote. On error nothing is changed.
//
// Reseal is safe to call while the store is in use. Reads and writes go
// on; from just before the commit they open and seal with with, so with
// must open the old records too, as a rotated keyset does. A write that
// races with Reseal may still be sealed under the old primary key (and, if
// the commit fails, under with's); running Reseal again re-encrypts it.
// grantd keys rotate runs with the server stopped, so nothing races there.
func (s *Store) Reseal(ctx context.Context, with sealed.Sealer) (int, error) {
	next := &sealed.Codec{Sealer: with}
	var cur *sealed.Codec
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		cur = s.codec.Load()
		rewrite := func(bucket []byte, f func(k, v []byte) ([]byte, error)) error {
			b := tx.Bucket(bucket)
			type kv struct{ k, v []byte }
			var out []kv
			if err := b.ForEach(func(k, v []byte) error {
				nv, err := f(k, v)
				if err != nil {
					return err
				}
				out = append(out, kv{bytes.Clone(k), nv})
				return nil
			}); err != nil {
				return err
			}
			for _, e := range out {
				if err := b.Put(e.k, e.v); err != nil {
					return err
				}
			}
			n += len(out)
			return nil
		}
		if err := rewrite(bucketDatasources, func(k, v []byte) ([]byte, error) {
			d, err := cur.DecodeDatasource(v)
			if err != nil {
				return nil, err
			}
			return next.EncodeDatasource(d)
		}); err != nil {
			return err
		}
		if err := rewrite(bucketTokens, func(k, v []byte) ([]byte, error) {
			t, err := cur.DecodeToken(string(k), v)
			if err != nil {
				return nil, err
			}
			return next.EncodeToken(string(k), t)
		}); err != nil {
			return err
		}
		if err := rewrite(bucketStates, func(k, v []byte) ([]byte, error) {
			st, err := cur.DecodeState(string(k), v)
			if err != nil {
				return nil, err
			}
			return next.EncodeState(st)
		}); err != nil {
			return err
		}
		// Switch before the commit, not after: readers see the resealed
		// records the moment it ends, and the old sealer cannot open
		// them. Until then they read old records, which next opens too.
		s.codec.Store(next)
		return nil
	})
	if err != nil {
		s.codec.CompareAndSwap(next, cur) // the commit failed: back to the old sealer
		return 0, fmt.Errorf("bolt: reseal: %w", err)
	}
	return n, nil
}
