package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/datasource"
)

// metaRevokedSessions is the Meta key of the revocation list: a JSON
// object from session id (the cookie's nonce, hex) to the session's
// expiry (Unix seconds).
const metaRevokedSessions = "revoked-sessions"

// revocationRefresh is how old the copy of the revocation list may get
// before a request reads it again from the store.
const revocationRefresh = 5 * time.Second

// revocations is the list of sessions signed out before they expired. A
// session cookie is valid by its signature alone, so signing out must
// remember the session until it would have expired; then its entry is
// purged.
//
// The list is kept in memory and in the store's Meta, so it survives a
// restart and is shared by replicas of one store. Checking a cookie never
// reads the store: the first check after the copy is older than
// revocationRefresh reads it once (one caller; the others go on with the
// copy they have). A revocation takes effect on this process at once.
//
// On bbolt (one process) that is all. On etcd, Meta is shared: another
// replica sees a revocation within revocationRefresh of the write. Meta
// has no compare-and-swap, so two replicas that sign out in the same
// moment can overwrite each other's write; each replica therefore keeps
// the sessions it revoked and, on every refresh, writes the list again if
// one of them is missing, so a lost entry is back within another
// revocationRefresh — unless the replica that revoked it stopped first.
//
// Without a Meta the list lives in this process only. Safe for
// concurrent use.
type revocations struct {
	meta datasource.Meta // nil: this process only
	now  func() time.Time
	log  *slog.Logger

	write sync.Mutex // serialises read-modify-writes of the stored list

	mu     sync.RWMutex
	ids    map[string]int64 // guarded by mu: every revoked session known here → expiry
	mine   map[string]int64 // guarded by mu: the ones this process revoked
	loaded time.Time        // guarded by mu: when ids was last read from the store

	loading atomic.Bool // a refresh is running
}

func newRevocations(meta datasource.Meta, now func() time.Time, log *slog.Logger) *revocations {
	return &revocations{meta: meta, now: now, log: log, ids: map[string]int64{}, mine: map[string]int64{}}
}

// revoked reports whether session id was signed out.
func (r *revocations) revoked(ctx context.Context, id string) bool {
	now := r.now()
	r.mu.RLock()
	stale := r.meta != nil && now.Sub(r.loaded) >= revocationRefresh
	r.mu.RUnlock()
	if stale && r.loading.CompareAndSwap(false, true) {
		r.refresh(ctx, now)
		r.loading.Store(false)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	exp, ok := r.ids[id]
	return ok && now.Unix() < exp
}

// revoke signs session id out until expires. It is in force in this
// process when revoke returns, also when the error (the store's) is not
// nil; the write is then retried by every refresh.
func (r *revocations) revoke(ctx context.Context, id string, expires time.Time) error {
	r.mu.Lock()
	r.ids[id] = expires.Unix()
	r.mine[id] = expires.Unix()
	r.mu.Unlock()
	if r.meta == nil {
		return nil
	}
	r.write.Lock()
	defer r.write.Unlock()
	now := r.now()
	stored, err := r.read(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	merged := r.merge(stored, now)
	r.mu.Unlock()
	if err := r.store(ctx, merged); err != nil {
		return err
	}
	r.mu.Lock()
	r.loaded = now
	r.mu.Unlock()
	return nil
}

// refresh reads the stored list, and writes it back when it lacks a
// session this process revoked (another replica's write replaced it).
// Whatever happens, the next refresh is a window away: a failing store is
// not asked on every request.
func (r *revocations) refresh(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r.write.Lock()
	defer r.write.Unlock()
	defer func() {
		r.mu.Lock()
		r.loaded = now
		r.mu.Unlock()
	}()
	stored, err := r.read(ctx)
	if err != nil {
		r.log.Warn("reading the revoked sessions failed; using the copy in memory", "err", err)
		return
	}
	r.mu.Lock()
	missing := false
	for id, exp := range r.mine {
		if _, ok := stored[id]; !ok && now.Unix() < exp {
			missing = true
		}
	}
	merged := r.merge(stored, now)
	r.mu.Unlock()
	if missing {
		if err := r.store(ctx, merged); err != nil {
			r.log.Warn("writing the revoked sessions failed; they are in force on this replica", "err", err)
		}
	}
}

// merge makes ids the union of stored and this process's revocations,
// without expired entries, and returns it. r.mu must be held.
func (r *revocations) merge(stored map[string]int64, now time.Time) map[string]int64 {
	out := make(map[string]int64, len(stored)+len(r.mine))
	for id, exp := range stored {
		if now.Unix() < exp {
			out[id] = exp
		}
	}
	for id, exp := range r.mine {
		if now.Unix() >= exp {
			delete(r.mine, id)
			continue
		}
		out[id] = exp
	}
	r.ids = out
	return out
}

func (r *revocations) read(ctx context.Context) (map[string]int64, error) {
	b, err := r.meta.Meta(ctx, metaRevokedSessions)
	if errors.Is(err, datasource.ErrNotFound) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		// Not ours to repair silently: a list that does not parse is
		// replaced by what this process knows, and said so.
		r.log.Warn("the stored list of revoked sessions does not parse; replacing it", "err", err)
		return map[string]int64{}, nil
	}
	return m, nil
}

func (r *revocations) store(ctx context.Context, list map[string]int64) error {
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return r.meta.SetMeta(ctx, metaRevokedSessions, b)
}
