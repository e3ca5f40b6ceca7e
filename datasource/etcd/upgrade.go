package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// SchemaVersion is the layout version this package writes and reads.
// Version 1 had no schema marker, and records without tags; version 2
// authenticates every record (see sealed.Codec.Wrap). Open upgrades a
// version 1 store.
const SchemaVersion = 2

// ErrSchema is returned by Open for a store written by a newer grantd.
var ErrSchema = errors.New("etcd: the store has a schema this grantd does not know")

// schemaMarker is the record under <prefix>schema, tagged like every
// other, so it says two things: the version, and that this keyset wrote
// the store.
type schemaMarker struct {
	Version int `json:"version"`
	// UpgradeUpTo is set while an upgrade from version 1 runs: records
	// last written at or before this etcd revision are tagged as they are;
	// later untagged ones are not (an older grantd still running, or
	// someone writing into etcd, after the upgrade began), and so stay
	// refused.
	UpgradeUpTo int64 `json:"upgradeUpTo,omitempty"`
}

const schemaKey = "schema"

// recordPrefixes are the kinds of record under the prefix, by key prefix.
var recordPrefixes = []struct{ dir, kind string }{
	{"ds", sealed.KindDatasource},
	{"tok", sealed.KindToken},
	{"state", sealed.KindState},
	{"ev", sealed.KindEvent},
	{"dlv", sealed.KindDelivery},
	{"meta", sealed.KindMeta},
}

// codecKey is the key a record stored under dir/<key> is tagged with.
func codecKey(kind, key string) string {
	if kind == sealed.KindDelivery {
		return deliveryKey(key)
	}
	return key
}

// upgrade reads the schema marker and, for a store of version 1, tags
// every record, once, however many replicas start together:
//
//  1. The first replica to find no marker (and records) checks the store
//     (it must hold no tagged record, and its secrets must open with this
//     keyset), then creates the marker with UpgradeUpTo = the revision it
//     read at, in a transaction that succeeds only if there is still no
//     marker. The others read that marker.
//  2. Every replica with an unfinished marker tags the untagged records
//     written at or before UpgradeUpTo, each in a transaction on its mod
//     revision: one replica tags a record, the others' transactions fail
//     and move on.
//  3. The marker is replaced by the finished one in a transaction on its
//     value. A replica that dies midway leaves the marker unfinished, and
//     the next Open finishes the job.
//
// A store with tagged records but no marker was relabelled by someone who
// wants their records tagged; it is refused. Stop every replica of the
// older version before starting this one: their writes after step 1 are
// not tagged.
func (s *Store) upgrade(ctx context.Context) error {
	k := s.c.prefix + schemaKey
	c := s.cdc()
	for range 10 {
		resp, err := s.get(ctx, k)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			// Look at the store as it was when it had no marker: another
			// replica may be tagging it by now.
			rev := resp.Header.Revision
			legacy, err := s.hasRecords(ctx, rev)
			if err != nil {
				return err
			}
			m := schemaMarker{Version: SchemaVersion}
			if legacy {
				if err := s.checkLegacy(ctx, rev); err != nil {
					return err
				}
				m.UpgradeUpTo = rev
			}
			v, err := encodeMarker(c, m)
			if err != nil {
				return err
			}
			tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Version(k), "=", 0)}, []clientv3.Op{clientv3.OpPut(k, string(v))})
			if err != nil {
				return err
			}
			if !tr.Succeeded {
				continue // another replica made the marker: read it
			}
			if !legacy {
				return nil
			}
			if err := s.finishUpgrade(ctx, c, k, v, m); err != nil {
				return err
			}
			continue
		}
		rec, err := c.Unwrap(sealed.KindStore, schemaKey, resp.Kvs[0].Value)
		if err != nil {
			return fmt.Errorf("etcd: the schema marker does not authenticate with this keyset (another keyset, or etcd was changed outside grantd): %w", err)
		}
		var m schemaMarker
		if err := json.Unmarshal(rec, &m); err != nil || m.Version > SchemaVersion {
			return ErrSchema
		}
		if m.Version < SchemaVersion {
			return fmt.Errorf("etcd: an authenticated schema marker of version %d cannot exist: %w", m.Version, datasource.ErrTampered)
		}
		if m.UpgradeUpTo == 0 {
			return nil
		}
		if err := s.finishUpgrade(ctx, c, k, resp.Kvs[0].Value, m); err != nil {
			return err
		}
	}
	return errors.New("etcd: the schema marker kept changing")
}

func encodeMarker(c sealed.Codec, m schemaMarker) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return c.Wrap(sealed.KindStore, schemaKey, b)
}

// hasRecords reports whether the store held any record or names entry at
// revision rev.
func (s *Store) hasRecords(ctx context.Context, rev int64) (bool, error) {
	for _, p := range append(recordPrefixes, struct{ dir, kind string }{"name", ""}) {
		resp, err := s.get(ctx, s.c.key(p.dir)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(rev))
		if err != nil {
			return false, err
		}
		if resp.Count > 0 {
			return true, nil
		}
	}
	return false, nil
}

// checkLegacy refuses to start an upgrade of a store that held, at
// revision rev, a tagged record (it was relabelled: only a store of this
// version has them), or sealed datasource records none of which opens
// with this keyset (it is not the keyset that wrote them).
func (s *Store) checkLegacy(ctx context.Context, rev int64) error {
	c := s.cdc()
	seen, opened := 0, 0
	for _, p := range recordPrefixes {
		dir := s.c.key(p.dir) + "/"
		err := s.scanAt(ctx, dir, rev, func(k, v []byte, _ int64) error {
			if sealed.Wrapped(v) {
				return fmt.Errorf("etcd: the store has no schema marker but holds authenticated records (%s): it was changed outside grantd; refusing to upgrade it: %w",
					k, datasource.ErrTampered)
			}
			if p.kind == sealed.KindDatasource {
				key := strings.TrimPrefix(string(k), dir)
				seen++
				if nv, err := c.Wrap(p.kind, key, v); err == nil {
					if _, err := c.DecodeDatasource(key, nv); err == nil {
						opened++
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if seen > 0 && opened == 0 {
		return fmt.Errorf("etcd: none of the %d datasources opens with this keyset: it is not the keyset they were written with; nothing was changed: %w",
			seen, crypto.ErrOpen)
	}
	return nil
}

// finishUpgrade tags the untagged records last written at or before
// m.UpgradeUpTo, then replaces the marker marker (stored under k) by a
// finished one, if it is still there.
func (s *Store) finishUpgrade(ctx context.Context, c sealed.Codec, k string, marker []byte, m schemaMarker) error {
	tagged := 0
	for _, p := range recordPrefixes {
		dir := s.c.key(p.dir) + "/"
		var batch []taggedRecord
		err := s.scan(ctx, dir, func(kb, v []byte, rev int64) error {
			if sealed.Wrapped(v) {
				return nil // tagged already, by this upgrade or since
			}
			key := strings.TrimPrefix(string(kb), dir)
			if rev > m.UpgradeUpTo {
				s.log.Warn("upgrading the store: a record without a tag was written after the upgrade began; leaving it unauthenticated, it will be refused",
					"kind", p.kind, "id", key)
				return nil
			}
			nv, err := s.tagLegacy(c, p.kind, key, v)
			if err != nil || nv == nil {
				return err
			}
			batch = append(batch, taggedRecord{string(kb), nv, rev})
			if len(batch) == 32 {
				n, err := s.putTagged(ctx, batch)
				tagged += n
				batch = batch[:0]
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
		n, err := s.putTagged(ctx, batch)
		tagged += n
		if err != nil {
			return err
		}
	}
	done, err := encodeMarker(c, schemaMarker{Version: SchemaVersion})
	if err != nil {
		return err
	}
	tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Value(k), "=", string(marker))}, []clientv3.Op{clientv3.OpPut(k, string(done))})
	if err != nil {
		return err
	}
	if tr.Succeeded {
		s.log.Info("upgraded the store: every record is now authenticated", "to", SchemaVersion, "records", tagged)
	}
	return nil
}

// tagLegacy returns the stored form of v, an untagged record of kind under
// key, or nil to leave it: not JSON, or a record whose secrets do not open
// with this keyset.
func (s *Store) tagLegacy(c sealed.Codec, kind, key string, v []byte) ([]byte, error) {
	ck := codecKey(kind, key)
	var nv []byte
	var err error
	if kind == sealed.KindMeta {
		nv, err = c.EncodeMeta(ck, v)
	} else {
		nv, err = c.Wrap(kind, ck, v)
	}
	if err != nil {
		return nil, nil
	}
	switch kind {
	case sealed.KindDatasource:
		_, err = c.DecodeDatasource(ck, nv)
	case sealed.KindToken:
		_, err = c.DecodeToken(datasource.ParseKey(ck), nv)
	case sealed.KindState:
		_, err = c.DecodeState(ck, nv)
	}
	if err != nil {
		s.log.Warn("upgrading the store: a record does not open with this keyset; leaving it unauthenticated, it will be refused",
			"kind", kind, "id", key)
		return nil, nil
	}
	return nv, nil
}

type taggedRecord struct {
	key   string
	value []byte
	rev   int64
}

// putTagged writes records, each only if its mod revision is still rev:
// all in one transaction, or, when one changed meanwhile (another replica
// tagged it, or it was written anew), one at a time. It returns how many
// it wrote.
func (s *Store) putTagged(ctx context.Context, recs []taggedRecord) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, r := range recs {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r.key), "=", r.rev))
		ops = append(ops, clientv3.OpPut(r.key, string(r.value)))
	}
	tr, err := s.txn(ctx, cmps, ops)
	if err != nil {
		return 0, err
	}
	if tr.Succeeded {
		return len(recs), nil
	}
	n := 0
	for i := range recs {
		tr, err := s.txn(ctx, cmps[i:i+1], ops[i:i+1])
		if err != nil {
			return n, err
		}
		if tr.Succeeded {
			n++
		}
	}
	return n, nil
}

// retagSchema re-tags the schema marker with the store's codec (Reseal).
func (s *Store) retagSchema(ctx context.Context) error {
	k := s.c.prefix + schemaKey
	resp, err := s.get(ctx, k)
	if err != nil || len(resp.Kvs) == 0 {
		return err
	}
	c := s.cdc()
	v, err := c.Rewrap(c, sealed.KindStore, schemaKey, resp.Kvs[0].Value)
	if err != nil {
		return err
	}
	_, err = s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", resp.Kvs[0].ModRevision)}, []clientv3.Op{clientv3.OpPut(k, string(v))})
	return err
}
