package etcd

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// Locker is a grants.Locker on etcd: a per-datasource mutex held with a
// session lease. A replica that dies holding a lock loses it when its
// lease expires, after at most TTL, and another replica takes over.
type Locker struct {
	c       *Client
	session *concurrency.Session
}

// Locker starts a session with a lease of ttl (at least a second; its
// keepalive runs until Close) and returns the locker.
func (c *Client) Locker(ttl time.Duration) (*Locker, error) {
	secs := max(int(ttl/time.Second), 1)
	s, err := concurrency.NewSession(c.c, concurrency.WithTTL(secs))
	if err != nil {
		return nil, mapErr(err)
	}
	return &Locker{c: c, session: s}, nil
}

// Lock implements grants.Locker.
func (l *Locker) Lock(ctx context.Context, id string) (func(), error) {
	m := concurrency.NewMutex(l.session, l.c.key("lock", id))
	if err := m.Lock(ctx); err != nil {
		return nil, fmt.Errorf("etcd: lock %s: %w", id, mapErr(err))
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.c.opTO)
		defer cancel()
		m.Unlock(ctx)
	}, nil
}

// Abandon stops keeping the session's lease alive without revoking it, as
// a crashed process would: its locks are released when the lease expires.
// For tests.
func (l *Locker) Abandon() { l.session.Orphan() }

// Close ends the session and its lease: held locks are released.
func (l *Locker) Close() error { return l.session.Close() }

// Done is closed when the session's lease is lost (etcd unreachable for
// longer than the TTL).
func (l *Locker) Done() <-chan struct{} { return l.session.Done() }
