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

var _ datasource.AgentSessions = (*Store)(nil)

// bucketAgentSessions holds agent sessions by id (hashes, never tokens).
var bucketAgentSessions = []byte("agentsessions")

// CreateAgentSession implements datasource.AgentSessions.
func (s *Store) CreateAgentSession(ctx context.Context, a *datasource.AgentSession) error {
	rec, err := s.codec.Load().EncodeAgentSession(a)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAgentSessions)
		if b.Get([]byte(a.ID)) != nil {
			return fmt.Errorf("bolt: agent session id %s already exists", a.ID)
		}
		return b.Put([]byte(a.ID), rec)
	})
}

// AgentSession implements datasource.AgentSessions.
func (s *Store) AgentSession(ctx context.Context, id string) (*datasource.AgentSession, error) {
	var a *datasource.AgentSession
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketAgentSessions).Get([]byte(id))
		if v == nil {
			return datasource.ErrNotFound
		}
		var err error
		a, err = s.codec.Load().DecodeAgentSession(id, v)
		return err
	})
	return a, err
}

// AgentSessions implements datasource.AgentSessions. A session that does
// not authenticate is left out (the codec logs it): it no longer works.
func (s *Store) AgentSessions(ctx context.Context) ([]*datasource.AgentSession, error) {
	var out []*datasource.AgentSession
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		return tx.Bucket(bucketAgentSessions).ForEach(func(k, v []byte) error {
			a, err := c.DecodeAgentSession(string(k), v)
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// DeleteAgentSession implements datasource.AgentSessions.
func (s *Store) DeleteAgentSession(ctx context.Context, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAgentSessions)
		if b.Get([]byte(id)) == nil {
			return datasource.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
}

// PurgeAgentSessions implements datasource.AgentSessions. A record that
// does not authenticate is left for an operator to look at.
func (s *Store) PurgeAgentSessions(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		c := s.codec.Load()
		b := tx.Bucket(bucketAgentSessions)
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if a, err := c.DecodeAgentSession(string(k), v); err == nil && a.Expired(now) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	return n, err
}
