package access_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants/grantstest"
)

func openBolt(t *testing.T) *bolt.Store {
	t.Helper()
	dir := t.TempDir()
	ks, _, _ := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), crypto.GenerateMasterKey())
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestAgentSessions: a session's token is shown once and stored as a
// hash; it is checked in constant time against that hash, refused once
// expired (by the injected clock) or revoked, and a revocation by
// another process holds here as soon as the watch reports it — or,
// without a watch, after CacheFor.
func TestAgentSessions(t *testing.T) {
	store := openBolt(t)
	clock := grantstest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	sessions := access.NewAgentSessions(store, clock.Now, nil)

	for _, c := range []struct {
		spec  datasource.AgentSession
		ttl   time.Duration
		field string
	}{
		{datasource.AgentSession{EndUserID: "u1", Datasources: []string{"ds_1"}}, 25 * time.Hour, "ttlSeconds"},
		{datasource.AgentSession{EndUserID: "u1", Datasources: []string{"ds_1"}}, 0, "ttlSeconds"},
		{datasource.AgentSession{EndUserID: "u 1", Datasources: []string{"ds_1"}}, time.Hour, "endUserId"},
		{datasource.AgentSession{EndUserID: "u1"}, time.Hour, "datasources"},
	} {
		_, _, err := sessions.Create(ctx, c.spec, c.ttl, "test")
		var v *datasource.ValidationError
		if !errors.As(err, &v) || v.Errors[0].Field != c.field {
			t.Errorf("%+v for %v: %v, want an error on %s", c.spec, c.ttl, err, c.field)
		}
	}

	s, token, err := sessions.Create(ctx, datasource.AgentSession{EndUserID: "user-a", Datasources: []string{"ds_1", "ds_2"}}, time.Hour, "key:key_1 (app)")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, access.AgentTokenPrefix) || !access.IsAgentToken(token) || access.IsKey(token) ||
		!strings.HasPrefix(s.ID, "as_") || !strings.Contains(token, s.ID[3:]) {
		t.Fatalf("token %q for %s", token, s.ID)
	}
	if got, err := sessions.Check(ctx, token); err != nil || got.ID != s.ID || got.EndUserID != "user-a" || !got.Covers("ds_2") || got.Covers("ds_3") {
		t.Fatalf("check: %+v %v", got, err)
	}
	for _, bad := range []string{tampered(token), token + "x", "ga_" + s.ID[3:] + "_short", "ga_0000000000000000_" + token[20:]} {
		if _, err := sessions.Check(ctx, bad); !errors.Is(err, access.ErrNoSuchAgentSession) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	stored, _ := store.AgentSession(ctx, s.ID)
	if stored.Hash == ([32]byte{}) || stored.CreatedBy != "key:key_1 (app)" || !stored.ExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("stored: %+v", stored)
	}

	// Expiry is the injected clock's.
	clock.Advance(time.Hour - time.Second)
	if _, err := sessions.Check(ctx, token); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	if list, _ := sessions.List(ctx); len(list) != 1 {
		t.Errorf("list before expiry: %d", len(list))
	}
	clock.Advance(time.Second)
	if _, err := sessions.Check(ctx, token); !errors.Is(err, access.ErrAgentSessionExpired) {
		t.Errorf("at expiry: %v", err)
	}
	if list, _ := sessions.List(ctx); len(list) != 0 {
		t.Errorf("list after expiry: %d", len(list))
	}

	// Revoked here: refused at once, though it was cached.
	s2, token2, _ := sessions.Create(ctx, datasource.AgentSession{EndUserID: "user-b", Datasources: []string{"ds_1"}}, time.Hour, "test")
	if _, err := sessions.Check(ctx, token2); err != nil {
		t.Fatal(err)
	}
	if err := sessions.Revoke(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Check(ctx, token2); !errors.Is(err, access.ErrNoSuchAgentSession) {
		t.Errorf("revoked: %v", err)
	}
	if err := sessions.Revoke(ctx, s2.ID); !errors.Is(err, access.ErrNoSuchAgentSession) {
		t.Errorf("second revoke: %v", err)
	}

	// Revoked by another process: without a watch, this one trusts its
	// cached copy for CacheFor at most.
	s3, token3, _ := sessions.Create(ctx, datasource.AgentSession{EndUserID: "user-c", Datasources: []string{"ds_1"}}, time.Hour, "test")
	if _, err := sessions.Check(ctx, token3); err != nil {
		t.Fatal(err)
	}
	other := access.NewAgentSessions(store, clock.Now, nil)
	if err := other.Revoke(ctx, s3.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Check(ctx, token3); !errors.Is(err, access.ErrNoSuchAgentSession) {
		t.Errorf("revoked, on the revoking process: %v", err)
	}
	clock.Advance(access.DefaultAgentSessionCache)
	if _, err := sessions.Check(ctx, token3); !errors.Is(err, access.ErrNoSuchAgentSession) {
		t.Errorf("revoked elsewhere, after CacheFor: %v", err)
	}
}

// watcher is a datasource.AgentSessionWatcher the test drives: report
// calls the deleted function Run handed to the watch, as etcd's watch
// does for another replica's revocation.
type watcher struct {
	deleted  func(id string)
	reported chan struct{} // closed once deleted is set
}

func (w *watcher) WatchAgentSessions(ctx context.Context, deleted func(id string)) {
	w.deleted = deleted
	close(w.reported)
	<-ctx.Done()
}

func (w *watcher) report(id string) {
	<-w.reported
	w.deleted(id)
}

// TestAgentSessionsWatch: a revocation another process reports through
// the store's watch is in force here at once, before CacheFor.
func TestAgentSessionsWatch(t *testing.T) {
	store := openBolt(t)
	clock := grantstest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	sessions := access.NewAgentSessions(store, clock.Now, nil)
	s, token, err := sessions.Create(ctx, datasource.AgentSession{EndUserID: "u", Datasources: []string{"ds_1"}}, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Check(ctx, token); err != nil {
		t.Fatal(err)
	}
	w := &watcher{reported: make(chan struct{})}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sessions.Run(rctx, w)
	if err := access.NewAgentSessions(store, clock.Now, nil).Revoke(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	w.report(s.ID) // what etcd's watch does on the other replicas
	if _, err := sessions.Check(ctx, token); !errors.Is(err, access.ErrNoSuchAgentSession) {
		t.Errorf("revoked elsewhere and reported: %v", err)
	}
}
