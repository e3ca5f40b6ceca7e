package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

// EndUserPassword is the password of the end user's credential the suite
// stores; implementations' own tests may look for it in their raw storage.
const EndUserPassword = "eu-pw-3c9e1a72-END-USER-PASSWORD"

// testStaticCredentials: a per-user datasource of a static auth type keeps
// each end user's credential on that connection's token record: read back
// whole, shown by the schedule views without unsealing, never another
// end user's, and erased when the datasource moves to another origin or
// changes its auth type.
func testStaticCredentials(t *testing.T, s datasource.Store) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	d := &datasource.Datasource{ID: "ds_b", Name: "basic", URL: "https://api.example.com/v1", ConnectionMode: datasource.PerUser,
		Auth: datasource.OAuth2{Type: datasource.AuthBasic}, CreatedAt: now, UpdatedAt: now}
	d.Normalize()
	if err := s.CreateDatasource(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.Datasource(ctx, d.ID)
	if err != nil || got.Auth.Type != datasource.AuthBasic {
		t.Fatalf("read back: %+v %v", got, err)
	}
	alice := datasource.Key{Datasource: d.ID, EndUser: "alice"}
	for _, u := range []string{"alice", "bob"} {
		if _, err := s.SaveConnection(ctx, conn(d.ID, u, now)); err != nil {
			t.Fatal(err)
		}
	}
	rec := &datasource.TokenRecord{Generation: 1, Status: datasource.StatusAuthorized, LastRefreshedAt: now,
		Credential: datasource.Credential{Username: "alice", Password: datasource.NewSecret(EndUserPassword)}}
	if err := s.SaveTokenRecord(ctx, alice, rec, 0); err != nil {
		t.Fatal(err)
	}
	back, err := s.TokenRecord(ctx, alice)
	if err != nil || !back.Credential.Equal(&rec.Credential) || back.Status != datasource.StatusAuthorized {
		t.Fatalf("credential read back: %+v %v", back, err)
	}
	sc, err := s.TokenSchedule(ctx, alice)
	if err != nil || !sc.HasCredential || sc.AuthType != datasource.AuthBasic || sc.HasToken {
		t.Errorf("schedule: %+v %v", sc, err)
	}
	if _, err := s.TokenRecord(ctx, datasource.Key{Datasource: d.ID, EndUser: "bob"}); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("bob has a record: %v", err)
	}
	page, _, err := s.ListConnections(ctx, datasource.ConnectionQuery{DatasourceID: d.ID})
	if err != nil || len(page) != 2 || !page[0].Schedule.HasCredential || page[1].Schedule.HasCredential {
		t.Errorf("listed: %+v %v", page, err)
	}

	moved := d.Clone()
	moved.URL = "https://api.example.com/v2"
	if erased, err := s.UpdateDatasource(ctx, moved); err != nil || erased {
		t.Fatalf("a new path erased the end users' credentials: %v %v", erased, err)
	}
	moved = moved.Clone()
	moved.URL = "https://elsewhere.example/v2"
	if erased, err := s.UpdateDatasource(ctx, moved); err != nil || !erased {
		t.Fatalf("an end user's credential followed the datasource to another host: %v %v", erased, err)
	}
	if _, err := s.TokenRecord(ctx, alice); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("credential after the move: %v", err)
	}
	if _, err := s.Connection(ctx, d.ID, "alice"); err != nil {
		t.Errorf("the connection itself went too: %v", err)
	}

	if err := s.SaveTokenRecord(ctx, alice, rec, 0); err != nil {
		t.Fatal(err)
	}
	bearer := moved.Clone()
	bearer.Auth = datasource.OAuth2{Type: datasource.AuthBearer}
	bearer.Normalize()
	if erased, err := s.UpdateDatasource(ctx, bearer); err != nil || !erased {
		t.Fatalf("a credential kept across a change of auth type: %v %v", erased, err)
	}
}
