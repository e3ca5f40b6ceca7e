// Package bolt implements datasource.Store on go.etcd.io/bbolt, grantd's
// embedded default: one file in the data directory, every write one
// transaction, every secret sealed (see package sealed) before it is
// written.
//
// # Layout
//
// Buckets: meta (schema version and installation values), datasources
// (id → record), names (name → id, the uniqueness index), tokens
// (datasource id → token record), states (state key → pending state),
// events (event id → event, the last MaxEvents) and deliveries (event id +
// URL → pending webhook delivery).
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

var _ datasource.Store = (*Store)(nil)

var (
	bucketMeta        = []byte("meta")
	bucketDatasources = []byte("datasources")
	bucketNames       = []byte("names")
	bucketTokens      = []byte("tokens")
	bucketStates      = []byte("states")
	keySchema         = []byte("schema")
)

// SchemaVersion is the layout version this package writes and reads.
// Version 1 keyed the names bucket by the name as written; version 2 by
// datasource.NameKey. Open upgrades a version 1 file.
const SchemaVersion = 2

// ErrSchema is returned by Open for a file written by a newer grantd.
var ErrSchema = errors.New("bolt: the database has a schema this grantd does not know")

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("bolt: the database file is in use by another process (is another grantd running on this data dir?)")

// Store is a datasource.Store in a bbolt file. It is safe for concurrent
// use, Reseal included.
type Store struct {
	db *bbolt.DB
	// codec seals and opens records. Reseal replaces it while reads and
	// writes go on: an atomic pointer, not a mutex, so that the read path,
	// which decodes constantly, pays one load and no lock contention.
	codec     atomic.Pointer[sealed.Codec]
	maxEvents int
}

// Options tune Open. The zero value is fine.
type Options struct {
	// LockTimeout is how long Open waits for the file lock; default 2s.
	LockTimeout time.Duration
	// NoSync skips fsync (benchmarks and tests only: a crash may lose data).
	NoSync bool
	// MaxEvents caps the event log; default DefaultMaxEvents.
	MaxEvents int
}

// Open opens or creates the store at path, sealing secrets with s. It
// returns ErrLocked when another process has the file open and ErrSchema
// when the file is from a newer version.
func Open(path string, s sealed.Sealer, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, NoSync: opts.NoSync, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketDatasources, bucketNames, bucketTokens, bucketStates, bucketEvents, bucketDeliveries} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keySchema)
		if v == nil {
			return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
		}
		n, err := strconv.Atoi(string(v))
		switch {
		case err != nil || n > SchemaVersion || n < 1:
			return ErrSchema
		case n == 1:
			if err := foldNames(tx); err != nil {
				return err
			}
			return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
		}
		return nil
	})
	if err != nil {
		db.Close()
		if errors.Is(err, ErrSchema) {
			return nil, err
		}
		return nil, fmt.Errorf("bolt: init %s: %w", path, err)
	}
	maxEvents := opts.MaxEvents
	if maxEvents <= 0 {
		maxEvents = DefaultMaxEvents
	}
	st := &Store{db: db, maxEvents: maxEvents}
	st.codec.Store(&sealed.Codec{Sealer: s})
	return st, nil
}

// foldNames re-keys the names bucket by NameKey (schema 1 → 2). Two names
// that differ only in case keep both: the second gets a key of its own
// (NameKey + NUL + id), so it stays listed and reachable by id.
func foldNames(tx *bbolt.Tx) error {
	old := tx.Bucket(bucketNames)
	type pair struct{ name, id []byte }
	var all []pair
	if err := old.ForEach(func(k, v []byte) error {
		all = append(all, pair{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	if err := tx.DeleteBucket(bucketNames); err != nil {
		return err
	}
	names, err := tx.CreateBucket(bucketNames)
	if err != nil {
		return err
	}
	for _, p := range all {
		k := nameKey(string(p.name))
		if names.Get(k) != nil {
			k = append(append(k, 0), p.id...)
		}
		if err := names.Put(k, p.id); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file. Pending transactions finish first.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Size returns the file's size in bytes.
func (s *Store) Size() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error { n = tx.Size(); return nil })
	return n, err
}

// CreateDatasource implements datasource.Store.
func (s *Store) CreateDatasource(ctx context.Context, d *datasource.Datasource) error {
	rec, err := s.codec.Load().EncodeDatasource(d)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		ds, names := tx.Bucket(bucketDatasources), tx.Bucket(bucketNames)
		if ds.Get([]byte(d.ID)) != nil {
			return fmt.Errorf("bolt: datasource id %s already exists", d.ID)
		}
		if names.Get(nameKey(d.Name)) != nil {
			return datasource.ErrDuplicateName
		}
		if err := ds.Put([]byte(d.ID), rec); err != nil {
			return err
		}
		return names.Put(nameKey(d.Name), []byte(d.ID))
	})
}

// Datasource implements datasource.Store.
func (s *Store) Datasource(ctx context.Context, id string) (*datasource.Datasource, error) {
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec = bytes.Clone(tx.Bucket(bucketDatasources).Get([]byte(id)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, datasource.ErrNotFound
	}
	return s.codec.Load().DecodeDatasource(rec)
}

// DatasourceByName implements datasource.Store.
func (s *Store) DatasourceByName(ctx context.Context, name string) (*datasource.Datasource, error) {
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketNames).Get(nameKey(name))
		if id != nil {
			rec = bytes.Clone(tx.Bucket(bucketDatasources).Get(id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, datasource.ErrNotFound
	}
	return s.codec.Load().DecodeDatasource(rec)
}

// ListDatasources implements datasource.Store.
func (s *Store) ListDatasources(ctx context.Context) ([]*datasource.Datasource, error) {
	var recs [][]byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		ds := tx.Bucket(bucketDatasources)
		// The names bucket is sorted by name: walk it for name order.
		return tx.Bucket(bucketNames).ForEach(func(_, id []byte) error {
			if r := ds.Get(id); r != nil {
				recs = append(recs, bytes.Clone(r))
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]*datasource.Datasource, 0, len(recs))
	c := s.codec.Load()
	for _, r := range recs {
		d, err := c.DecodeDatasource(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// UpdateDatasource implements datasource.Store.
func (s *Store) UpdateDatasource(ctx context.Context, d *datasource.Datasource) (erased bool, err error) {
	rec, err := s.codec.Load().EncodeDatasource(d)
	if err != nil {
		return false, err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		ds, names := tx.Bucket(bucketDatasources), tx.Bucket(bucketNames)
		oldRec := ds.Get([]byte(d.ID))
		if oldRec == nil {
			return datasource.ErrNotFound
		}
		old, err := s.codec.Load().DecodeDatasource(oldRec)
		if err != nil {
			return err
		}
		if datasource.NameKey(old.Name) != datasource.NameKey(d.Name) {
			if names.Get(nameKey(d.Name)) != nil {
				return datasource.ErrDuplicateName
			}
			if err := names.Delete(nameKey(old.Name)); err != nil {
				return err
			}
			if err := names.Put(nameKey(d.Name), []byte(d.ID)); err != nil {
				return err
			}
		}
		if !old.KeepsTokens(d) {
			tokens := tx.Bucket(bucketTokens)
			if tokens.Get([]byte(d.ID)) != nil {
				erased = true
				if err := tokens.Delete([]byte(d.ID)); err != nil {
					return err
				}
			}
		}
		return ds.Put([]byte(d.ID), rec)
	})
	return erased, err
}

// DeleteDatasource implements datasource.Store.
func (s *Store) DeleteDatasource(ctx context.Context, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		ds := tx.Bucket(bucketDatasources)
		rec := ds.Get([]byte(id))
		if rec == nil {
			return datasource.ErrNotFound
		}
		old, err := s.codec.Load().DecodeDatasource(rec)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketNames).Delete(nameKey(old.Name)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokens).Delete([]byte(id)); err != nil {
			return err
		}
		if err := deleteStatesOf(tx, id); err != nil {
			return err
		}
		return ds.Delete([]byte(id))
	})
}

// nameKey is the names bucket's key of name.
func nameKey(name string) []byte { return []byte(datasource.NameKey(name)) }

func deleteStatesOf(tx *bbolt.Tx, id string) error {
	states := tx.Bucket(bucketStates)
	var keys [][]byte
	err := states.ForEach(func(k, v []byte) error {
		if stateDatasource(v) == id {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := states.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
