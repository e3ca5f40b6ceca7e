package access_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
)

func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	ks, _, _ := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), crypto.GenerateMasterKey())
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	keys, err := access.NewKeys(ctx, store, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Create(ctx, datasource.APIKey{Name: "x", Permissions: []datasource.Permission{"fly"}}, "test"); err == nil {
		t.Fatal("a key with an unknown permission was made")
	}
	key, presented, err := keys.Create(ctx, datasource.APIKey{Name: "app", Permissions: []datasource.Permission{datasource.PermProxy}}, "token:abcd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(presented, access.KeyPrefix) || len(presented) < 3+16+1+43 || !access.IsKey(presented) {
		t.Fatalf("key %q", presented)
	}
	if got, ok := keys.Check(presented); !ok || got.ID != key.ID || !got.Allows(datasource.PermProxy) || got.Allows(datasource.PermRead) {
		t.Fatalf("check: %+v %v", got, ok)
	}
	for _, bad := range []string{tampered(presented), presented + "x", "gk_" + key.ID[4:] + "_short", "admin-token-0123456789"} {
		if _, ok := keys.Check(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	// Stored: only the hash, and the use after a flush.
	raw, _ := store.APIKeys(ctx)
	if len(raw) != 1 || strings.Contains(string(raw[0].Hash[:]), presented) {
		t.Fatal("stored key")
	}
	keys.Flush(ctx)
	raw, _ = store.APIKeys(ctx)
	if !raw[0].LastUsedAt.Equal(now) {
		t.Errorf("lastUsedAt %v", raw[0].LastUsedAt)
	}
	// Another process revokes: a reload refuses it here too.
	other, _ := access.NewKeys(ctx, store, nil, nil)
	if _, err := other.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Revoke(ctx, key.ID); !errors.Is(err, access.ErrNoSuchKey) {
		t.Errorf("second revoke: %v", err)
	}
	if _, ok := keys.Check(presented); !ok {
		t.Fatal("refused before this process learned of it") // cached until reload
	}
	keys.Reload(ctx)
	if _, ok := keys.Check(presented); ok {
		t.Fatal("a revoked key still works after a reload")
	}
}

// tampered returns s with its last character changed for sure (one in 64
// tokens ends in any given character).
func tampered(s string) string {
	last := "A"
	if strings.HasSuffix(s, last) {
		last = "B"
	}
	return s[:len(s)-1] + last
}
