package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

func sampleAgentSession(id, user string, created time.Time, ttl time.Duration, ds ...string) *datasource.AgentSession {
	return &datasource.AgentSession{ID: id, EndUserID: user, Datasources: ds, Hash: sha256.Sum256([]byte("ga_" + id + "_secret")),
		CreatedAt: created, ExpiresAt: created.Add(ttl), CreatedBy: "key:key_1 (app)"}
}

// agentSessions returns s's agent sessions part, or skips the test.
func agentSessions(t *testing.T, s datasource.Store) datasource.AgentSessions {
	t.Helper()
	as, ok := s.(datasource.AgentSessions)
	if !ok {
		t.Skip("this store keeps no agent sessions")
	}
	return as
}

// AgentSessions: stored by hash with their end user and datasources,
// read by id and listed oldest first, deleted once (a revocation), and
// purged once expired.
func testAgentSessions(t *testing.T, s datasource.Store) {
	as := agentSessions(t, s)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a := sampleAgentSession("as_a", "user-a", t0, time.Hour, "ds_1", "ds_2")
	b := sampleAgentSession("as_b", "user-b", t0.Add(time.Minute), 24*time.Hour, "ds_1")
	for _, x := range []*datasource.AgentSession{b, a} {
		if err := as.CreateAgentSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := as.CreateAgentSession(ctx, a); err == nil {
		t.Error("a second session with the same id was stored")
	}
	got, err := as.AgentSession(ctx, "as_a")
	if err != nil || got.EndUserID != "user-a" || got.Hash != a.Hash || len(got.Datasources) != 2 || got.Datasources[1] != "ds_2" ||
		!got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.CreatedBy != a.CreatedBy {
		t.Fatalf("read: %+v %v", got, err)
	}
	if _, err := as.AgentSession(ctx, "as_nope"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	list, err := as.AgentSessions(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "as_a" || list[1].ID != "as_b" {
		t.Fatalf("list: %+v %v", list, err)
	}

	if n, err := as.PurgeAgentSessions(ctx, t0.Add(time.Hour-time.Second)); err != nil || n != 0 {
		t.Errorf("purge before anything expired: %d %v", n, err)
	}
	if n, err := as.PurgeAgentSessions(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("purge at a's expiry: %d %v, want 1", n, err)
	}
	if _, err := as.AgentSession(ctx, "as_a"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("a purged session: %v", err)
	}

	if err := as.DeleteAgentSession(ctx, "as_b"); err != nil {
		t.Fatal(err)
	}
	if err := as.DeleteAgentSession(ctx, "as_b"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if list, _ := as.AgentSessions(ctx); len(list) != 0 {
		t.Errorf("after delete: %+v", list)
	}
}

// attackChangedAgentSession: a session whose end user, datasources or
// hash were changed in the store, or that was copied under another id,
// is refused (and logged); the others keep working.
func attackChangedAgentSession(t *testing.T, a *attacker) {
	as := agentSessions(t, a.s)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	for _, x := range []*datasource.AgentSession{
		sampleAgentSession("as_user", "alice", t0, time.Hour, "ds_1"),
		sampleAgentSession("as_ds", "alice", t0, time.Hour, "ds_1"),
		sampleAgentSession("as_hash", "alice", t0, time.Hour, "ds_1"),
		sampleAgentSession("as_ok", "bob", t0, time.Hour, "ds_1"),
	} {
		if err := as.CreateAgentSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	a.edit(sealed.KindAgentSession, "as_user", func(r map[string]any) { r["endUserId"] = "mallory" })
	a.edit(sealed.KindAgentSession, "as_ds", func(r map[string]any) { r["datasources"] = []string{"ds_1", "ds_secret"} })
	a.edit(sealed.KindAgentSession, "as_hash", func(r map[string]any) {
		h := sha256.Sum256([]byte("ga_attacker_token"))
		r["sha256"] = h[:]
	})
	for _, id := range []string{"as_user", "as_ds", "as_hash"} {
		_, err := as.AgentSession(ctx, id)
		a.refused("changed agent session "+id, err, sealed.KindAgentSession, id)
	}
	a.copy(sealed.KindAgentSession, "as_ok", "as_copy")
	_, err := as.AgentSession(ctx, "as_copy")
	a.refused("agent session copied to as_copy", err, sealed.KindAgentSession, "as_copy")
	if s, err := as.AgentSession(ctx, "as_ok"); err != nil || s.EndUserID != "bob" {
		t.Errorf("the untouched session: %+v %v", s, err)
	}
	list, err := as.AgentSessions(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "as_ok" {
		t.Errorf("the list holds refused sessions: %+v %v", list, err)
	}
	a.notLogged("mallory")
}
