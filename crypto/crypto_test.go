package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKeyset(tb testing.TB) *Keyset {
	tb.Helper()
	ks, err := NewKeyset()
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

func TestSealOpen(t *testing.T) {
	ks := mustKeyset(t)
	ad := []byte("grantd/v1/token/ds_1/access_token")
	c, err := ks.Seal([]byte("plaintext"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c, []byte("plaintext")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	p, err := ks.Open(c, ad)
	if err != nil || string(p) != "plaintext" {
		t.Fatalf("Open = %q, %v", p, err)
	}
	// Associated data binds the ciphertext to its record and field.
	for _, other := range [][]byte{
		[]byte("grantd/v1/token/ds_2/access_token"),
		[]byte("grantd/v1/token/ds_1/refresh_token"),
		nil,
	} {
		if _, err := ks.Open(c, other); !errors.Is(err, ErrOpen) {
			t.Errorf("Open with aad %q: err = %v, want ErrOpen", other, err)
		}
	}
	tampered := bytes.Clone(c)
	tampered[len(tampered)-1] ^= 1
	if _, err := ks.Open(tampered, ad); !errors.Is(err, ErrOpen) {
		t.Errorf("tampered: err = %v, want ErrOpen", err)
	}
	if _, err := mustKeyset(t).Open(c, ad); !errors.Is(err, ErrOpen) {
		t.Errorf("other keyset: err = %v, want ErrOpen", err)
	}
}

func TestKeysetEncryptedAtRest(t *testing.T) {
	kek := GenerateMasterKey()
	ks := mustKeyset(t)
	enc, err := ks.Encrypt(kek)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, []byte("encryptedKeyset")) {
		t.Fatalf("not Tink's encrypted keyset format: %s", enc)
	}
	back, err := ReadKeyset(enc, kek)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ks.Seal([]byte("x"), nil)
	if p, err := back.Open(c, nil); err != nil || string(p) != "x" {
		t.Fatalf("reloaded keyset does not open: %v", err)
	}
	// A wrong master key fails closed with a clear error.
	_, err = ReadKeyset(enc, GenerateMasterKey())
	if !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("wrong key: err = %v, want ErrWrongMasterKey", err)
	}
	if !strings.Contains(err.Error(), "GRANTD_MASTER_KEY") {
		t.Errorf("error does not say what to check: %v", err)
	}
	tampered := bytes.Replace(enc, []byte(`"encryptedKeyset":"`), []byte(`"encryptedKeyset":"AA`), 1)
	if _, err := ReadKeyset(tampered, kek); err == nil {
		t.Fatal("tampered keyset opened")
	}
}

func TestRotate(t *testing.T) {
	ks := mustKeyset(t)
	old, _ := ks.Seal([]byte("old"), []byte("ad"))
	rot, err := ks.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if rot.Len() != 2 || rot.PrimaryID() == ks.PrimaryID() {
		t.Fatalf("rotated keyset: %v (was %v)", rot, ks)
	}
	if p, err := rot.Open(old, []byte("ad")); err != nil || string(p) != "old" {
		t.Fatalf("old data unreadable after rotation: %v", err)
	}
	fresh, _ := rot.Seal([]byte("new"), []byte("ad"))
	if _, err := ks.Open(fresh, []byte("ad")); !errors.Is(err, ErrOpen) {
		t.Fatal("new data sealed under the old primary")
	}
}

func TestParseMasterKey(t *testing.T) {
	k := GenerateMasterKey()
	enc := k.Encode()
	for _, s := range []string{enc, " " + enc + "\n", strings.TrimRight(enc, "=")} {
		got, err := ParseMasterKey(s)
		if err != nil || !got.Equal(k) {
			t.Errorf("ParseMasterKey(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "short", "AAAA", strings.Repeat("A", 64)} {
		if _, err := ParseMasterKey(s); !errors.Is(err, ErrMasterKeyFormat) {
			t.Errorf("ParseMasterKey(%q) err = %v", s, err)
		}
	}
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(out, enc) || strings.Contains(out, fmt.Sprint(k.b)) {
			t.Errorf("master key printed: %s", out)
		}
	}
}

func TestMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k, created, err := LoadOrCreateMasterKeyFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateMasterKeyFile(path)
	if err != nil || created || !k2.Equal(k) {
		t.Fatalf("reload: created=%v err=%v equal=%v", created, err, k2.Equal(k))
	}
	os.Chmod(path, 0o644)
	if _, _, err := LoadOrCreateMasterKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreateMasterKeyFile(path); !errors.Is(err, ErrMasterKeyFormat) {
		t.Errorf("garbage key: %v", err)
	}
}

func TestLoadOrCreateKeyset(t *testing.T) {
	dir := t.TempDir()
	st := KeysetFile(filepath.Join(dir, "keyset.json"))
	kek := GenerateMasterKey()
	ks, created, err := LoadOrCreateKeyset(st, kek)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	c, _ := ks.Seal([]byte("v"), nil)
	ks2, created, err := LoadOrCreateKeyset(st, kek)
	if err != nil || created {
		t.Fatalf("load: %v %v", created, err)
	}
	if _, err := ks2.Open(c, nil); err != nil {
		t.Fatal("reloaded keyset is another keyset")
	}
	if _, _, err := LoadOrCreateKeyset(st, GenerateMasterKey()); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("wrong master key: %v", err)
	}
	raw, _ := os.ReadFile(string(st))
	if bytes.Contains(raw, []byte(kek.Encode())) {
		t.Fatal("keyset file holds the master key")
	}
	fi, _ := os.Stat(string(st))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keyset mode %04o", fi.Mode().Perm())
	}
}

func BenchmarkSeal(b *testing.B) {
	ks := mustKeyset(b)
	p := []byte(strings.Repeat("t", 900)) // a typical JWT access token
	ad := []byte("grantd/v1/token/ds_0123456789/access_token")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Seal(p, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	ks := mustKeyset(b)
	ad := []byte("grantd/v1/token/ds_0123456789/access_token")
	c, _ := ks.Seal([]byte(strings.Repeat("t", 900)), ad)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Open(c, ad); err != nil {
			b.Fatal(err)
		}
	}
}
