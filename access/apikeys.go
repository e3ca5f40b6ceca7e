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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/datasource"
)

// KeyPrefix starts every API key: "gk_<16 hex>_<secret>". The hex digits
// are the key's public id ("key_<16 hex>"), which finds its stored hash;
// the secret is 32 random bytes (256 bits), base64url.
const KeyPrefix = "gk_"

// TouchEvery is how often last-use times are written: at most one write
// per key per TouchEvery, never one per request.
const TouchEvery = time.Minute

// ErrNoSuchKey is returned by Keys.Revoke for an unknown id.
var ErrNoSuchKey = errors.New("access: no such API key")

// KeyStore is what Keys needs of a store.
type KeyStore interface {
	datasource.APIKeys
}

// Keys checks and manages API keys. It holds every key (hashes only) in
// memory, so checking a key costs no store read; Reload refreshes the copy
// (after another replica's change, through datasource.APIKeyWatcher).
// Safe for concurrent use.
type Keys struct {
	store KeyStore
	now   func() time.Time
	log   *slog.Logger

	byID atomic.Pointer[map[string]*datasource.APIKey] // replaced whole on change

	// uses holds, by key id, the last use this process saw (*atomic.Int64,
	// Unix nanoseconds): a check stores a time, without a lock; Flush
	// writes the ones newer than written holds.
	uses    sync.Map
	mu      sync.Mutex       // serialises Flush
	written map[string]int64 // last use written, by key id
}

// NewKeys loads the keys of store. now is the clock (time.Now when nil).
func NewKeys(ctx context.Context, store KeyStore, now func() time.Time, log *slog.Logger) (*Keys, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	k := &Keys{store: store, now: now, log: log, written: map[string]int64{}}
	return k, k.Reload(ctx)
}

// Reload reads every key from the store again.
func (k *Keys) Reload(ctx context.Context) error {
	list, err := k.store.APIKeys(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]*datasource.APIKey, len(list))
	for _, key := range list {
		m[key.ID] = key
	}
	k.byID.Store(&m)
	return nil
}

// Check returns the key that presented is, or false. It costs no store
// read and compares hashes in constant time; the id only chooses which
// hash to compare with.
func (k *Keys) Check(presented string) (*datasource.APIKey, bool) {
	id, ok := idOf(presented)
	if !ok {
		return nil, false
	}
	key := (*k.byID.Load())[id]
	if key == nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(presented))
	if subtle.ConstantTimeCompare(sum[:], key.Hash[:]) != 1 {
		return nil, false
	}
	k.lastUse(id).Store(k.now().UnixNano())
	return key, true
}

func (k *Keys) lastUse(id string) *atomic.Int64 {
	if v, ok := k.uses.Load(id); ok {
		return v.(*atomic.Int64)
	}
	v, _ := k.uses.LoadOrStore(id, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// IsKey reports whether presented has the form of an API key (not the
// admin token).
func IsKey(presented string) bool {
	_, ok := idOf(presented)
	return ok
}

func idOf(presented string) (string, bool) {
	rest, ok := strings.CutPrefix(presented, KeyPrefix)
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
	return "key_" + id, true
}

// Create makes a key for spec (name, permissions, datasources), stores its
// hash and returns the stored key with the key itself, which is shown
// once and never again.
//
// Errors: *datasource.ValidationError, or a store failure.
func (k *Keys) Create(ctx context.Context, spec datasource.APIKey, by string) (*datasource.APIKey, string, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	if err := spec.Validate(); err != nil {
		return nil, "", err
	}
	idb := make([]byte, 8)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	secret := make([]byte, 32)
	rand.Read(secret)
	presented := KeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	key := spec
	key.ID = "key_" + id
	key.Hash = sha256.Sum256([]byte(presented))
	key.CreatedAt = k.now().UTC().Truncate(time.Millisecond)
	key.CreatedBy = by
	key.LastUsedAt = time.Time{}
	if err := k.store.CreateAPIKey(ctx, &key); err != nil {
		return nil, "", err
	}
	if err := k.Reload(ctx); err != nil {
		return nil, "", err
	}
	return &key, presented, nil
}

// List returns every key (never a key itself), oldest first, with last
// use as the store has it or, if more recent, as this process saw it.
func (k *Keys) List() []*datasource.APIKey {
	m := *k.byID.Load()
	out := make([]*datasource.APIKey, 0, len(m))
	for _, key := range m {
		c := *key
		if v, ok := k.uses.Load(c.ID); ok {
			if t := time.Unix(0, v.(*atomic.Int64).Load()); t.After(c.LastUsedAt) {
				c.LastUsedAt = t
			}
		}
		out = append(out, &c)
	}
	sortKeys(out)
	return out
}

// Revoke deletes key id: it is refused from now on, here at once, on
// other replicas when their watch reloads.
func (k *Keys) Revoke(ctx context.Context, id string) (*datasource.APIKey, error) {
	key := (*k.byID.Load())[id]
	if err := k.store.DeleteAPIKey(ctx, id); errors.Is(err, datasource.ErrNotFound) {
		return nil, ErrNoSuchKey
	} else if err != nil {
		return nil, err
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	if key == nil {
		key = &datasource.APIKey{ID: id}
	}
	return key, nil
}

// Run writes last-use times every TouchEvery and reloads the keys when
// another process changes them (watch, when the store has one), until ctx
// ends.
func (k *Keys) Run(ctx context.Context, watch datasource.APIKeyWatcher) {
	if watch != nil {
		go watch.WatchAPIKeys(ctx, func() {
			if err := k.Reload(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("reloading API keys failed", "err", err)
			}
		})
	}
	t := time.NewTicker(TouchEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			k.Flush(ctx)
		case <-ctx.Done():
			k.Flush(context.Background())
			return
		}
	}
}

// Flush writes the last-use times seen since the last flush.
func (k *Keys) Flush(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
	used := map[string]time.Time{}
	k.uses.Range(func(id, v any) bool {
		if t := v.(*atomic.Int64).Load(); t > k.written[id.(string)] {
			used[id.(string)] = time.Unix(0, t)
			k.written[id.(string)] = t
		}
		return true
	})
	if len(used) == 0 {
		return
	}
	if err := k.store.TouchAPIKeys(ctx, used); err != nil {
		k.log.Warn("recording API key use failed", "keys", len(used), "err", err)
	}
}

// Actor names a key in audit events and logs: its id and name, never
// the key.
func Actor(key *datasource.APIKey) string { return fmt.Sprintf("key:%s (%s)", key.ID, key.Name) }

func sortKeys(ks []*datasource.APIKey) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j].CreatedAt.Before(ks[j-1].CreatedAt); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}
