package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grantd/grantd/datasource"
)

// AgentTokenPrefix starts every agent session token: "ga_<16 hex>_<secret>".
// The hex digits are the session's public id ("as_<16 hex>"), which finds
// its stored hash; the secret is 32 random bytes (256 bits), base64url.
const AgentTokenPrefix = "ga_"

// DefaultAgentSessionCache is how long a checked agent session is trusted
// without reading the store again when nothing says it was revoked.
const DefaultAgentSessionCache = 10 * time.Second

// Errors of AgentSessions. Check with errors.Is.
var (
	// ErrNoSuchAgentSession is returned for a token or id that names no
	// session: never made, revoked, purged, or a wrong secret.
	ErrNoSuchAgentSession = errors.New("access: no such agent session")
	// ErrAgentSessionExpired is returned by Check for a session past its
	// expiry.
	ErrAgentSessionExpired = errors.New("access: agent session expired")
)

// AgentSessionStore is what AgentSessions needs of a store.
type AgentSessionStore interface {
	datasource.AgentSessions
}

// AgentSessions makes, checks and revokes agent sessions: short-lived
// credentials for an MCP client, bound to one end user and a set of
// datasources (see DESIGN.md, "MCP"). Only a hash of a token is stored.
//
// Check reads a session from the store and trusts it for CacheFor. A
// revocation here forgets it at once; on another replica, the store's
// watch (datasource.AgentSessionWatcher, given to Run) forgets it when
// etcd reports the deletion — milliseconds — and CacheFor bounds the
// delay should the watch be down. Safe for concurrent use.
type AgentSessions struct {
	store AgentSessionStore
	now   func() time.Time
	log   *slog.Logger
	// CacheFor is how long a session read from the store is trusted;
	// DefaultAgentSessionCache when zero. Set it before first use.
	CacheFor time.Duration

	mu        sync.Mutex             // guards cache, forgotten and forgotAll
	cache     map[string]cachedAgent // by session id
	forgotten map[string]time.Time   // when each session was last forgotten
	forgotAll time.Time              // when every session was last forgotten
}

type cachedAgent struct {
	s    *datasource.AgentSession
	read time.Time
}

// NewAgentSessions returns the agent sessions of store. now is the clock
// for expiry (time.Now when nil).
func NewAgentSessions(store AgentSessionStore, now func() time.Time, log *slog.Logger) *AgentSessions {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &AgentSessions{store: store, now: now, log: log, cache: map[string]cachedAgent{}, forgotten: map[string]time.Time{}}
}

// IsAgentToken reports whether presented has the form of an agent session
// token.
func IsAgentToken(presented string) bool {
	_, ok := agentIDOf(presented)
	return ok
}

func agentIDOf(presented string) (string, bool) {
	rest, ok := strings.CutPrefix(presented, AgentTokenPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) < 43 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return "as_" + id, true
}

// Create makes a session for spec's end user and datasources (ids, which
// the caller has resolved and is allowed to hand on) lasting ttl, stores
// its hash and returns it with the token, which is shown once and never
// again.
//
// Errors: *datasource.ValidationError (end user, datasources, ttl beyond
// datasource.MaxAgentSessionTTL), or a store failure.
func (a *AgentSessions) Create(ctx context.Context, spec datasource.AgentSession, ttl time.Duration, by string) (*datasource.AgentSession, string, error) {
	now := a.now().UTC().Truncate(time.Millisecond)
	s := datasource.AgentSession{EndUserID: spec.EndUserID, Datasources: spec.Datasources, CreatedAt: now, ExpiresAt: now.Add(ttl), CreatedBy: by}
	if err := s.Validate(); err != nil {
		return nil, "", err
	}
	idb := make([]byte, 8)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	secret := make([]byte, 32)
	rand.Read(secret)
	token := AgentTokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	s.ID = "as_" + id
	s.Hash = sha256.Sum256([]byte(token))
	if err := a.store.CreateAgentSession(ctx, &s); err != nil {
		return nil, "", err
	}
	return &s, token, nil
}

// Check returns the session presented is the token of. It compares
// hashes in constant time; the id only chooses which hash to compare
// with.
//
// Errors: ErrNoSuchAgentSession, ErrAgentSessionExpired, or a store
// failure (not a verdict on the token).
func (a *AgentSessions) Check(ctx context.Context, presented string) (*datasource.AgentSession, error) {
	id, ok := agentIDOf(presented)
	if !ok {
		return nil, ErrNoSuchAgentSession
	}
	s, err := a.session(ctx, id)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(presented))
	if subtle.ConstantTimeCompare(sum[:], s.Hash[:]) != 1 {
		return nil, ErrNoSuchAgentSession
	}
	if s.Expired(a.now()) {
		return nil, ErrAgentSessionExpired
	}
	return s, nil
}

// session returns session id from the cache or the store.
func (a *AgentSessions) session(ctx context.Context, id string) (*datasource.AgentSession, error) {
	read := a.now()
	a.mu.Lock()
	c, ok := a.cache[id]
	a.mu.Unlock()
	if ok && read.Sub(c.read) < a.cacheFor() {
		return c.s, nil
	}
	s, err := a.store.AgentSession(ctx, id)
	if errors.Is(err, datasource.ErrNotFound) || errors.Is(err, datasource.ErrTampered) {
		return nil, ErrNoSuchAgentSession
	}
	if err != nil {
		return nil, fmt.Errorf("access: reading agent session %s: %w", id, err)
	}
	a.mu.Lock()
	// A revocation that came in while the store was read must not be
	// undone by caching what was read before it.
	if !a.forgotten[id].After(read) && !a.forgotAll.After(read) {
		a.cache[id] = cachedAgent{s: s, read: read}
	}
	a.mu.Unlock()
	return s, nil
}

func (a *AgentSessions) cacheFor() time.Duration {
	if a.CacheFor > 0 {
		return a.CacheFor
	}
	return DefaultAgentSessionCache
}

// forget drops session id from the cache; "" drops every session.
func (a *AgentSessions) forget(id string) {
	// A forget stamped later than any read in flight: the clock may stand
	// still (tests), so it is moved on by a nanosecond.
	at := a.now().Add(time.Nanosecond)
	a.mu.Lock()
	if id == "" {
		clear(a.cache)
		a.forgotAll = at
	} else {
		delete(a.cache, id)
		a.forgotten[id] = at
	}
	a.mu.Unlock()
}

// Get returns session id (expired or not), or ErrNoSuchAgentSession.
func (a *AgentSessions) Get(ctx context.Context, id string) (*datasource.AgentSession, error) {
	s, err := a.store.AgentSession(ctx, id)
	if errors.Is(err, datasource.ErrNotFound) || errors.Is(err, datasource.ErrTampered) {
		return nil, ErrNoSuchAgentSession
	}
	return s, err
}

// List returns the sessions that have not expired, oldest first (ties by
// id, so the order is stable; never a
// token: only hashes are kept).
func (a *AgentSessions) List(ctx context.Context) ([]*datasource.AgentSession, error) {
	all, err := a.store.AgentSessions(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	out := all[:0]
	for _, s := range all {
		if !s.Expired(now) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(x, y *datasource.AgentSession) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out, nil
}

// Revoke deletes session id: it is refused from now on, here at once, on
// other replicas when their watch reports it (see AgentSessions).
// Errors: ErrNoSuchAgentSession, or a store failure.
func (a *AgentSessions) Revoke(ctx context.Context, id string) error {
	err := a.store.DeleteAgentSession(ctx, id)
	a.forget(id)
	if errors.Is(err, datasource.ErrNotFound) {
		return ErrNoSuchAgentSession
	}
	return err
}

// PurgeEvery is how often Run removes expired sessions from the store.
const PurgeEvery = time.Minute

// Run removes expired sessions every PurgeEvery and, given the store's
// watch, forgets sessions other processes revoke, until ctx ends.
func (a *AgentSessions) Run(ctx context.Context, watch datasource.AgentSessionWatcher) {
	if watch != nil {
		go watch.WatchAgentSessions(ctx, a.forget)
	}
	t := time.NewTicker(PurgeEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if n, err := a.store.PurgeAgentSessions(ctx, a.now()); err != nil && ctx.Err() == nil {
				a.log.Warn("purging expired agent sessions failed", "err", err)
			} else if n > 0 {
				a.log.Debug("purged expired agent sessions", "sessions", n)
			}
			a.sweep()
		case <-ctx.Done():
			return
		}
	}
}

// sweep drops cache entries and revocation marks older than CacheFor.
func (a *AgentSessions) sweep() {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, c := range a.cache {
		if now.Sub(c.read) >= a.cacheFor() {
			delete(a.cache, id)
		}
	}
	for id, at := range a.forgotten {
		if now.Sub(at) >= a.cacheFor() {
			delete(a.forgotten, id)
		}
	}
}

// AgentActor names a session in audit events and logs: its id and end
// user, never the token.
func AgentActor(s *datasource.AgentSession) string {
	return fmt.Sprintf("agent:%s (%s)", s.ID, s.EndUserID)
}
