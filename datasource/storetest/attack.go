package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
	"github.com/grantd/grantd/internal/testlog"
)

// Raw is a test hook: a store's own tests give it these methods (in a
// _test.go file of its package, so that no build but a test has them) to
// let the suite read and write what the store holds behind its back, as
// someone with write access to the bbolt file or to etcd can.
//
// kind is one of sealed's Kind constants, or KindName. key is the key
// package sealed tags the record with: a datasource or event id, a state
// key, a sealed.DeliveryKey, a meta key; for KindName, datasource.NameKey
// of a name (the value is the datasource id). RawRecord returns nil, nil
// when there is nothing under the key.
type Raw interface {
	RawRecord(kind, key string) ([]byte, error)
	SetRawRecord(kind, key string, value []byte) error
}

// KindName is the kind of a names-index entry for Raw.
const KindName = "name"

// attacker is someone who can write the store but does not hold the
// keyset.
type attacker struct {
	t    *testing.T
	s    datasource.Store
	raw  Raw
	logs *testlog.Buffer
}

func runAttacks(t *testing.T, open Opener) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, *attacker)
	}{
		{"AttackChangedDatasource", attackChangedDatasource},
		{"AttackChangedTokenRecord", attackChangedTokenRecord},
		{"AttackChangedState", attackChangedState},
		{"AttackChangedEventAndDelivery", attackChangedEventAndDelivery},
		{"AttackSwappedAdminTokenHash", attackSwappedMeta},
		{"AttackMovedRecords", attackMovedRecords},
		{"AttackNamesIndex", attackNamesIndex},
		{"AttackUntaggedRecord", attackUntaggedRecord},
		{"AttackChangedKeptField", attackChangedKeptField},
		{"AttackChangedAgentSession", attackChangedAgentSession},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &testlog.Buffer{}
			s := open(t, slog.New(slog.NewTextHandler(logs, nil)))
			raw, ok := s.(Raw)
			if !ok {
				t.Skip("the store's tests give it no Raw hook")
			}
			c.fn(t, &attacker{t: t, s: s, raw: raw, logs: logs})
			if t.Failed() {
				t.Logf("store log:\n%s", logs)
			}
		})
	}
}

// envelope is the stored form of a record (see sealed.Codec.Wrap), as an
// attacker reads it.
type envelope struct {
	T string          `json:"t"`
	R json.RawMessage `json:"r"`
}

func (a *attacker) envelope(kind, key string) envelope {
	a.t.Helper()
	v, err := a.raw.RawRecord(kind, key)
	if err != nil || v == nil {
		a.t.Fatalf("raw %s %q: %q %v", kind, key, v, err)
	}
	var env envelope
	if err := json.Unmarshal(v, &env); err != nil || env.T == "" || env.R == nil {
		a.t.Fatalf("%s %q is not stored in an envelope: %s", kind, key, v)
	}
	return env
}

func (a *attacker) put(kind, key string, v []byte) {
	a.t.Helper()
	if err := a.raw.SetRawRecord(kind, key, v); err != nil {
		a.t.Fatal(err)
	}
}

// edit changes the record under key the way someone with a text editor
// would: the record's JSON goes through f and is written back with the tag
// it had.
func (a *attacker) edit(kind, key string, f func(r map[string]any)) {
	a.t.Helper()
	env := a.envelope(kind, key)
	var r map[string]any
	if err := json.Unmarshal(env.R, &r); err != nil {
		a.t.Fatal(err)
	}
	f(r)
	b, err := json.Marshal(r)
	if err != nil {
		a.t.Fatal(err)
	}
	env.R = b
	v, _ := json.Marshal(env)
	a.put(kind, key, v)
}

// copy stores the bytes of the record under from under to as well.
func (a *attacker) copy(kind, from, to string) {
	a.t.Helper()
	v, err := a.raw.RawRecord(kind, from)
	if err != nil || v == nil {
		a.t.Fatalf("raw %s %q: %v", kind, from, err)
	}
	a.put(kind, to, v)
}

// refused checks that err refuses the record of kind under key, and that
// the store logged it.
func (a *attacker) refused(what string, err error, kind, key string) {
	a.t.Helper()
	if !errors.Is(err, datasource.ErrTampered) {
		a.t.Errorf("%s: %v, want ErrTampered", what, err)
	}
	a.logged(kind, key)
}

// logged checks that the store logged a refusal of the record of kind
// whose id starts with id.
func (a *attacker) logged(kind, id string) {
	a.t.Helper()
	for _, line := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(line, "stored record failed authentication; refusing it") && strings.Contains(line, "kind="+kind+" ") &&
			(strings.Contains(line, "id="+id) || strings.Contains(line, `id="`+id)) {
			return
		}
	}
	a.t.Errorf("no refusal of %s %s in the log", kind, id)
}

// notLogged checks that the log does not hold s (content of a record).
func (a *attacker) notLogged(s string) {
	a.t.Helper()
	if strings.Contains(a.logs.String(), s) {
		a.t.Errorf("the log holds %q, a record's content", s)
	}
}

func (a *attacker) mustCreate(ds ...*datasource.Datasource) {
	a.t.Helper()
	for _, d := range ds {
		if err := a.s.CreateDatasource(ctx, d); err != nil {
			a.t.Fatal(err)
		}
		if err := a.s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(1), 0); err != nil {
			a.t.Fatal(err)
		}
	}
}

// schedules returns the ids Schedules reports.
func schedules(t *testing.T, s datasource.Store) []string {
	t.Helper()
	var ids []string
	if err := s.Schedules(ctx, func(k datasource.Key, _ datasource.Schedule) error { ids = append(ids, k.Datasource); return nil }); err != nil {
		t.Fatalf("schedules: %v", err)
	}
	slices.Sort(ids)
	return ids
}

func listed(t *testing.T, s datasource.Store) []string {
	t.Helper()
	list, err := s.ListDatasources(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var ids []string
	for _, d := range list {
		ids = append(ids, d.ID)
	}
	return ids
}

const evil = "attacker.example"

// A datasource whose token URL was pointed at another server is refused;
// the others are listed, planned and read as before; deleting it clears it.
func attackChangedDatasource(t *testing.T, a *attacker) {
	s := a.s
	a.mustCreate(sample("ds_a", "alpha"), sample("ds_b", "beta"))
	a.edit(sealed.KindDatasource, "ds_a", func(r map[string]any) {
		r["auth"].(map[string]any)["accessTokenUrl"] = "https://" + evil + "/token"
	})
	_, err := s.Datasource(ctx, "ds_a")
	a.refused("datasource", err, sealed.KindDatasource, "ds_a")
	_, err = s.DatasourceByName(ctx, "alpha")
	a.refused("by name", err, sealed.KindDatasource, "ds_a")
	_, err = s.TokenSchedule(ctx, datasource.SharedKey("ds_a"))
	a.refused("token schedule", err, sealed.KindDatasource, "ds_a")
	_, err = s.UpdateDatasource(ctx, sample("ds_a", "alpha"))
	a.refused("update", err, sealed.KindDatasource, "ds_a")
	if got := listed(t, s); !slices.Equal(got, []string{"ds_b"}) {
		t.Errorf("listed %v, want the untouched ds_b only", got)
	}
	if got := schedules(t, s); !slices.Equal(got, []string{"ds_b"}) {
		t.Errorf("planned %v, want the untouched ds_b only", got)
	}
	if d, err := s.Datasource(ctx, "ds_b"); err != nil || d.Auth.ClientSecret.Reveal() != ClientSecret {
		t.Errorf("the untouched datasource: %v", err)
	}
	a.notLogged(evil)

	if err := s.DeleteDatasource(ctx, "ds_a"); err != nil {
		t.Fatalf("deleting the refused datasource: %v", err)
	}
	if _, err := s.TokenRecord(ctx, datasource.SharedKey("ds_a")); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("its token record after the delete: %v", err)
	}
	if err := s.CreateDatasource(ctx, sample("ds_c", "alpha")); err != nil {
		t.Errorf("its name after the delete: %v", err)
	}
}

// A token record whose expiry and status were changed is refused: not
// read, not planned, not overwritten by a save that expects its
// generation. Deleting it clears it.
func attackChangedTokenRecord(t *testing.T, a *attacker) {
	s := a.s
	a.mustCreate(sample("ds_a", "alpha"), sample("ds_b", "beta"))
	a.edit(sealed.KindToken, "ds_a", func(r map[string]any) {
		r["expiry"] = "2099-01-01T00:00:00Z"
		r["status"] = string(datasource.StatusAuthorized)
		r["lastError"] = evil
	})
	_, err := s.TokenRecord(ctx, datasource.SharedKey("ds_a"))
	a.refused("token record", err, sealed.KindToken, "ds_a")
	_, err = s.TokenSchedule(ctx, datasource.SharedKey("ds_a"))
	a.refused("token schedule", err, sealed.KindToken, "ds_a")
	err = s.SaveTokenRecord(ctx, datasource.SharedKey("ds_a"), sampleToken(2), 1)
	a.refused("save over it", err, sealed.KindToken, "ds_a")
	if got := schedules(t, s); !slices.Equal(got, []string{"ds_b"}) {
		t.Errorf("planned %v, want the untouched ds_b only", got)
	}
	if tok, err := s.TokenRecord(ctx, datasource.SharedKey("ds_b")); err != nil || tok.AccessToken.Reveal() != AccessToken {
		t.Errorf("the untouched token record: %v", err)
	}
	if got := listed(t, s); len(got) != 2 {
		t.Errorf("listed %v: the datasource record itself is intact", got)
	}
	a.notLogged(evil)

	if err := s.DeleteTokenRecord(ctx, datasource.SharedKey("ds_a")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTokenRecord(ctx, datasource.SharedKey("ds_a"), sampleToken(1), 0); err != nil {
		t.Errorf("a new token after the delete: %v", err)
	}
}

// A pending state whose return path and datasource were changed is not
// handed out; PurgeStates removes one.
func attackChangedState(t *testing.T, a *attacker) {
	s := a.s
	a.mustCreate(sample("ds_a", "alpha"), sample("ds_b", "beta"))
	for _, k := range []string{"k1", "k2", "k3"} {
		st := &datasource.State{Key: k, DatasourceID: "ds_a", Verifier: datasource.NewSecret(Verifier), ReturnTo: "/ui/ds_a",
			RedirectURI: "https://grantd.example/api/v1/datasources/authorize", ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.SaveState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"k1", "k3"} {
		a.edit(sealed.KindState, k, func(r map[string]any) {
			r["returnTo"] = "https://" + evil + "/"
			r["datasourceId"] = "ds_b"
		})
	}
	_, err := s.ConsumeState(ctx, "k1")
	a.refused("consume", err, sealed.KindState, "k1")
	if st, err := s.ConsumeState(ctx, "k2"); err != nil || st.ReturnTo != "/ui/ds_a" || st.Verifier.Reveal() != Verifier {
		t.Errorf("the untouched state: %+v %v", st, err)
	}
	if n, err := s.PurgeStates(ctx, time.Now()); err != nil || n != 1 {
		t.Errorf("purge removed %d, %v; want the refused k3", n, err)
	}
	if _, err := s.ConsumeState(ctx, "k3"); !errors.Is(err, datasource.ErrNotFound) {
		t.Errorf("k3 after the purge: %v", err)
	}
	a.notLogged(evil)
}

// An event whose detail was changed is not read or listed; a delivery
// pointed at another URL is never handed out.
func attackChangedEventAndDelivery(t *testing.T, a *attacker) {
	log, ok := a.s.(datasource.EventLog)
	if !ok {
		t.Skip("this store keeps no events")
	}
	out := a.s.(datasource.Outbox)
	const hook = "https://hooks.example/a"
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 3 {
		e := &datasource.Event{ID: datasource.NewEventID(t0.Add(time.Duration(i) * time.Second)), Type: datasource.EventStatusChanged,
			Time: t0, DatasourceID: "ds_a", Actor: "grantd", Detail: "fine"}
		if err := log.AppendEvents(ctx, []*datasource.Event{e}, []string{hook}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	a.edit(sealed.KindEvent, ids[1], func(r map[string]any) { r["detail"] = evil })
	_, err := log.Event(ctx, ids[1])
	a.refused("event", err, sealed.KindEvent, ids[1])
	list, err := log.ListEvents(ctx, datasource.EventQuery{})
	if err != nil || len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[0] {
		t.Errorf("listed %d events (%v), want the two untouched ones", len(list), err)
	}

	a.edit(sealed.KindDelivery, sealed.DeliveryKey(ids[0], hook), func(r map[string]any) {
		r["url"] = "https://" + evil + "/hook"
		r["nextAt"] = t0.Add(-time.Hour).Format(time.RFC3339)
	})
	if at, ok, err := out.NextDelivery(ctx); err != nil || !ok || !at.Equal(t0) {
		t.Errorf("next delivery %v %v %v, want the untouched ones' %v", at, ok, err, t0)
	}
	a.logged(sealed.KindDelivery, ids[0])
	due, err := out.DueDeliveries(ctx, t0.Add(time.Minute), time.Minute, 100)
	if err != nil || len(due) != 2 {
		t.Fatalf("due: %d, %v; want the two untouched ones", len(due), err)
	}
	for _, d := range due {
		if d.URL != hook || d.EventID == ids[0] {
			t.Errorf("handed out %+v", d)
		}
	}
	a.notLogged(evil)
	a.notLogged(hook)
}

// An admin-token hash swapped for the attacker's own is refused, not used;
// the other meta values stay; SetMeta replaces it.
func attackSwappedMeta(t *testing.T, a *attacker) {
	s := a.s
	const key = "admin-token-sha256"
	mine, theirs := sha256.Sum256([]byte("gd_mine")), sha256.Sum256([]byte("gd_theirs"))
	if err := s.SetMeta(ctx, key, mine[:]); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "session-key", []byte("sealed session key")); err != nil {
		t.Fatal(err)
	}
	env := a.envelope(sealed.KindMeta, key)
	env.R, _ = json.Marshal(theirs[:])
	v, _ := json.Marshal(env)
	a.put(sealed.KindMeta, key, v)
	_, err := s.Meta(ctx, key)
	a.refused("swapped hash", err, sealed.KindMeta, key)
	if v, err := s.Meta(ctx, "session-key"); err != nil || string(v) != "sealed session key" {
		t.Errorf("the other meta value: %q %v", v, err)
	}
	// Without the envelope, the attacker's bare hash is refused too.
	a.put(sealed.KindMeta, key, theirs[:])
	_, err = s.Meta(ctx, key)
	a.refused("bare hash", err, sealed.KindMeta, key)

	if err := s.SetMeta(ctx, key, mine[:]); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(ctx, key); err != nil || string(v) != string(mine[:]) {
		t.Errorf("after SetMeta: %x %v", v, err)
	}
}

// Valid records copied under another key (another datasource id, state
// key, meta key, event, delivery) are refused there; the originals stay.
func attackMovedRecords(t *testing.T, a *attacker) {
	s := a.s
	a.mustCreate(sample("ds_a", "alpha"), sample("ds_b", "beta"))
	for _, st := range []*datasource.State{{Key: "k1", DatasourceID: "ds_a", ReturnTo: "/a"}, {Key: "k2", DatasourceID: "ds_b", ReturnTo: "/b"}} {
		st.ExpiresAt = time.Now().Add(time.Hour)
		if err := s.SaveState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	s.SetMeta(ctx, "session-key", []byte("k"))
	s.SetMeta(ctx, "admin-token-sha256", []byte("h"))

	a.copy(sealed.KindDatasource, "ds_a", "ds_b")
	_, err := s.Datasource(ctx, "ds_b")
	a.refused("datasource copied to ds_b", err, sealed.KindDatasource, "ds_b")
	if _, err := s.Datasource(ctx, "ds_a"); err != nil {
		t.Errorf("the original datasource: %v", err)
	}
	a.copy(sealed.KindToken, "ds_a", "ds_b")
	_, err = s.TokenRecord(ctx, datasource.SharedKey("ds_b"))
	a.refused("token copied to ds_b", err, sealed.KindToken, "ds_b")
	if _, err := s.TokenRecord(ctx, datasource.SharedKey("ds_a")); err != nil {
		t.Errorf("the original token record: %v", err)
	}
	a.copy(sealed.KindState, "k1", "k2")
	_, err = s.ConsumeState(ctx, "k2")
	a.refused("state copied to k2", err, sealed.KindState, "k2")
	if st, err := s.ConsumeState(ctx, "k1"); err != nil || st.ReturnTo != "/a" {
		t.Errorf("the original state: %v", err)
	}
	a.copy(sealed.KindMeta, "session-key", "admin-token-sha256")
	_, err = s.Meta(ctx, "admin-token-sha256")
	a.refused("meta copied", err, sealed.KindMeta, "admin-token-sha256")

	log, ok := s.(datasource.EventLog)
	if !ok {
		return
	}
	const hook = "https://hooks.example/a"
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 2 {
		e := &datasource.Event{ID: datasource.NewEventID(t0.Add(time.Duration(i))), Type: datasource.EventUpdated, Time: t0, DatasourceID: fmt.Sprint("ds_", i)}
		if err := log.AppendEvents(ctx, []*datasource.Event{e}, []string{hook}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	a.copy(sealed.KindEvent, ids[0], ids[1])
	_, err = log.Event(ctx, ids[1])
	a.refused("event copied", err, sealed.KindEvent, ids[1])
	a.copy(sealed.KindDelivery, sealed.DeliveryKey(ids[0], hook), sealed.DeliveryKey(ids[1], hook))
	due, err := s.(datasource.Outbox).DueDeliveries(ctx, t0, time.Minute, 100)
	if err != nil || len(due) != 1 || due[0].EventID != ids[0] {
		t.Errorf("due %+v %v, want the original delivery only", due, err)
	}
	a.logged(sealed.KindDelivery, ids[1])
}

// A names entry pointed at another datasource, or added for it, finds
// nothing and lists nothing twice.
func attackNamesIndex(t *testing.T, a *attacker) {
	s := a.s
	a.mustCreate(sample("ds_a", "alpha"), sample("ds_b", "beta"))
	a.put(KindName, datasource.NameKey("beta"), []byte("ds_a"))
	_, err := s.DatasourceByName(ctx, "beta")
	a.refused("name pointed elsewhere", err, KindName, "beta")
	a.put(KindName, "zzz", []byte("ds_a"))
	_, err = s.DatasourceByName(ctx, "zzz")
	a.refused("name added", err, KindName, "zzz")
	if d, err := s.DatasourceByName(ctx, "alpha"); err != nil || d.ID != "ds_a" {
		t.Errorf("the untouched name: %v %v", d, err)
	}
	if _, err := s.Datasource(ctx, "ds_b"); err != nil {
		t.Errorf("ds_b by id: %v", err)
	}
	n := 0
	for _, id := range listed(t, s) {
		if id == "ds_a" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("ds_a listed %d times", n)
	}
}

// A record without its tag (the form an older grantd wrote, or an
// attacker's own) is refused once the store is upgraded.
func attackUntaggedRecord(t *testing.T, a *attacker) {
	s := a.s
	a.mustCreate(sample("ds_a", "alpha"), sample("ds_b", "beta"))
	a.put(sealed.KindDatasource, "ds_a", a.envelope(sealed.KindDatasource, "ds_a").R)
	_, err := s.Datasource(ctx, "ds_a")
	a.refused("untagged datasource", err, sealed.KindDatasource, "ds_a")
	if got := listed(t, s); !slices.Equal(got, []string{"ds_b"}) {
		t.Errorf("listed %v", got)
	}
}
