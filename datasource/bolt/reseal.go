package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// Reseal re-encrypts every sealed value and re-tags every record under the
// primary key of with, in one transaction, and from then on seals and tags
// with it. A record that does not authenticate is left as it is (still
// refused, and logged): re-tagging it would make it authentic. The store must have been
// opened with a sealer that opens the existing data (with is usually that
// keyset rotated: it holds the old keys too). It returns how many records
// it rewrote, the store's own bookkeeping not counted. On error nothing is
// changed.
//
// Reseal is safe to call while the store is in use. Reads and writes go
// on; from just before the commit they open and seal with with, so with
// must open the old records too, as a rotated keyset does. A write that
// races with Reseal may still be sealed under the old primary key (and, if
// the commit fails, under with's); running Reseal again re-encrypts it.
// grantd keys rotate runs with the server stopped, so nothing races there.
func (s *Store) Reseal(ctx context.Context, with sealed.Sealer) (int, error) {
	next := &sealed.Codec{Sealer: with, Log: s.log}
	var cur *sealed.Codec
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		cur = s.codec.Load()
		n = 0
		rewrite := func(bucket []byte, f func(k string, v []byte) ([]byte, error)) error {
			b := tx.Bucket(bucket)
			type kv struct{ k, v []byte }
			var out []kv
			if err := b.ForEach(func(k, v []byte) error {
				nv, err := f(string(k), v)
				if errors.Is(err, datasource.ErrTampered) {
					return nil // refused and logged; never re-tagged
				}
				if err != nil || nv == nil {
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
		rewrap := func(kind string) func(k string, v []byte) ([]byte, error) {
			return func(k string, v []byte) ([]byte, error) { return cur.Rewrap(*next, kind, k, v) }
		}
		err := errors.Join(
			rewrite(bucketDatasources, func(k string, v []byte) ([]byte, error) {
				d, err := cur.DecodeDatasource(k, v)
				if err != nil {
					return nil, err
				}
				return next.EncodeDatasource(d)
			}),
			rewrite(bucketTokens, func(k string, v []byte) ([]byte, error) {
				t, err := cur.DecodeToken(datasource.ParseKey(k), v)
				if err != nil {
					return nil, err
				}
				return next.EncodeToken(datasource.ParseKey(k), t)
			}),
			rewrite(bucketConnections, rewrap(sealed.KindConnection)),
			rewrite(bucketAPIKeys, rewrap(sealed.KindAPIKey)),
			rewrite(bucketAgentSessions, rewrap(sealed.KindAgentSession)),
			rewrite(bucketStates, func(k string, v []byte) ([]byte, error) {
				st, err := cur.DecodeState(k, v)
				if err != nil {
					return nil, err
				}
				return next.EncodeState(st)
			}),
			rewrite(bucketEvents, rewrap(sealed.KindEvent)),
			rewrite(bucketDeliveries, rewrap(sealed.KindDelivery)),
			rewrite(bucketMeta, func(k string, v []byte) ([]byte, error) {
				if key, ok := strings.CutPrefix(k, metaPrefix); ok {
					return cur.Rewrap(*next, sealed.KindMeta, key, v)
				}
				return nil, nil // bookkeeping: below, not counted
			}),
		)
		if err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		for _, k := range []string{schemaKey, eventCounter} {
			if v := meta.Get([]byte(k)); v != nil {
				nv, err := cur.Rewrap(*next, sealed.KindStore, k, v)
				if errors.Is(err, datasource.ErrTampered) {
					continue
				}
				if err != nil {
					return err
				}
				if err := meta.Put([]byte(k), nv); err != nil {
					return err
				}
			}
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
