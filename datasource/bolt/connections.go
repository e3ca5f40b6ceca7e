package bolt

import (
	"bytes"
	"context"
	"errors"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
)

// bucketConnections holds per-user connections under "<datasource id>/<end
// user id>", the key of their token record.
var bucketConnections = []byte("connections")

// SaveConnection implements datasource.Store. Concurrent saves are
// committed together (bbolt's Batch), as token records are.
func (s *Store) SaveConnection(ctx context.Context, cn *datasource.Connection) (bool, error) {
	created := false
	key := []byte(cn.Key().String())
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		created = false // Batch may run the function again
		c := s.codec.Load()
		if tx.Bucket(bucketDatasources).Get([]byte(cn.DatasourceID)) == nil {
			return datasource.ErrNotFound
		}
		b := tx.Bucket(bucketConnections)
		stored := *cn
		if old := b.Get(key); old != nil {
			prev, err := c.DecodeConnection(cn.Key(), old)
			switch {
			case err == nil:
				stored.CreatedAt = prev.CreatedAt
			case !errors.Is(err, datasource.ErrTampered):
				return err
			}
		} else {
			created = true
		}
		rec, err := c.EncodeConnection(&stored)
		if err != nil {
			return err
		}
		return b.Put(key, rec)
	})
	return created, err
}

// Connection implements datasource.Store.
func (s *Store) Connection(ctx context.Context, datasourceID, endUserID string) (*datasource.Connection, error) {
	k := datasource.Key{Datasource: datasourceID, EndUser: endUserID}
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec = bytes.Clone(tx.Bucket(bucketConnections).Get([]byte(k.String())))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, datasource.ErrNotFound
	}
	return s.codec.Load().DecodeConnection(k, rec)
}

// ListConnections implements datasource.Store: a cursor walk over the
// datasource's keys from the one after q.After, so a page costs what it
// returns (plus what the status filter skips), not the datasource's size.
// A connection or token record that does not authenticate is skipped.
func (s *Store) ListConnections(ctx context.Context, q datasource.ConnectionQuery) ([]datasource.ConnectionState, string, error) {
	limit := q.Limit
	if limit <= 0 || limit > datasource.MaxConnectionPage {
		limit = datasource.MaxConnectionPage
	}
	var out []datasource.ConnectionState
	next := ""
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		ds := tx.Bucket(bucketDatasources).Get([]byte(q.DatasourceID))
		if ds == nil {
			return datasource.ErrNotFound
		}
		head, err := c.DatasourceHead(q.DatasourceID, ds)
		if err != nil {
			return err
		}
		tokens := tx.Bucket(bucketTokens)
		prefix := []byte(q.DatasourceID + "/" + q.Prefix)
		cur := tx.Bucket(bucketConnections).Cursor()
		start := prefix
		if q.After > q.Prefix {
			start = []byte(q.DatasourceID + "/" + q.After)
		}
		for k, v := cur.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			key := datasource.ParseKey(string(k))
			if key.EndUser == q.After {
				continue
			}
			cn, err := c.DecodeConnection(key, v)
			if errors.Is(err, datasource.ErrTampered) {
				continue
			}
			if err != nil {
				return err
			}
			sc, err := schedule(c, head, key, tokens.Get(k))
			if errors.Is(err, datasource.ErrTampered) {
				continue
			}
			if err != nil {
				return err
			}
			if q.Status != "" && statusOf(sc) != q.Status {
				continue
			}
			if len(out) == limit {
				next = out[len(out)-1].Connection.EndUserID
				return nil
			}
			out = append(out, datasource.ConnectionState{Connection: cn, Schedule: sc})
		}
		return nil
	})
	return out, next, err
}

// statusOf is the status a schedule view shows.
func statusOf(sc datasource.Schedule) datasource.Status {
	if sc.Status == "" {
		return datasource.StatusUnauthorized
	}
	return sc.Status
}

// DeleteConnection implements datasource.Store.
func (s *Store) DeleteConnection(ctx context.Context, datasourceID, endUserID string) error {
	key := []byte(datasource.Key{Datasource: datasourceID, EndUser: endUserID}.String())
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConnections)
		if b.Get(key) == nil {
			return datasource.ErrNotFound
		}
		if err := tx.Bucket(bucketTokens).Delete(key); err != nil {
			return err
		}
		return b.Delete(key)
	})
}
