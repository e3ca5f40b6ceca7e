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
func (s *Store) Reseal(ctx context.Context, with sealed.Sealer) (int, error) {
	next := sealed.Codec{Sealer: with}
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
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
			d, err := s.codec.DecodeDatasource(v)
			if err != nil {
				return nil, err
			}
			return next.EncodeDatasource(d)
		}); err != nil {
			return err
		}
		if err := rewrite(bucketTokens, func(k, v []byte) ([]byte, error) {
			t, err := s.codec.DecodeToken(string(k), v)
			if err != nil {
				return nil, err
			}
			return next.EncodeToken(string(k), t)
		}); err != nil {
			return err
		}
		return rewrite(bucketStates, func(k, v []byte) ([]byte, error) {
			st, err := s.codec.DecodeState(string(k), v)
			if err != nil {
				return nil, err
			}
			return next.EncodeState(st)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: reseal: %w", err)
	}
	s.codec = next
	return n, nil
}
