package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

// APIKeys: stored by hash, listed oldest first, last use recorded only
// forward in time, deleted once.
func testAPIKeys(t *testing.T, s datasource.Store) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a := &datasource.APIKey{ID: "key_a", Name: "app", Permissions: []datasource.Permission{datasource.PermProxy, datasource.PermRead},
		Datasources: []string{"Vectara"}, Hash: sha256.Sum256([]byte("gk_key_a_secret")), CreatedAt: t0, CreatedBy: "token:abcd"}
	b := &datasource.APIKey{ID: "key_b", Name: "admin", Permissions: []datasource.Permission{datasource.PermAdmin},
		Hash: sha256.Sum256([]byte("gk_key_b_secret")), CreatedAt: t0.Add(time.Minute)}
	for _, k := range []*datasource.APIKey{b, a} {
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAPIKey(ctx, a); err == nil {
		t.Error("a second key with the same id was stored")
	}
	list, err := s.APIKeys(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "key_a" || list[0].Hash != a.Hash || list[0].Datasources[0] != "Vectara" || list[0].CreatedBy != "token:abcd" {
		t.Fatalf("list: %+v %v", list, err)
	}
	used := t0.Add(time.Hour)
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{"key_a": used, "key_gone": used}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{"key_a": t0}); err != nil { // older: ignored
		t.Fatal(err)
	}
	list, _ = s.APIKeys(ctx)
	if !list[0].LastUsedAt.Equal(used) {
		t.Errorf("lastUsedAt %v, want %v", list[0].LastUsedAt, used)
	}
	if err := s.DeleteAPIKey(ctx, "key_a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPIKey(ctx, "key_a"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if list, _ := s.APIKeys(ctx); len(list) != 1 || list[0].ID != "key_b" {
		t.Errorf("after delete: %+v", list)
	}
}
