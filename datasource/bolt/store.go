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
//
// # Authentication
//
// Every value but the names index is a record in package sealed's
// envelope, tagged with its kind and key: someone who can write the file
// but does not hold the keyset cannot change a datasource's token URL, a
// token record's schedule, a pending state, an event, a delivery or a meta
// value (the admin token hash), nor move a record under another key. Such
// a record is refused (datasource.ErrTampered) and logged to
// Options.Logger; the rest of the file keeps working. A names entry is
// checked against the datasource it points to: that record must
// authenticate and carry the name.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	keySchema         = []byte(schemaKey)
)

// SchemaVersion is the layout version this package writes and reads.
// Version 1 keyed the names bucket by the name as written; version 2 by
// datasource.NameKey; version 3 authenticates every record (see
// sealed.Codec.Wrap). Open upgrades a version 1 or 2 file.
const SchemaVersion = 3

// ErrSchema is returned by Open for a file written by a newer grantd.
var ErrSchema = errors.New("bolt: the database has a schema this grantd does not know")

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("bolt: the database file is in use by another process (is another grantd running on this data dir?)")

// Store is a datasource.Store in a bbolt file. It is safe for concurrent
// use, Reseal included.
type Store struct {
	db *bbolt.DB
	// codec seals, opens and tags records. Reseal replaces it while reads
	// and writes go on: an atomic pointer, not a mutex, so that the read
	// path, which decodes constantly, pays one load and no lock
	// contention. Load it after the transaction that read the record
	// began (inside it, or after it): a codec loaded before may be older
	// than the records the transaction sees, and refuse their tags.
	codec     atomic.Pointer[sealed.Codec]
	maxEvents int
	log       *slog.Logger
}

// Options tune Open. The zero value is fine.
type Options struct {
	// LockTimeout is how long Open waits for the file lock; default 2s.
	LockTimeout time.Duration
	// NoSync skips fsync (benchmarks and tests only: a crash may lose data).
	NoSync bool
	// MaxEvents caps the event log; default DefaultMaxEvents.
	MaxEvents int
	// Logger gets a line for each record refused because it does not
	// authenticate (kind and key, never content); default slog.Default().
	Logger *slog.Logger
}

// Open opens or creates the store at path, sealing secrets and tagging
// records with s. It returns ErrLocked when another process has the file
// open, ErrSchema when the file is from a newer version, and an error
// matching datasource.ErrTampered when the file's schema marker does not
// authenticate with s (another keyset, or the file was edited).
//
// A file of schema 1 or 2 (before records were authenticated) is upgraded
// in one transaction: every record is tagged as it is, trusting what the
// file holds at that moment, as the operator installing the new version
// does. Records whose secrets do not open with s are left untagged (and
// are refused when read); if no sealed record opens, s is the wrong
// keyset and nothing is changed.
func Open(path string, s sealed.Sealer, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	codec := &sealed.Codec{Sealer: s, Log: log}
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
		for _, b := range [][]byte{bucketMeta, bucketDatasources, bucketNames, bucketTokens, bucketConnections, bucketAPIKeys, bucketAgentSessions, bucketStates, bucketEvents, bucketDeliveries} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return upgrade(tx, codec, log)
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
	st := &Store{db: db, maxEvents: maxEvents, log: log}
	st.codec.Store(codec)
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
	return s.codec.Load().DecodeDatasource(id, rec)
}

// DatasourceByName implements datasource.Store. The names entry is checked
// against the record it points to: a record that does not authenticate,
// or whose name is not the one looked up, is refused.
func (s *Store) DatasourceByName(ctx context.Context, name string) (*datasource.Datasource, error) {
	var id string
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketNames).Get(nameKey(name)); v != nil {
			id = string(v)
			rec = bytes.Clone(tx.Bucket(bucketDatasources).Get(v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, datasource.ErrNotFound
	}
	c := s.codec.Load()
	d, err := c.DecodeDatasource(id, rec)
	if err != nil {
		return nil, err
	}
	if !namedBy(nameKey(name), d) {
		return nil, s.refuseName(nameKey(name))
	}
	return d, nil
}

// namedBy reports whether k is a names entry d may have: NameKey of its
// name, or, for the second of two names that a schema 1 file held apart
// and NameKey folds together, that key + NUL + id (see foldNames).
func namedBy(k []byte, d *datasource.Datasource) bool {
	nk := nameKey(d.Name)
	return bytes.Equal(k, nk) || bytes.Equal(k, append(append(nk, 0), d.ID...))
}

// refuseName logs and returns the refusal of a names entry that does not
// match the datasource it points to.
func (s *Store) refuseName(k []byte) error {
	id := string(k)
	s.log.Error("stored record failed authentication; refusing it", "kind", "name", "id", id)
	return &sealed.RecordError{Kind: "name", ID: id}
}

// ListDatasources implements datasource.Store. Datasources whose record
// does not authenticate, or whose names entry does not match them, are
// left out (and logged).
func (s *Store) ListDatasources(ctx context.Context) ([]*datasource.Datasource, error) {
	type entry struct{ name, id, rec []byte }
	var recs []entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		ds := tx.Bucket(bucketDatasources)
		// The names bucket is sorted by name: walk it for name order.
		return tx.Bucket(bucketNames).ForEach(func(k, id []byte) error {
			if r := ds.Get(id); r != nil {
				recs = append(recs, entry{bytes.Clone(k), bytes.Clone(id), bytes.Clone(r)})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]*datasource.Datasource, 0, len(recs))
	seen := make(map[string]bool, len(recs))
	c := s.codec.Load()
	for _, r := range recs {
		d, err := c.DecodeDatasource(string(r.id), r.rec)
		if errors.Is(err, datasource.ErrTampered) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !namedBy(r.name, d) || seen[d.ID] {
			s.refuseName(r.name)
			continue
		}
		seen[d.ID] = true
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
		old, err := s.codec.Load().DecodeDatasource(d.ID, oldRec)
		if err != nil {
			return err
		}
		if datasource.NameKey(old.Name) != datasource.NameKey(d.Name) {
			if names.Get(nameKey(d.Name)) != nil {
				return datasource.ErrDuplicateName
			}
			if err := deleteNamesOf(names, old); err != nil {
				return err
			}
			if err := names.Put(nameKey(d.Name), []byte(d.ID)); err != nil {
				return err
			}
		}
		if !old.KeepsTokens(d) || old.ConnectionMode != d.ConnectionMode {
			if erased, err = deleteTokensOf(tx, d.ID); err != nil {
				return err
			}
		}
		if old.ConnectionMode != d.ConnectionMode {
			// A change of mode ends the connections (no longer per user)
			// or starts without any.
			if _, err := deletePrefix(tx.Bucket(bucketConnections), []byte(d.ID+"/")); err != nil {
				return err
			}
		}
		return ds.Put([]byte(d.ID), rec)
	})
	return erased, err
}

// DeleteDatasource implements datasource.Store. A record that does not
// authenticate is deleted too (its names entries found by id, not by the
// name it claims), so that an operator can clear it.
func (s *Store) DeleteDatasource(ctx context.Context, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		ds, names := tx.Bucket(bucketDatasources), tx.Bucket(bucketNames)
		rec := ds.Get([]byte(id))
		if rec == nil {
			return datasource.ErrNotFound
		}
		old, err := s.codec.Load().DecodeDatasource(id, rec)
		switch {
		case err == nil:
			err = deleteNamesOf(names, old)
		case errors.Is(err, datasource.ErrTampered):
			err = deleteNamesPointingTo(names, id)
		}
		if err != nil {
			return err
		}
		if _, err := deleteTokensOf(tx, id); err != nil {
			return err
		}
		if _, err := deletePrefix(tx.Bucket(bucketConnections), []byte(id+"/")); err != nil {
			return err
		}
		if err := deleteStatesOf(tx, s.codec.Load(), id); err != nil {
			return err
		}
		return ds.Delete([]byte(id))
	})
}

// nameKey is the names bucket's key of name.
func nameKey(name string) []byte { return []byte(datasource.NameKey(name)) }

// deleteNamesOf removes the names entry of d (either form namedBy
// accepts) when it points to d.
func deleteNamesOf(names *bbolt.Bucket, d *datasource.Datasource) error {
	nk := nameKey(d.Name)
	for _, k := range [][]byte{nk, append(append(nk, 0), d.ID...)} {
		if string(names.Get(k)) == d.ID {
			if err := names.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteNamesPointingTo removes every names entry that points to id: for a
// record that does not authenticate, whose name cannot be trusted. It
// walks the index, which only this rare path pays for.
func deleteNamesPointingTo(names *bbolt.Bucket, id string) error {
	var keys [][]byte
	err := names.ForEach(func(k, v []byte) error {
		if string(v) == id {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := names.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deleteStatesOf removes the states of datasource id. A state that does
// not authenticate is left for PurgeStates, which removes it.
func deleteStatesOf(tx *bbolt.Tx, c *sealed.Codec, id string) error {
	states := tx.Bucket(bucketStates)
	var keys [][]byte
	err := states.ForEach(func(k, v []byte) error {
		if ds, err := c.StateDatasource(string(k), v); err == nil && ds == id {
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
