package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

// memMeta is a datasource.Meta in memory that counts its reads.
type memMeta struct {
	mu    sync.Mutex
	vals  map[string][]byte
	reads int
}

func (m *memMeta) Meta(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	v, ok := m.vals[key]
	if !ok {
		return nil, datasource.ErrNotFound
	}
	return v, nil
}

func (m *memMeta) SetMeta(_ context.Context, key string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vals == nil {
		m.vals = map[string][]byte{}
	}
	m.vals[key] = v
	return nil
}

func (m *memMeta) list(t *testing.T) map[string]int64 {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out map[string]int64
	if b := m.vals[metaRevokedSessions]; b != nil {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time          { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) advance(d time.Duration) { f.mu.Lock(); f.t = f.t.Add(d); f.mu.Unlock() }

func TestRevocations(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	meta := &memMeta{}
	a := newRevocations(meta, clock.now, log)
	b := newRevocations(meta, clock.now, log) // another replica

	if err := a.revoke(ctx, "s1", clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !a.revoked(ctx, "s1") || a.revoked(ctx, "s2") {
		t.Fatal("revoked here: s1 should be, s2 not")
	}
	if !b.revoked(ctx, "s1") {
		t.Fatal("the other replica, on its first read, does not see s1")
	}

	// Checks read the store at most once per window.
	meta.mu.Lock()
	before := meta.reads
	meta.mu.Unlock()
	for range 1000 {
		a.revoked(ctx, "s2")
		b.revoked(ctx, "s2")
	}
	meta.mu.Lock()
	if meta.reads != before {
		t.Errorf("%d store reads for 2000 checks within a window", meta.reads-before)
	}
	meta.mu.Unlock()

	// A lost update: b writes a list read before a's revocation of s3
	// (what two replicas signing out at once can do to each other).
	stale, _ := json.Marshal(meta.list(t))
	if err := a.revoke(ctx, "s3", clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	meta.SetMeta(ctx, metaRevokedSessions, stale)
	if _, ok := meta.list(t)["s3"]; ok {
		t.Fatal("the test did not lose the update")
	}
	clock.advance(revocationRefresh)
	if !a.revoked(ctx, "s3") {
		t.Error("the revoking replica forgot s3")
	}
	if _, ok := meta.list(t)["s3"]; !ok {
		t.Error("the revoking replica did not write s3 back")
	}
	clock.advance(revocationRefresh)
	if !b.revoked(ctx, "s3") {
		t.Error("the other replica does not see s3 after the repair")
	}

	// After expiry entries are no longer revoked (the cookie is dead
	// anyway) and are purged from the store and from memory.
	if err := b.revoke(ctx, "s4", clock.now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Hour + time.Second)
	a.revoked(ctx, "x")
	if err := a.revoke(ctx, "s5", clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := meta.list(t)
	if _, ok := got["s1"]; ok || len(got) != 2 || got["s4"] == 0 || got["s5"] == 0 {
		t.Errorf("stored after the first hour: %v, want s4 and s5", got)
	}
	a.mu.RLock()
	n, mine := len(a.ids), len(a.mine)
	a.mu.RUnlock()
	if n != 2 || mine != 1 {
		t.Errorf("in memory: %d revoked, %d of them mine; want 2 and 1", n, mine)
	}

	// Without a store, revocations hold in the process.
	solo := newRevocations(nil, clock.now, log)
	solo.revoke(ctx, "s6", clock.now().Add(time.Minute))
	if !solo.revoked(ctx, "s6") {
		t.Error("no store: s6 not revoked")
	}
}
