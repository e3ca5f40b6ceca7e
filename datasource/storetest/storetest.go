// Package storetest is the conformance suite of datasource.Store: every
// implementation (bolt, etcd) runs the same tests, so they behave the same.
//
// A store whose tests give it the Raw hook also runs the attack tests:
// records changed or moved behind the store's back must be refused one by
// one, and logged, while the rest keeps working.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

var ctx = context.Background()

// Opener returns a new, empty store that logs to log; the store is closed
// by the caller's cleanup.
type Opener func(t *testing.T, log *slog.Logger) datasource.Store

// Run runs the suite, each test on a store of its own from open.
func Run(t *testing.T, open Opener) {
	quiet := func(t *testing.T) datasource.Store { return open(t, slog.New(slog.DiscardHandler)) }
	runAttacks(t, open)
	for _, c := range []struct {
		name string
		fn   func(*testing.T, datasource.Store)
	}{
		{"CRUD", testCRUD},
		{"TokenGenerations", testTokenGenerations},
		{"ConcurrentTokenSaves", testConcurrentTokenSaves},
		{"ConsumeStateOnce", testConsumeStateOnce},
		{"ReadStateKeepsIt", testReadStateKeepsIt},
		{"PurgeStatesAndDeleteCascade", testPurgeStatesAndDeleteCascade},
		{"SecretsRoundTrip", testSecretsRoundTrip},
		{"Meta", testMeta},
		{"NamesIgnoreCase", testNamesIgnoreCase},
		{"TokensStayWithTheirOrigin", testTokensStayWithTheirOrigin},
		{"Connections", testConnections},
		{"ConnectionsPaged", testConnectionsPaged},
		{"APIKeys", testAPIKeys},
		{"ProviderFields", testProviderFields},
		{"StaticCredentials", testStaticCredentials},
		{"AgentSessions", testAgentSessions},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, quiet(t)) })
	}
	for _, c := range []struct {
		name string
		fn   func(*testing.T, events)
	}{
		{"EventLog", testEventLog},
		{"Outbox", testOutbox},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := quiet(t)
			log, ok := s.(datasource.EventLog)
			if !ok {
				t.Skip("this store keeps no events")
			}
			out, ok := s.(datasource.Outbox)
			if !ok {
				t.Fatal("the store is a datasource.EventLog but not a datasource.Outbox: AppendEvents queues deliveries, something must hand them out")
			}
			c.fn(t, events{log, out})
		})
	}
}

// events is a store's event log with its outbox.
type events struct {
	datasource.EventLog
	datasource.Outbox
}

// Secrets used by the suite; implementations' own tests may look for them
// in their raw storage.
const (
	ClientSecret = "cs-5f1d8e0b-CLIENT-SECRET"
	AccessToken  = "at-9a7c2b14-ACCESS-TOKEN"
	RefreshToken = "rt-0e4b6d31-REFRESH-TOKEN"
	Verifier     = "pkce-verifier-77c1a9d0e2f3"
)

// Sample is a datasource with every secret field set.
func Sample(id, name string) *datasource.Datasource { return sample(id, name) }

// SampleToken is a token record of generation gen.
func SampleToken(gen uint64) *datasource.TokenRecord { return sampleToken(gen) }

func sample(id, name string) *datasource.Datasource {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	d := &datasource.Datasource{
		ID:   id,
		Name: name,
		URL:  "https://api.example.com/v1",
		Auth: datasource.OAuth2{
			GrantType:        datasource.AuthorizationCode,
			AccessTokenURL:   "https://auth.example.com/token",
			AuthorizationURL: "https://auth.example.com/authorize",
			ClientID:         "client-" + id,
			ClientSecret:     datasource.NewSecret(ClientSecret),
			Scope:            "read, write",
			CustomAuthParams: map[string]string{"prompt": "consent"},
			TokenParams:      map[string]string{"tenant": "a"},
			Audience:         "https://api.example.com",
		},
		CreatedAt: now,
		UpdatedAt: now,
	}
	d.Normalize()
	return d
}

func sampleToken(gen uint64) *datasource.TokenRecord {
	return &datasource.TokenRecord{
		Generation:      gen,
		AccessToken:     datasource.NewSecret(AccessToken),
		RefreshToken:    datasource.NewSecret(RefreshToken),
		TokenType:       "Bearer",
		Expiry:          time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC),
		GrantedScope:    "read",
		Status:          datasource.StatusAuthorized,
		LastRefreshedAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
	}
}

func testSecretsRoundTrip(t *testing.T, s datasource.Store) {
	d := sample("ds_1", "one")
	if err := s.CreateDatasource(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.Datasource(ctx, d.ID)
	if err != nil || got.Auth.ClientSecret.Reveal() != ClientSecret || got.Auth.ClientID != d.Auth.ClientID {
		t.Fatalf("datasource: %+v %v", got, err)
	}
	if err := s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(1), 0); err != nil {
		t.Fatal(err)
	}
	tok, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID))
	if err != nil || tok.AccessToken.Reveal() != AccessToken || tok.RefreshToken.Reveal() != RefreshToken || !tok.Expiry.Equal(sampleToken(1).Expiry) {
		t.Fatalf("token: %+v %v", tok, err)
	}
	if err := s.SaveState(ctx, &datasource.State{Key: "k", DatasourceID: d.ID, Verifier: datasource.NewSecret(Verifier), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.ConsumeState(ctx, "k")
	if err != nil || st.Verifier.Reveal() != Verifier {
		t.Fatalf("state: %+v %v", st, err)
	}
}

func testMeta(t *testing.T, s datasource.Store) {
	if _, err := s.Meta(ctx, "x"); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("missing meta: %v", err)
	}
	if err := s.SetMeta(ctx, "x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(ctx, "x"); err != nil || string(v) != "1" {
		t.Fatalf("meta: %q %v", v, err)
	}
}

func testCRUD(t *testing.T, s datasource.Store) {
	a, b := sample("ds_a", "Alpha"), sample("ds_b", "beta")
	for _, d := range []*datasource.Datasource{b, a} {
		if err := s.CreateDatasource(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateDatasource(ctx, sample("ds_c", "Alpha")); !errors.Is(err, datasource.ErrDuplicateName) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := s.Datasource(ctx, "ds_c"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("a refused create left a record: %v", err)
	}
	list, err := s.ListDatasources(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "Alpha" || list[1].Name != "beta" {
		t.Fatalf("list = %v, %v", names(list), err)
	}
	byName, err := s.DatasourceByName(ctx, "beta")
	if err != nil || byName.ID != "ds_b" {
		t.Fatalf("by name: %v %v", byName, err)
	}

	// Rename, then the old name is free and the new one taken.
	a2 := a.Clone()
	a2.Name = "Gamma"
	if _, err := s.UpdateDatasource(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DatasourceByName(ctx, "Alpha"); !errors.Is(err, datasource.ErrNotFound) {
		t.Error("old name still indexed")
	}
	b2 := b.Clone()
	b2.Name = "Gamma"
	if _, err := s.UpdateDatasource(ctx, b2); !errors.Is(err, datasource.ErrDuplicateName) {
		t.Errorf("rename onto a taken name: %v", err)
	}
	if got, _ := s.Datasource(ctx, "ds_b"); got.Name != "beta" {
		t.Error("refused update changed the record")
	}
	if _, err := s.UpdateDatasource(ctx, sample("ds_x", "x")); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("update unknown: %v", err)
	}

	if err := s.DeleteDatasource(ctx, "ds_a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDatasource(ctx, "ds_a"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if err := s.CreateDatasource(ctx, sample("ds_d", "Gamma")); err != nil {
		t.Errorf("name of a deleted datasource not reusable: %v", err)
	}
}

// Names are one name whatever their case: "Vectara" and "vectara" cannot
// both exist, either finds it, and a change of case alone is a rename onto
// itself, not onto a taken name.
func testNamesIgnoreCase(t *testing.T, s datasource.Store) {
	if err := s.CreateDatasource(ctx, sample("ds_v", "Vectara")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"vectara", "VECTARA"} {
		if err := s.CreateDatasource(ctx, sample("ds_"+n, n)); !errors.Is(err, datasource.ErrDuplicateName) {
			t.Errorf("create %q beside Vectara: %v", n, err)
		}
		if d, err := s.DatasourceByName(ctx, n); err != nil || d.ID != "ds_v" {
			t.Errorf("by name %q: %v %v", n, d, err)
		}
	}
	if err := s.CreateDatasource(ctx, sample("ds_o", "other")); err != nil {
		t.Fatal(err)
	}
	o := sample("ds_o", "VECTARA")
	if _, err := s.UpdateDatasource(ctx, o); !errors.Is(err, datasource.ErrDuplicateName) {
		t.Errorf("rename onto vectara in other case: %v", err)
	}
	v := sample("ds_v", "VECTARA")
	if _, err := s.UpdateDatasource(ctx, v); err != nil {
		t.Fatalf("change of case: %v", err)
	}
	if d, err := s.DatasourceByName(ctx, "Vectara"); err != nil || d.Name != "VECTARA" {
		t.Errorf("after the change of case: %v %v", d, err)
	}
	if err := s.DeleteDatasource(ctx, "ds_v"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDatasource(ctx, sample("ds_w", "vectara")); err != nil {
		t.Errorf("the name is free again: %v", err)
	}
}

// A person's tokens do not follow a datasource to another upstream host;
// a change of path, or a client-credentials token, stays.
func testTokensStayWithTheirOrigin(t *testing.T, s datasource.Store) {
	d := sample("ds_o", "origin")
	if err := s.CreateDatasource(ctx, d); err != nil {
		t.Fatal(err)
	}
	save := func(gen uint64) {
		t.Helper()
		if err := s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(gen), gen-1); err != nil {
			t.Fatal(err)
		}
	}
	save(1)
	d2 := d.Clone()
	d2.URL = "https://api.example.com/v2"
	if erased, err := s.UpdateDatasource(ctx, d2); err != nil || erased {
		t.Fatalf("a new path erased the tokens: %v %v", erased, err)
	}
	d3 := d2.Clone()
	d3.URL = "https://elsewhere.example/v2"
	if erased, err := s.UpdateDatasource(ctx, d3); err != nil || !erased {
		t.Fatalf("a new origin kept a person's tokens: %v %v", erased, err)
	}
	if _, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("token record after the move: %v", err)
	}
	cc := d3.Clone()
	cc.Auth.GrantType, cc.Auth.AuthorizationURL = datasource.ClientCredentials, ""
	if _, err := s.UpdateDatasource(ctx, cc); err != nil {
		t.Fatal(err)
	}
	save(1)
	cc2 := cc.Clone()
	cc2.URL = "https://api.example.com/v1"
	if erased, err := s.UpdateDatasource(ctx, cc2); err != nil || erased {
		t.Fatalf("a client-credentials token was erased by a new url: %v %v", erased, err)
	}
}

func testTokenGenerations(t *testing.T, s datasource.Store) {
	d := sample("ds_1", "one")
	s.CreateDatasource(ctx, d)
	if _, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, datasource.ErrNotFound) {
		t.Fatalf("no token yet: %v", err)
	}
	if err := s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(1), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(2), 0); !errors.Is(err, datasource.ErrConflict) {
		t.Errorf("stale save: %v", err)
	}
	if err := s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(2), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTokenRecord(ctx, datasource.SharedKey("ds_gone"), sampleToken(1), 0); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("token for a missing datasource: %v", err)
	}
	s.CreateDatasource(ctx, sample("ds_2", "two"))
	seen := map[string]datasource.Schedule{}
	s.Schedules(ctx, func(k datasource.Key, sc datasource.Schedule) error {
		seen[k.Datasource] = sc
		return nil
	})
	if sc := seen[d.ID]; len(seen) != 2 || sc.Generation != 2 || !sc.HasToken || !sc.HasRefreshToken ||
		sc.Status != datasource.StatusAuthorized || sc.GrantType != datasource.AuthorizationCode {
		t.Errorf("schedules %+v", seen)
	}
	if sc := seen["ds_2"]; sc.HasToken || sc.GrantType != datasource.AuthorizationCode {
		t.Errorf("schedule without a token: %+v", sc)
	}

	// Changing placement keeps the token; changing the client erases it.
	d2 := d.Clone()
	d2.Auth.TokenPlacement = datasource.PlacementQuery
	if erased, err := s.UpdateDatasource(ctx, d2); err != nil || erased {
		t.Fatalf("placement change: erased=%v err=%v", erased, err)
	}
	d3 := d2.Clone()
	d3.Auth.ClientID = "another"
	if erased, err := s.UpdateDatasource(ctx, d3); err != nil || !erased {
		t.Fatalf("client change: erased=%v err=%v", erased, err)
	}
	if _, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, datasource.ErrNotFound) {
		t.Error("token survived a client change")
	}

	s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(1), 0)
	s.DeleteDatasource(ctx, d.ID)
	if _, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, datasource.ErrNotFound) {
		t.Error("token survived its datasource")
	}
}

func testConcurrentTokenSaves(t *testing.T, s datasource.Store) {
	const n = 50
	for i := range n {
		s.CreateDatasource(ctx, sample(fmt.Sprint("ds_", i), fmt.Sprint("n", i)))
	}
	// Every datasource gets 20 saves from racing writers that each expect
	// a generation; exactly one writer wins each step.
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprint("ds_", i)
				for g := uint64(0); g < 20; g++ {
					err := s.SaveTokenRecord(ctx, datasource.SharedKey(id), sampleToken(g+1), g)
					if err == nil {
						wins.Add(1)
					} else if !errors.Is(err, datasource.ErrConflict) {
						t.Errorf("writer %d: %v", w, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	if got := wins.Load(); got != n*20 {
		t.Errorf("%d saves won, want %d (one per generation)", got, n*20)
	}
}

func testConsumeStateOnce(t *testing.T, s datasource.Store) {
	s.CreateDatasource(ctx, sample("ds_1", "one"))
	st := &datasource.State{Key: "key", DatasourceID: "ds_1", ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.SaveState(ctx, st); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ConsumeState(ctx, "key"); err == nil {
				got.Add(1)
			} else if !errors.Is(err, datasource.ErrNotFound) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got.Load() != 1 {
		t.Fatalf("state consumed %d times", got.Load())
	}
	if err := s.SaveState(ctx, &datasource.State{Key: "x", DatasourceID: "ds_missing"}); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("state for a missing datasource: %v", err)
	}
}

func testReadStateKeepsIt(t *testing.T, s datasource.Store) {
	s.CreateDatasource(ctx, sample("ds_1", "one"))
	exp := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	want := &datasource.State{Key: "key", DatasourceID: "ds_1", Verifier: datasource.NewSecret(Verifier), Binding: []byte{1, 2, 3},
		ReturnTo: "/back", ExpiresAt: exp}
	if err := s.SaveState(ctx, want); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := s.State(ctx, "key")
		if err != nil {
			t.Fatal(err)
		}
		if got.DatasourceID != "ds_1" || got.Verifier.Reveal() != Verifier || string(got.Binding) != string(want.Binding) ||
			got.ReturnTo != "/back" || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("read %+v", got)
		}
	}
	if _, err := s.ConsumeState(ctx, "key"); err != nil {
		t.Fatalf("consume after reads: %v", err)
	}
	if _, err := s.State(ctx, "key"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("read after consume: %v", err)
	}
	if _, err := s.State(ctx, "nope"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
}

func testPurgeStatesAndDeleteCascade(t *testing.T, s datasource.Store) {
	s.CreateDatasource(ctx, sample("ds_1", "one"))
	s.CreateDatasource(ctx, sample("ds_2", "two"))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.SaveState(ctx, &datasource.State{Key: "old", DatasourceID: "ds_1", ExpiresAt: now.Add(-time.Second)})
	s.SaveState(ctx, &datasource.State{Key: "new", DatasourceID: "ds_1", ExpiresAt: now.Add(time.Minute)})
	s.SaveState(ctx, &datasource.State{Key: "two", DatasourceID: "ds_2", ExpiresAt: now.Add(time.Minute)})
	if n, err := s.PurgeStates(ctx, now); err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if _, err := s.ConsumeState(ctx, "old"); !errors.Is(err, datasource.ErrNotFound) {
		t.Error("expired state kept")
	}
	s.DeleteDatasource(ctx, "ds_1")
	if _, err := s.ConsumeState(ctx, "new"); !errors.Is(err, datasource.ErrNotFound) {
		t.Error("state of a deleted datasource kept")
	}
	if _, err := s.ConsumeState(ctx, "two"); err != nil {
		t.Error("state of another datasource deleted")
	}
}

func names(ds []*datasource.Datasource) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func testEventLog(t *testing.T, s events) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		e := &datasource.Event{ID: datasource.NewEventID(t0.Add(time.Duration(i) * time.Second)), Type: datasource.EventStatusChanged,
			Time: t0.Add(time.Duration(i) * time.Second), DatasourceID: fmt.Sprint("ds_", i%2), Actor: "grantd"}
		if i >= 3 {
			e.EndUserID = "alice"
		}
		if err := s.AppendEvents(ctx, []*datasource.Event{e}, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	// The same event again is kept once.
	e0, err := s.Event(ctx, ids[0])
	if err != nil || e0.ID != ids[0] || e0.DatasourceID != "ds_0" || !e0.Time.Equal(t0) {
		t.Fatalf("event %s: %+v, %v", ids[0], e0, err)
	}
	if err := s.AppendEvents(ctx, []*datasource.Event{e0}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Event(ctx, "ev_unknown"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("unknown event: %v, want ErrNotFound", err)
	}

	all, err := s.ListEvents(ctx, datasource.EventQuery{})
	if err != nil || len(all) != 5 || all[0].ID != ids[4] || all[4].ID != ids[0] {
		t.Fatalf("list: %d events, %v", len(all), err)
	}
	ds1, _ := s.ListEvents(ctx, datasource.EventQuery{DatasourceID: "ds_1"})
	if len(ds1) != 2 {
		t.Errorf("ds_1 has %d events, want 2", len(ds1))
	}
	alice, _ := s.ListEvents(ctx, datasource.EventQuery{DatasourceID: "ds_1", EndUserID: "alice"})
	if len(alice) != 1 || alice[0].ID != ids[3] {
		t.Errorf("alice's ds_1 events: %v", alice)
	}
	page, _ := s.ListEvents(ctx, datasource.EventQuery{Before: ids[3], Limit: 2})
	if len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] {
		t.Errorf("page before %s: %v", ids[3], page)
	}
	if _, ok, _ := s.NextDelivery(ctx); ok {
		t.Error("events appended with no URLs queued a delivery")
	}
}

func testOutbox(t *testing.T, s events) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		e := &datasource.Event{ID: datasource.NewEventID(t0.Add(time.Duration(i) * time.Second)), Type: datasource.EventStatusChanged,
			Time: t0.Add(time.Duration(i) * time.Second), DatasourceID: fmt.Sprint("ds_", i%2), Actor: "grantd"}
		urls := []string{"https://hooks.example/a"}
		if i == 0 {
			urls = append(urls, "https://hooks.example/b")
		}
		if err := s.AppendEvents(ctx, []*datasource.Event{e}, urls); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	// The same event again queues nothing new.
	e0, _ := s.Event(ctx, ids[0])
	s.AppendEvents(ctx, []*datasource.Event{e0}, []string{"https://hooks.example/c"})

	// Deliveries: due at their event's time, claimed with a lease,
	// finished or retried.
	if at, ok, _ := s.NextDelivery(ctx); !ok || !at.Equal(t0) {
		t.Errorf("first delivery due %v %v, want %v", at, ok, t0)
	}
	now := t0.Add(time.Minute)
	got, err := s.DueDeliveries(ctx, now, 30*time.Second, 100)
	if err != nil || len(got) != 6 {
		t.Fatalf("due: %d, %v", len(got), err)
	}
	if again, _ := s.DueDeliveries(ctx, now, 30*time.Second, 100); len(again) != 0 {
		t.Errorf("leased deliveries handed out again: %d", len(again))
	}
	if at, ok, _ := s.NextDelivery(ctx); !ok || !at.Equal(now.Add(30*time.Second)) {
		t.Errorf("next delivery %v %v", at, ok)
	}
	for _, d := range got[:5] {
		s.FinishDelivery(ctx, d)
	}
	// A late retry of a finished delivery (two attempts raced) does not
	// bring it back.
	late := *got[0]
	late.Attempts, late.NextAt = 1, now
	s.RetryDelivery(ctx, &late)
	last := got[5]
	last.Attempts, last.NextAt, last.LastError = 1, now.Add(time.Hour), "HTTP 500"
	s.RetryDelivery(ctx, last)
	if at, ok, _ := s.NextDelivery(ctx); !ok || !at.Equal(now.Add(time.Hour)) {
		t.Errorf("after retry: next %v %v", at, ok)
	}
	if due, _ := s.DueDeliveries(ctx, now.Add(time.Hour), time.Minute, 100); len(due) != 1 || due[0].Attempts != 1 || due[0].LastError != "HTTP 500" {
		t.Errorf("retried delivery: %+v", due)
	}
}
