package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

// samplePerUser is a per-user authorization-code datasource.
func samplePerUser(id, name string) *datasource.Datasource {
	d := sample(id, name)
	d.ConnectionMode = datasource.PerUser
	return d
}

func conn(ds, user string, at time.Time) *datasource.Connection {
	return &datasource.Connection{DatasourceID: ds, EndUserID: user, EndUser: datasource.EndUser{DisplayName: "User " + user},
		Config: map[string]string{"subdomain": "acme"}, CreatedAt: at, UpdatedAt: at}
}

// Connections: each end user's connection has its own token record; a
// reconnect keeps the connection; nothing of one user reaches another; a
// deleted datasource takes its connections and their tokens along.
func testConnections(t *testing.T, s datasource.Store) {
	d := samplePerUser("ds_p", "per-user")
	if err := s.CreateDatasource(ctx, d); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	alice, bob := datasource.Key{Datasource: d.ID, EndUser: "alice@example.com"}, datasource.Key{Datasource: d.ID, EndUser: "bob"}

	// No connection: its token record cannot be written.
	if err := s.SaveTokenRecord(ctx, alice, sampleToken(1), 0); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("token of a connection that does not exist: %v", err)
	}
	if _, err := s.TokenSchedule(ctx, alice); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("schedule of a connection that does not exist: %v", err)
	}
	for _, k := range []datasource.Key{alice, bob} {
		created, err := s.SaveConnection(ctx, conn(d.ID, k.EndUser, t0))
		if err != nil || !created {
			t.Fatalf("create %s: %v %v", k, created, err)
		}
	}
	if err := s.SaveTokenRecord(ctx, alice, sampleToken(1), 0); err != nil {
		t.Fatal(err)
	}
	bobTok := sampleToken(1)
	bobTok.AccessToken, bobTok.RefreshToken = datasource.NewSecret("bob-access"), datasource.NewSecret("bob-refresh")
	if err := s.SaveTokenRecord(ctx, bob, bobTok, 0); err != nil {
		t.Fatal(err)
	}
	a, err := s.TokenRecord(ctx, alice)
	if err != nil || a.AccessToken.Reveal() != AccessToken {
		t.Fatalf("alice's record: %v", err)
	}
	b, err := s.TokenRecord(ctx, bob)
	if err != nil || b.AccessToken.Reveal() != "bob-access" {
		t.Fatalf("bob's record: %v", err)
	}
	if _, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("a per-user datasource has a shared record: %v", err)
	}

	// Reconnecting keeps the connection's createdAt.
	later := t0.Add(time.Hour)
	re := conn(d.ID, alice.EndUser, later)
	re.EndUser.DisplayName = "Alice"
	created, err := s.SaveConnection(ctx, re)
	if err != nil || created {
		t.Fatalf("reconnect: %v %v", created, err)
	}
	got, err := s.Connection(ctx, d.ID, alice.EndUser)
	if err != nil || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(later) || got.EndUser.DisplayName != "Alice" || got.Config["subdomain"] != "acme" {
		t.Fatalf("after reconnect: %+v %v", got, err)
	}

	// Schedules reports both connections and no shared key for d.
	seen := map[datasource.Key]datasource.Schedule{}
	if err := s.Schedules(ctx, func(k datasource.Key, sc datasource.Schedule) error { seen[k] = sc; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := seen[datasource.SharedKey(d.ID)]; ok {
		t.Error("Schedules reported a shared key for a per-user datasource")
	}
	for _, k := range []datasource.Key{alice, bob} {
		if sc, ok := seen[k]; !ok || !sc.HasToken || sc.GrantType != datasource.AuthorizationCode {
			t.Errorf("Schedules for %s: %+v %v", k, sc, ok)
		}
	}

	// Delete one connection: its token goes with it, the other stays.
	if err := s.DeleteConnection(ctx, d.ID, bob.EndUser); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConnection(ctx, d.ID, bob.EndUser); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.TokenRecord(ctx, bob); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("bob's token outlived his connection: %v", err)
	}

	// A change that erases tokens erases every connection's; the
	// connections stay, unauthorized.
	d2 := d.Clone()
	d2.URL = "https://elsewhere.example/api"
	if erased, err := s.UpdateDatasource(ctx, d2); err != nil || !erased {
		t.Fatalf("moving the url: %v %v", erased, err)
	}
	if _, err := s.TokenRecord(ctx, alice); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("alice's token survived a change of url origin: %v", err)
	}
	if _, err := s.Connection(ctx, d.ID, alice.EndUser); err != nil {
		t.Errorf("the connection went with its tokens: %v", err)
	}

	// Deleting the datasource deletes its connections.
	if err := s.SaveTokenRecord(ctx, alice, sampleToken(1), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDatasource(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Connection(ctx, d.ID, alice.EndUser); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("connection after the datasource was deleted: %v", err)
	}
	if _, err := s.TokenRecord(ctx, alice); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("token after the datasource was deleted: %v", err)
	}
	if _, err := s.SaveConnection(ctx, conn(d.ID, "carol", t0)); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("connection to a deleted datasource: %v", err)
	}
}

// ConnectionsPaged: pages in end user order, a cursor that resumes after
// the last, a status filter that still fills pages, and other datasources'
// connections never mixed in.
func testConnectionsPaged(t *testing.T, s datasource.Store) {
	d, other := samplePerUser("ds_q", "paged"), samplePerUser("ds_q2", "other")
	for _, x := range []*datasource.Datasource{d, other} {
		if err := s.CreateDatasource(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var users []string
	for i := range 23 {
		u := fmt.Sprintf("user-%02d", i)
		users = append(users, u)
		if _, err := s.SaveConnection(ctx, conn(d.ID, u, t0)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := s.SaveTokenRecord(ctx, datasource.Key{Datasource: d.ID, EndUser: u}, sampleToken(1), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.SaveConnection(ctx, conn(other.ID, "user-00", t0)); err != nil {
		t.Fatal(err)
	}
	walk := func(q datasource.ConnectionQuery) []string {
		t.Helper()
		var all []string
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatal("paging does not end")
			}
			page, next, err := s.ListConnections(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > q.Limit {
				t.Fatalf("page of %d, limit %d", len(page), q.Limit)
			}
			for _, cs := range page {
				if cs.Connection.DatasourceID != d.ID {
					t.Fatalf("another datasource's connection: %+v", cs.Connection)
				}
				all = append(all, cs.Connection.EndUserID)
			}
			if next == "" {
				return all
			}
			q.After = next
		}
	}
	if got := walk(datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 5}); !slices.Equal(got, users) {
		t.Fatalf("pages: %v", got)
	}
	var authorized []string
	for i, u := range users {
		if i%3 == 0 {
			authorized = append(authorized, u)
		}
	}
	if got := walk(datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 3, Status: datasource.StatusAuthorized}); !slices.Equal(got, authorized) {
		t.Fatalf("authorized pages: %v, want %v", got, authorized)
	}
	if got := walk(datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 4, Status: datasource.StatusUnauthorized}); len(got) != len(users)-len(authorized) {
		t.Fatalf("unauthorized pages: %v", got)
	}
	// A prefix search pages too, from the prefix or from a cursor before it.
	var ones []string
	for _, u := range users {
		if strings.HasPrefix(u, "user-1") {
			ones = append(ones, u)
		}
	}
	for _, after := range []string{"", "user-0", "user-1"} {
		if got := walk(datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 3, Prefix: "user-1", After: after}); !slices.Equal(got, ones) {
			t.Fatalf("prefix user-1 after %q: %v, want %v", after, got, ones)
		}
	}
	if got := walk(datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 3, Prefix: "user-1", After: "user-15"}); !slices.Equal(got, ones[6:]) {
		t.Fatalf("prefix user-1 after user-15: %v", got)
	}
	if got := walk(datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 3, Prefix: "user-0", Status: datasource.StatusAuthorized}); !slices.Equal(got, []string{"user-00", "user-03", "user-06", "user-09"}) {
		t.Fatalf("authorized with prefix user-0: %v", got)
	}
	if got := walk(datasource.ConnectionQuery{DatasourceID: d.ID, Limit: 3, Prefix: "zed"}); len(got) != 0 {
		t.Fatalf("prefix zed: %v", got)
	}
	if _, _, err := s.ListConnections(ctx, datasource.ConnectionQuery{DatasourceID: "ds_none"}); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("connections of an unknown datasource: %v", err)
	}
}
