package bolt

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
	"github.com/grantd/grantd/datasource/storetest"
)

// schema2 copies testdata/schema2 into a new directory: a file that the
// grantd before record authentication (schema 2) wrote, with its keyset
// and master key. Its records: datasources ds_1 (storetest.Sample
// "Vectara", token generation 3), ds_2 ("Cognito", client credentials,
// token generation 1) and ds_3 ("No token"); state k1 of ds_1; events
// ev_0001 and ev_0002, each with a delivery to https://hooks.example/a;
// meta admin-token-sha256 (of "gd_schema2") and session-key.
func schema2(t *testing.T) (path string, ks *crypto.Keyset) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", "schema2")
	gz, err := os.Open(filepath.Join(src, "grantd.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	r, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	db, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "grantd.db")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	kekText, err := os.ReadFile(filepath.Join(src, "master-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	kek, err := crypto.ParseMasterKey(strings.TrimSpace(string(kekText)))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := os.ReadFile(filepath.Join(src, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err = crypto.ReadKeyset(enc, kek)
	if err != nil {
		t.Fatal(err)
	}
	return path, ks
}

func rawSchema(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	db.View(func(tx *bbolt.Tx) error { v = bytes.Clone(tx.Bucket(bucketMeta).Get(keySchema)); return nil })
	return v
}

// A file of the previous schema opens, every record in it reads back as
// it was written, and from then on it is authenticated.
func TestUpgradeSchema2KeepsEveryRecord(t *testing.T) {
	path, ks := schema2(t)
	if got := string(rawSchema(t, path)); got != "2" {
		t.Fatalf("testdata schema %q, want 2", got)
	}
	s, err := Open(path, ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := rawRecord(t, s, bucketMeta, schemaKey); !sealed.Wrapped(got) {
		t.Errorf("schema marker after the upgrade: %s", got)
	}

	cc := storetest.Sample("ds_2", "Cognito")
	cc.Auth.GrantType, cc.Auth.AuthorizationURL = datasource.ClientCredentials, ""
	want := []*datasource.Datasource{cc, storetest.Sample("ds_3", "No token"), storetest.Sample("ds_1", "Vectara")}
	list, err := s.ListDatasources(ctx)
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("datasources after the upgrade: %v\n got %#v\nwant %#v", err, list, want)
	}
	if d, err := s.DatasourceByName(ctx, "vectara"); err != nil || d.Auth.ClientSecret.Reveal() != clientSecret {
		t.Errorf("by name: %v", err)
	}
	for id, gen := range map[string]uint64{"ds_1": 3, "ds_2": 1} {
		tok, err := s.TokenRecord(ctx, datasource.SharedKey(id))
		if err != nil || !reflect.DeepEqual(tok, sampleToken(gen)) {
			t.Errorf("token of %s: %+v %v", id, tok, err)
		}
	}
	n := 0
	s.Schedules(ctx, func(datasource.Key, datasource.Schedule) error { n++; return nil })
	if n != 3 {
		t.Errorf("%d datasources planned, want 3", n)
	}
	st, err := s.ConsumeState(ctx, "k1")
	if err != nil || st.Verifier.Reveal() != verifier || st.ReturnTo != "/ui/ds_1" || st.DatasourceID != "ds_1" {
		t.Errorf("state: %+v %v", st, err)
	}
	events, err := s.ListEvents(ctx, datasource.EventQuery{})
	if err != nil || len(events) != 2 || events[0].ID != "ev_0002" || events[1].Detail != "detail ev_0001" {
		t.Errorf("events: %+v %v", events, err)
	}
	due, err := s.DueDeliveries(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute, 10)
	if err != nil || len(due) != 2 || due[0].URL != "https://hooks.example/a" {
		t.Errorf("deliveries: %+v %v", due, err)
	}
	h := sha256.Sum256([]byte("gd_schema2"))
	if v, err := s.Meta(ctx, "admin-token-sha256"); err != nil || !bytes.Equal(v, h[:]) {
		t.Errorf("admin token hash: %x %v", v, err)
	}
	if v, err := s.Meta(ctx, "session-key"); err != nil || !bytes.Equal(v, []byte{0, 1, 2, 3, 0xff}) {
		t.Errorf("session key: %x %v", v, err)
	}
	// The event counter came along: appending one more keeps three.
	e := &datasource.Event{ID: "ev_0003", Type: datasource.EventUpdated, Time: time.Now(), DatasourceID: "ds_1"}
	if err := s.AppendEvents(ctx, []*datasource.Event{e}, nil); err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bbolt.Tx) error {
		n, err := eventCount(s.codec.Load(), tx.Bucket(bucketMeta), tx.Bucket(bucketEvents))
		if err != nil || n != 3 {
			t.Errorf("event count %d, %v", n, err)
		}
		return nil
	})

	// Opening again does not upgrade again.
	s.Close()
	s, err = Open(path, ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Datasource(ctx, "ds_1"); err != nil {
		t.Error(err)
	}
}

// The upgrade tags what it finds, so it must not run on a file that was
// upgraded already and relabelled, nor with a keyset that did not write
// the file.
func TestUpgradeRefusesRelabelledFileAndWrongKeyset(t *testing.T) {
	path, ks := schema2(t)
	other, _ := crypto.NewKeyset()
	before, _ := os.ReadFile(path)
	if _, err := Open(path, other, nil); !errors.Is(err, crypto.ErrOpen) {
		t.Errorf("another keyset: %v, want ErrOpen", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused upgrade changed the file")
	}

	s, err := Open(path, ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Someone points ds_1 at their server, strips the tag of that one
	// record and says the file is of schema 2 again, hoping the next
	// start tags their change.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDatasources)
		_, r, _ := bytes.Cut(bytes.TrimSuffix(b.Get([]byte("ds_1")), []byte("}")), []byte(`"r":`))
		b.Put([]byte("ds_1"), bytes.Replace(r, []byte("auth.example.com/token"), []byte("attacker.example/token"), 1))
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("2"))
	})
	db.Close()
	if _, err := Open(path, ks, nil); !errors.Is(err, datasource.ErrTampered) {
		t.Fatalf("relabelled file: %v, want ErrTampered", err)
	}
	// Removing the marker does not help either: the file counts as new,
	// and its untagged record stays refused.
	db, _ = bbolt.Open(path, 0o600, nil)
	db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keySchema) })
	db.Close()
	s, err = Open(path, ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Datasource(ctx, "ds_1"); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("the changed record after the marker was removed: %v", err)
	}
	if _, err := s.Datasource(ctx, "ds_2"); err != nil {
		t.Errorf("an untouched record: %v", err)
	}
}
