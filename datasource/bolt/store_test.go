package bolt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
	"github.com/grantd/grantd/datasource/storetest"
)

var ctx = context.Background()

type env struct {
	dir string
	kek crypto.MasterKey
	ks  *crypto.Keyset
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	kek := crypto.GenerateMasterKey()
	ks, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), kek)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{dir: dir, kek: kek, ks: ks}
}

func (e *env) path() string { return filepath.Join(e.dir, "grantd.db") }

// mustOpen opens the store of e, reloading the keyset from its file the way
// a restarted server does.
func (e *env) mustOpen(tb testing.TB) *Store {
	tb.Helper()
	ks, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(e.dir, "keyset.json")), e.kek)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Open(e.path(), ks, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustOpen(tb testing.TB) *Store {
	s := newEnv(tb).mustOpen(tb)
	tb.Cleanup(func() { s.Close() })
	return s
}

const (
	clientSecret = storetest.ClientSecret
	accessToken  = storetest.AccessToken
	refreshToken = storetest.RefreshToken
	verifier     = storetest.Verifier
)

func sample(id, name string) *datasource.Datasource { return storetest.Sample(id, name) }

func sampleToken(gen uint64) *datasource.TokenRecord { return storetest.SampleToken(gen) }

func TestRestartIdenticalAndNoSecretsOnDisk(t *testing.T) {
	e := newEnv(t)
	s := e.mustOpen(t)
	d := sample("ds_1", "Example")
	if err := s.CreateDatasource(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(1), 0); err != nil {
		t.Fatal(err)
	}
	st := &datasource.State{Key: "k1", DatasourceID: d.ID, Verifier: datasource.NewSecret(verifier),
		RedirectURI: "https://grantd.example/api/v1/datasources/authorize", ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.SaveState(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(e.path())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{clientSecret, accessToken, refreshToken, verifier} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("raw database file contains %q", secret)
		}
	}
	if !bytes.Contains(raw, []byte("client-ds_1")) {
		t.Fatal("sanity: the client id (not a secret) should be in the file")
	}

	s = e.mustOpen(t)
	defer s.Close()
	got, err := s.Datasource(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Errorf("after restart:\n got %#v\nwant %#v", got, d)
	}
	if got.Auth.ClientSecret.Reveal() != clientSecret {
		t.Error("client secret lost")
	}
	tok, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleToken(1); !reflect.DeepEqual(tok, want) {
		t.Errorf("token after restart:\n got %+v\nwant %+v", tok, want)
	}
	gotSt, err := s.ConsumeState(ctx, "k1")
	if err != nil || gotSt.Verifier.Reveal() != verifier || gotSt.DatasourceID != d.ID {
		t.Fatalf("state after restart: %+v %v", gotSt, err)
	}
}

func TestWrongKeyAndMovedCiphertext(t *testing.T) {
	e := newEnv(t)
	s := e.mustOpen(t)
	s.CreateDatasource(ctx, sample("ds_1", "one"))
	s.CreateDatasource(ctx, sample("ds_2", "two"))
	s.SaveTokenRecord(ctx, datasource.SharedKey("ds_1"), sampleToken(1), 0)
	s.Close()

	// Another keyset cannot open the file: the schema marker does not
	// authenticate.
	other, _ := crypto.NewKeyset()
	if s2, err := Open(e.path(), other, nil); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("wrong keyset: %v, want ErrTampered", err)
		if err == nil {
			s2.Close()
		}
	}

	// Copy ds_1's token record to ds_2 with the raw bbolt API: the record
	// (and its ciphertexts) is bound to ds_1 and must not read as ds_2's.
	db, err := bbolt.Open(e.path(), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		return b.Put([]byte("ds_2"), bytes.Clone(b.Get([]byte("ds_1"))))
	})
	db.Close()
	s = e.mustOpen(t)
	defer s.Close()
	if _, err := s.TokenRecord(ctx, datasource.SharedKey("ds_1")); err != nil {
		t.Fatalf("original record: %v", err)
	}
	if _, err := s.TokenRecord(ctx, datasource.SharedKey("ds_2")); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("moved record: %v, want ErrTampered", err)
	}
}

func TestLockedAndSchema(t *testing.T) {
	e := newEnv(t)
	s := e.mustOpen(t)
	defer s.Close()
	if _, err := Open(e.path(), e.ks, &Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	setSchema := func(v []byte) {
		db, _ := bbolt.Open(e.path(), 0o600, nil)
		db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, v) })
		db.Close()
	}
	newer, _ := sealed.Codec{Sealer: e.ks}.Wrap(sealed.KindStore, schemaKey, []byte("99"))
	setSchema(newer)
	if _, err := Open(e.path(), e.ks, nil); !errors.Is(err, ErrSchema) {
		t.Errorf("newer schema: %v, want ErrSchema", err)
	}
	// A bare number past 2 was never written: someone relabelled the file.
	setSchema([]byte("99"))
	if _, err := Open(e.path(), e.ks, nil); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("bare newer schema: %v, want ErrTampered", err)
	}
}

func TestReseal(t *testing.T) {
	e := newEnv(t)
	s := e.mustOpen(t)
	d := sample("ds_1", "one")
	s.CreateDatasource(ctx, d)
	s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(1), 0)
	s.SaveState(ctx, &datasource.State{Key: "k", DatasourceID: d.ID, Verifier: datasource.NewSecret(verifier), ExpiresAt: time.Now().Add(time.Hour)})
	before := rawRecord(t, s, bucketTokens, d.ID)

	rotated, err := e.ks.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Reseal(ctx, rotated)
	if err != nil || n != 3 {
		t.Fatalf("resealed %d, %v", n, err)
	}
	after := rawRecord(t, s, bucketTokens, d.ID)
	if bytes.Equal(before, after) {
		t.Fatal("token record not re-encrypted")
	}
	// New data is sealed under the new primary: the old keyset alone
	// cannot open it any more, the rotated one can.
	s.Close()
	if s2, err := Open(e.path(), e.ks, nil); err == nil {
		if _, err := s2.TokenRecord(ctx, datasource.SharedKey(d.ID)); !errors.Is(err, crypto.ErrOpen) {
			t.Errorf("old keyset opened resealed data: %v", err)
		}
		s2.Close()
	}
	s3, err := Open(e.path(), rotated, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	tok, err := s3.TokenRecord(ctx, datasource.SharedKey(d.ID))
	if err != nil || tok.AccessToken.Reveal() != accessToken {
		t.Fatalf("rotated keyset: %v", err)
	}
}

// TestResealWhileInUse reseals again and again while other goroutines read
// and write every kind of record; run it with -race. Every read opens and
// every write lands, and afterwards every record opens with the last
// keyset and holds what was last written.
func TestResealWhileInUse(t *testing.T) {
	e := newEnv(t)
	s := e.mustOpen(t)
	defer s.Close()
	const n = 4
	for i := range n {
		d := sample(fmt.Sprint("ds_", i), fmt.Sprint("name-", i))
		if err := s.CreateDatasource(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), sampleToken(1), 0); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2*n) // the first error of each goroutine
	lastGen := make([]uint64, n)  // written by writer i, read after wg.Wait
	for i := range n {
		id := fmt.Sprint("ds_", i)
		wg.Add(2)
		go func() { // reader
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Datasource(ctx, id); err != nil {
					errs <- fmt.Errorf("read datasource %s: %w", id, err)
					return
				}
				if _, err := s.TokenRecord(ctx, datasource.SharedKey(id)); err != nil {
					errs <- fmt.Errorf("read token %s: %w", id, err)
					return
				}
				if _, err := s.ListDatasources(ctx); err != nil {
					errs <- fmt.Errorf("list: %w", err)
					return
				}
			}
		}()
		go func() { // writer, the only one of id's token and datasource
			defer wg.Done()
			for gen := uint64(1); ; gen++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.SaveTokenRecord(ctx, datasource.SharedKey(id), sampleToken(gen+1), gen); err != nil {
					errs <- fmt.Errorf("save token %s: %w", id, err)
					return
				}
				lastGen[i] = gen + 1
				d := sample(id, fmt.Sprint("name-", i))
				d.URL = fmt.Sprint("https://api.example.com/v", gen)
				if _, err := s.UpdateDatasource(ctx, d); err != nil {
					errs <- fmt.Errorf("update %s: %w", id, err)
					return
				}
				st := &datasource.State{Key: fmt.Sprint("k-", id, "-", gen), DatasourceID: id,
					Verifier: datasource.NewSecret(verifier), ExpiresAt: time.Now().Add(time.Hour)}
				if err := s.SaveState(ctx, st); err != nil {
					errs <- fmt.Errorf("save state %s: %w", id, err)
					return
				}
				if got, err := s.ConsumeState(ctx, st.Key); err != nil || got.Verifier.Reveal() != verifier {
					errs <- fmt.Errorf("consume state %s: %v", id, err)
					return
				}
			}
		}()
	}
	ks := e.ks
	for range 10 {
		next, err := ks.Rotate()
		if err != nil {
			t.Error(err)
			break
		}
		if _, err := s.Reseal(ctx, next); err != nil {
			t.Errorf("reseal while in use: %v", err)
			break
		}
		ks = next
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	s.Close()
	s, err := Open(e.path(), ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprint("ds_", i)
		d, err := s.Datasource(ctx, id)
		if err != nil || d.Auth.ClientSecret.Reveal() != clientSecret {
			t.Errorf("datasource %s after reseals: %v", id, err)
		}
		tok, err := s.TokenRecord(ctx, datasource.SharedKey(id))
		if err != nil || tok.Generation != lastGen[i] || tok.AccessToken.Reveal() != accessToken {
			t.Errorf("token %s after reseals: generation %v, want %d, %v", id, tok, lastGen[i], err)
		}
	}
}

func rawRecord(t *testing.T, s *Store, bucket []byte, key string) []byte {
	var v []byte
	s.db.View(func(tx *bbolt.Tx) error { v = bytes.Clone(tx.Bucket(bucket).Get([]byte(key))); return nil })
	return v
}

// TestCrashLeavesNoHalfRecord runs a child process that creates datasources
// and saves tokens as fast as it can, kills it with SIGKILL after it has
// reported some progress, and checks that the file opens, every record
// decodes, and the name index matches the datasources exactly.
func TestCrashLeavesNoHalfRecord(t *testing.T) {
	if os.Getenv("GRANTD_CRASH_CHILD") != "" {
		t.Skip("child process")
	}
	e := newEnv(t)
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), "GRANTD_CRASH_CHILD="+e.dir, "GRANTD_CRASH_KEK="+e.kek.Encode(), "GRANTD_CRASH_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		progress := 0
		for sc.Scan() {
			if bytes.HasPrefix(sc.Bytes(), []byte("wrote ")) {
				progress++
				if progress == 40+round*17 {
					break
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if progress == 0 {
			t.Fatal("child made no progress")
		}

		s := e.mustOpen(t)
		list, err := s.ListDatasources(ctx)
		if err != nil {
			t.Fatalf("round %d: list after kill: %v", round, err)
		}
		count := 0
		s.db.View(func(tx *bbolt.Tx) error {
			count = tx.Bucket(bucketDatasources).Stats().KeyN
			return nil
		})
		if count != len(list) {
			t.Fatalf("round %d: %d datasource records but %d names", round, count, len(list))
		}
		for _, d := range list {
			if d.Auth.ClientSecret.Reveal() != clientSecret {
				t.Fatalf("round %d: %s has a broken secret", round, d.ID)
			}
			if tok, err := s.TokenRecord(ctx, datasource.SharedKey(d.ID)); err == nil && tok.AccessToken.Reveal() != accessToken {
				t.Fatalf("round %d: %s has a broken token", round, d.ID)
			} else if err != nil && !errors.Is(err, datasource.ErrNotFound) {
				t.Fatalf("round %d: token of %s: %v", round, d.ID, err)
			}
		}
		t.Logf("round %d: killed after %d reported writes; %d datasources intact", round, progress, len(list))
		s.Close()
	}
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv("GRANTD_CRASH_CHILD")
	if dir == "" {
		t.Skip("only run as the child of TestCrashLeavesNoHalfRecord")
	}
	kek, err := crypto.ParseMasterKey(os.Getenv("GRANTD_CRASH_KEK"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, kek: kek}
	s := e.mustOpen(t)
	round := os.Getenv("GRANTD_CRASH_ROUND")
	for i := 0; ; i++ {
		id := fmt.Sprintf("ds_r%s_%d", round, i)
		if err := s.CreateDatasource(ctx, sample(id, id)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.SaveTokenRecord(ctx, datasource.SharedKey(id), sampleToken(uint64(g+1)), uint64(g))
			}()
		}
		wg.Wait()
		fmt.Println("wrote", id)
	}
}

// A schema 1 file indexed names as written; opening it re-keys the index
// by NameKey. Two names that differ only in case both stay listed.
func TestUpgradeSchema1FoldsNames(t *testing.T) {
	e := newEnv(t)
	s := e.mustOpen(t)
	for _, d := range []*datasource.Datasource{sample("ds_1", "Vectara"), sample("ds_2", "Cognito")} {
		if err := s.CreateDatasource(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	path := s.Path()
	s.Close()
	// Make it a schema 1 file, with a second name differing only in case
	// (possible then).
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		tx.DeleteBucket(bucketNames)
		names, _ := tx.CreateBucket(bucketNames)
		names.Put([]byte("Vectara"), []byte("ds_1"))
		names.Put([]byte("Cognito"), []byte("ds_2"))
		rec, _ := sealed.Codec{Sealer: e.ks}.EncodeDatasource(sample("ds_3", "vectara"))
		tx.Bucket(bucketDatasources).Put([]byte("ds_3"), rec)
		names.Put([]byte("vectara"), []byte("ds_3"))
		stripTags(t, tx)
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("1"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = e.mustOpen(t)
	defer s.Close()
	list, err := s.ListDatasources(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("after the upgrade: %d listed, %v", len(list), err)
	}
	if d, err := s.DatasourceByName(ctx, "COGNITO"); err != nil || d.ID != "ds_2" {
		t.Errorf("by name in another case: %v %v", d, err)
	}
	if err := s.CreateDatasource(ctx, sample("ds_4", "VECTARA")); !errors.Is(err, datasource.ErrDuplicateName) {
		t.Errorf("duplicate after upgrade: %v", err)
	}
}

// stripTags turns every record in tx back into what grantd wrote before
// records were authenticated (schema 2): the record without its envelope,
// meta values raw.
func stripTags(t *testing.T, tx *bbolt.Tx) {
	t.Helper()
	for _, b := range [][]byte{bucketDatasources, bucketTokens, bucketStates, bucketEvents, bucketDeliveries, bucketMeta} {
		bk := tx.Bucket(b)
		type kv struct{ k, v []byte }
		var out []kv
		bk.ForEach(func(k, v []byte) error {
			var env struct {
				R json.RawMessage `json:"r"`
			}
			if err := json.Unmarshal(v, &env); err != nil || env.R == nil {
				t.Fatalf("%s %q is not an envelope: %s", b, k, v)
			}
			rec := []byte(env.R)
			if bytes.HasPrefix(k, []byte(metaPrefix)) {
				if err := json.Unmarshal(env.R, &rec); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, kv{bytes.Clone(k), rec})
			return nil
		})
		for _, e := range out {
			if err := bk.Put(e.k, e.v); err != nil {
				t.Fatal(err)
			}
		}
	}
}
