package crypto

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNoKeyset is returned by a KeysetStorage that holds no keyset yet.
var ErrNoKeyset = errors.New("crypto: no keyset stored")

// ErrKeysetExists is returned by a KeysetCreator when another process
// stored a keyset first.
var ErrKeysetExists = errors.New("crypto: a keyset is already stored")

// KeysetCreator is an optional capability of a KeysetStorage shared by
// several processes: CreateKeyset stores the keyset only if none is
// stored yet (ErrKeysetExists otherwise), so processes starting together
// agree on one.
type KeysetCreator interface {
	CreateKeyset(encrypted []byte) error
}

// KeysetStorage keeps the encrypted keyset. A file serves a single server;
// a distributed store shares one keyset between replicas.
type KeysetStorage interface {
	// LoadKeyset returns the encrypted keyset, or ErrNoKeyset.
	LoadKeyset() ([]byte, error)
	// SaveKeyset replaces the encrypted keyset atomically.
	SaveKeyset(encrypted []byte) error
}

// KeysetFile is a KeysetStorage in a file, replaced atomically
// (write to a temporary file, fsync, rename) with mode 0600.
type KeysetFile string

// LoadKeyset implements KeysetStorage.
func (f KeysetFile) LoadKeyset() ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoKeyset
	}
	if err != nil {
		return nil, fmt.Errorf("crypto: read keyset: %w", err)
	}
	return b, nil
}

// SaveKeyset implements KeysetStorage.
func (f KeysetFile) SaveKeyset(encrypted []byte) error {
	return WriteFileAtomic(string(f), encrypted, 0o600)
}

// WriteFileAtomic writes data to path so that a crash leaves either the old
// file or the new one, never a mix.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("crypto: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("crypto: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("crypto: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("crypto: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("crypto: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("crypto: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadOrCreateKeyset opens the keyset in st with kek, or creates and saves
// a new one when st holds none. It returns ErrWrongMasterKey when kek does
// not open the stored keyset.
func LoadOrCreateKeyset(st KeysetStorage, kek MasterKey) (ks *Keyset, created bool, err error) {
	b, err := st.LoadKeyset()
	switch {
	case err == nil:
		ks, err := ReadKeyset(b, kek)
		return ks, false, err
	case !errors.Is(err, ErrNoKeyset):
		return nil, false, err
	}
	ks, err = NewKeyset()
	if err != nil {
		return nil, false, err
	}
	enc, err := ks.Encrypt(kek)
	if err != nil {
		return nil, false, err
	}
	if cr, ok := st.(KeysetCreator); ok {
		err := cr.CreateKeyset(enc)
		if errors.Is(err, ErrKeysetExists) {
			// Another process won the race: use its keyset.
			b, err := st.LoadKeyset()
			if err != nil {
				return nil, false, err
			}
			ks, err := ReadKeyset(b, kek)
			return ks, false, err
		}
		if err != nil {
			return nil, false, err
		}
		return ks, true, nil
	}
	if err := st.SaveKeyset(enc); err != nil {
		return nil, false, err
	}
	return ks, true, nil
}
