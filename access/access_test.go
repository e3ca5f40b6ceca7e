package access_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
)

var ctx = context.Background()

// mustOpen opens a bbolt store in a temporary directory and its keyset.
func mustOpen(tb testing.TB) (*bolt.Store, *crypto.Keyset) {
	tb.Helper()
	keys, err := crypto.NewKeyset()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(tb.TempDir(), "grantd.db"), keys, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, keys
}

// shared is a store that several processes share, as etcd is: it adds
// datasource.MetaCreator to the bbolt store. Its first n Meta calls wait
// until all n have been made, so that n racers all find the store empty
// and all try to create.
type shared struct {
	*bolt.Store
	mu      sync.Mutex // guards CreateMeta's read and write, as an etcd transaction would
	arrived sync.WaitGroup
	n       int // racers
	calls   int
	callsMu sync.Mutex // guards calls
}

func newShared(st *bolt.Store, n int) *shared {
	s := &shared{Store: st, n: n}
	s.arrived.Add(n)
	return s
}

func (s *shared) Meta(ctx context.Context, key string) ([]byte, error) {
	s.callsMu.Lock()
	i := s.calls
	s.calls++
	s.callsMu.Unlock()
	b, err := s.Store.Meta(ctx, key)
	if i < s.n {
		s.arrived.Done()
		s.arrived.Wait()
	}
	return b, err
}

func (s *shared) CreateMeta(ctx context.Context, key string, value []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.Store.Meta(ctx, key)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, datasource.ErrNotFound) {
		return false, err
	}
	return true, s.Store.SetMeta(ctx, key, value)
}

var _ datasource.MetaCreator = (*shared)(nil)

func TestEnsureAdminToken(t *testing.T) {
	st, _ := mustOpen(t)

	// A configured token wins and stores nothing.
	h, generated, err := access.EnsureAdminToken(ctx, st, "configured-token-0123")
	if err != nil || generated != "" || h != sha256.Sum256([]byte("configured-token-0123")) {
		t.Fatalf("configured: %x %q %v", h, generated, err)
	}
	if _, err := access.AdminTokenHash(ctx, st); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("a configured token was stored: %v", err)
	}
	if _, _, err := access.EnsureAdminToken(ctx, st, "short-token"); !errors.Is(err, access.ErrShortAdminToken) {
		t.Fatalf("short: %v, want ErrShortAdminToken", err)
	}

	// None configured: one is generated, once.
	h, generated, err = access.EnsureAdminToken(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^gd_[A-Za-z0-9_-]{43}$`).MatchString(generated) {
		t.Errorf("generated %q, want gd_ and 43 base64url characters", generated)
	}
	if h != sha256.Sum256([]byte(generated)) {
		t.Error("the hash is not the generated token's")
	}
	again, generatedAgain, err := access.EnsureAdminToken(ctx, st, "")
	if err != nil || generatedAgain != "" || again != h {
		t.Fatalf("second start: %x %q %v, want the stored hash and nothing generated", again, generatedAgain, err)
	}
	if stored, err := access.AdminTokenHash(ctx, st); err != nil || stored != h {
		t.Errorf("AdminTokenHash: %x %v", stored, err)
	}

	// A reset replaces it.
	tok, reset, err := access.ResetAdminToken(ctx, st)
	if err != nil || reset == h || reset != sha256.Sum256([]byte(tok)) {
		t.Fatalf("reset: %q %x %v", tok, reset, err)
	}
	if got, generated, _ := access.EnsureAdminToken(ctx, st, ""); got != reset || generated != "" {
		t.Errorf("after reset: %x %q, want the new hash", got, generated)
	}
}

func TestEnsureAdminTokenReplacesAStoredValueThatIsNoHash(t *testing.T) {
	st, _ := mustOpen(t)
	st.SetMeta(ctx, "admin-token-sha256", []byte("short"))
	if _, err := access.AdminTokenHash(ctx, st); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("AdminTokenHash of a malformed value: %v, want ErrNotFound", err)
	}
	h, generated, err := access.EnsureAdminToken(ctx, st, "")
	if err != nil || generated == "" || h != sha256.Sum256([]byte(generated)) {
		t.Fatalf("%x %q %v", h, generated, err)
	}
}

func TestSessionKey(t *testing.T) {
	st, keys := mustOpen(t)
	k, err := access.SessionKey(ctx, st, keys)
	if err != nil || len(k) != 32 {
		t.Fatalf("%d bytes, %v", len(k), err)
	}
	stored, _ := st.Meta(ctx, "session-key")
	if bytes.Contains(stored, k) {
		t.Error("the session key is stored in clear")
	}
	again, err := access.SessionKey(ctx, st, keys)
	if err != nil || !bytes.Equal(again, k) {
		t.Errorf("second start: %v, a different key: %v", err, !bytes.Equal(again, k))
	}

	other, _ := crypto.NewKeyset()
	if _, err := access.SessionKey(ctx, st, other); !errors.Is(err, access.ErrSessionKeySealed) {
		t.Errorf("another keyset: %v, want ErrSessionKeySealed", err)
	}

	rotated, err := keys.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if err := access.ResealSessionKey(ctx, st, keys, rotated); err != nil {
		t.Fatal(err)
	}
	if resealed, _ := st.Meta(ctx, "session-key"); bytes.Equal(resealed, stored) {
		t.Error("ResealSessionKey left the old sealing")
	}
	if got, err := access.SessionKey(ctx, st, rotated); err != nil || !bytes.Equal(got, k) {
		t.Errorf("after rotation: %v, same key: %v", err, bytes.Equal(got, k))
	}
}

func TestResealSessionKeyWithoutOne(t *testing.T) {
	st, keys := mustOpen(t)
	rotated, _ := keys.Rotate()
	if err := access.ResealSessionKey(ctx, st, keys, rotated); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Meta(ctx, "session-key"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("a session key appeared: %v", err)
	}
}

// TestReplicasAgree starts two replicas on one empty shared store at the
// same moment: both find nothing, both try to create, one wins, and both
// end up with the winner's admin token hash and session key.
func TestReplicasAgree(t *testing.T) {
	type result struct {
		hash      [sha256.Size]byte
		generated string
		key       []byte
		err       error
	}
	for range 20 {
		st, keys := mustOpen(t)
		tokens, sessions := newShared(st, 2), newShared(st, 2)
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i := range results {
			wg.Go(func() {
				r := &results[i]
				r.hash, r.generated, r.err = access.EnsureAdminToken(ctx, tokens, "")
				if r.err == nil {
					r.key, r.err = access.SessionKey(ctx, sessions, keys)
				}
			})
		}
		wg.Wait()
		a, b := results[0], results[1]
		if a.err != nil || b.err != nil {
			t.Fatal(a.err, b.err)
		}
		if a.hash != b.hash {
			t.Fatal("the replicas use different admin tokens")
		}
		if (a.generated == "") == (b.generated == "") {
			t.Fatalf("generated %q and %q: want exactly one token shown", a.generated, b.generated)
		}
		if a.hash != sha256.Sum256([]byte(a.generated+b.generated)) {
			t.Fatal("the hash both use is not the shown token's")
		}
		if !bytes.Equal(a.key, b.key) {
			t.Fatal("the replicas use different session keys")
		}
		if stored, err := access.AdminTokenHash(ctx, st); err != nil || stored != a.hash {
			t.Fatalf("stored %x, %v", stored, err)
		}
	}
}
