package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// Keys of the meta bucket. Meta values of the Store interface live under
// metaPrefix + key; the others are the store's own bookkeeping.
const (
	metaPrefix   = "x:"
	schemaKey    = "schema"
	eventCounter = "events:count"
)

// upgrade reads the schema marker and brings an older file to
// SchemaVersion, in tx (Open's transaction: all or nothing).
//
// From schema 3 on the marker is a record like any other, tagged by the
// keyset, so it says two things: the version, and that this keyset wrote
// the file. Before, it was a bare number. A bare number of 3 or more, or
// an older file that already holds tagged records, is a file someone
// relabelled to have its records tagged anew; it is refused, not upgraded.
func upgrade(tx *bbolt.Tx, c *sealed.Codec, log *slog.Logger) error {
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchema)
	if v == nil {
		// A new file. (A file whose marker was deleted is treated as new
		// too: its records are not tagged, so they stay refused.)
		return putSchema(meta, c, SchemaVersion)
	}
	if sealed.Wrapped(v) {
		rec, err := c.Unwrap(sealed.KindStore, schemaKey, v)
		if err != nil {
			return fmt.Errorf("the schema marker does not authenticate with this keyset (another keyset, or the file was changed outside grantd): %w", err)
		}
		n, err := strconv.Atoi(string(rec))
		switch {
		case err != nil || n > SchemaVersion:
			return ErrSchema
		case n < SchemaVersion:
			return fmt.Errorf("an authenticated schema marker of version %d cannot exist: %w", n, datasource.ErrTampered)
		}
		return nil
	}
	n, err := strconv.Atoi(string(v))
	switch {
	case err != nil || n < 1:
		return ErrSchema
	case n >= 3:
		return fmt.Errorf("the schema marker says %d without a tag, which no grantd writes: %w", n, datasource.ErrTampered)
	}
	if err := refuseRelabelled(tx, n); err != nil {
		return err
	}
	if n == 1 {
		if err := foldNames(tx); err != nil {
			return err
		}
	}
	tagged, err := tagAll(tx, c)
	if err != nil {
		return err
	}
	log.Info("upgraded the store: every record is now authenticated", "from", n, "to", SchemaVersion, "records", tagged)
	return putSchema(meta, c, SchemaVersion)
}

func putSchema(meta *bbolt.Bucket, c *sealed.Codec, n int) error {
	v, err := c.Wrap(sealed.KindStore, schemaKey, []byte(strconv.Itoa(n)))
	if err != nil {
		return err
	}
	return meta.Put(keySchema, v)
}

// refuseRelabelled returns an error if a file that says it is of schema n
// (before records were tagged) holds a tagged record: only a file written
// by this version, relabelled, can.
func refuseRelabelled(tx *bbolt.Tx, n int) error {
	for _, b := range [][]byte{bucketDatasources, bucketTokens, bucketStates, bucketEvents, bucketDeliveries, bucketMeta} {
		err := tx.Bucket(b).ForEach(func(k, v []byte) error {
			if sealed.Wrapped(v) {
				return fmt.Errorf("the file says schema %d but holds authenticated records (%s %q): it was relabelled outside grantd; refusing to upgrade it: %w",
					n, b, k, datasource.ErrTampered)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tagAll rewrites every record of an older file in the envelope, as it
// is. Datasources, token records and states are decoded after tagging:
// one whose secrets do not open with c's keyset is left untagged (and so
// refused when read) and logged; if there are sealed records and none
// opens, c holds the wrong keyset, and tagAll fails without a change. It
// returns how many records it tagged.
func tagAll(tx *bbolt.Tx, c *sealed.Codec) (int, error) {
	tagged, sealedSeen, opened := 0, 0, 0
	type kv struct{ k, v []byte }
	rewrite := func(bucket []byte, f func(k string, v []byte) ([]byte, error)) error {
		b := tx.Bucket(bucket)
		var out []kv
		err := b.ForEach(func(k, v []byte) error {
			nv, err := f(string(k), v)
			if err != nil || nv == nil {
				return err
			}
			out = append(out, kv{bytes.Clone(k), nv})
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range out {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
		tagged += len(out)
		return nil
	}
	// withSecrets tags a record that holds sealed secrets, then checks that
	// they open: returns nil (leave it) when they do not.
	withSecrets := func(kind string, check func(key string, nv []byte) error) func(string, []byte) ([]byte, error) {
		return func(k string, v []byte) ([]byte, error) {
			nv, err := c.Wrap(kind, k, v)
			if err != nil {
				return nil, nil // not JSON: not a record this grantd wrote; left, and refused
			}
			sealedSeen++
			if err := check(k, nv); err != nil {
				if !errors.Is(err, crypto.ErrOpen) && !errors.Is(err, sealed.ErrFormat) {
					return nil, err
				}
				c.Log.Warn("upgrading the store: a record does not open with this keyset; leaving it unauthenticated, it will be refused",
					"kind", kind, "id", k, "err", err)
				return nil, nil
			}
			opened++
			return nv, nil
		}
	}
	err := errors.Join(
		rewrite(bucketDatasources, withSecrets(sealed.KindDatasource, func(k string, nv []byte) error {
			_, err := c.DecodeDatasource(k, nv)
			return err
		})),
		rewrite(bucketTokens, withSecrets(sealed.KindToken, func(k string, nv []byte) error {
			_, err := c.DecodeToken(datasource.ParseKey(k), nv)
			return err
		})),
		rewrite(bucketStates, withSecrets(sealed.KindState, func(k string, nv []byte) error {
			_, err := c.DecodeState(k, nv)
			return err
		})),
		rewrite(bucketEvents, func(k string, v []byte) ([]byte, error) {
			nv, err := c.Wrap(sealed.KindEvent, k, v)
			if err != nil {
				return nil, nil
			}
			return nv, nil
		}),
		rewrite(bucketDeliveries, func(k string, v []byte) ([]byte, error) {
			nv, err := c.Wrap(sealed.KindDelivery, k, v)
			if err != nil {
				return nil, nil
			}
			return nv, nil
		}),
		rewrite(bucketMeta, func(k string, v []byte) ([]byte, error) {
			switch {
			case strings.HasPrefix(k, metaPrefix):
				return c.EncodeMeta(strings.TrimPrefix(k, metaPrefix), v)
			case k == eventCounter:
				nv, err := c.Wrap(sealed.KindStore, eventCounter, v)
				if err != nil {
					return nil, nil // recounted when next needed
				}
				return nv, nil
			}
			return nil, nil // the schema marker, rewritten last
		}),
	)
	if err != nil {
		return 0, err
	}
	if sealedSeen > 0 && opened == 0 {
		return 0, fmt.Errorf("none of the %d records with secrets opens with this keyset: it is not the keyset this file was written with; nothing was changed: %w",
			sealedSeen, crypto.ErrOpen)
	}
	return tagged, nil
}
