package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// MasterKeySize is the size of a key-encryption key in bytes.
const MasterKeySize = 32

// MasterKey is the key-encryption key that encrypts the keyset at rest. It
// has no String method that prints it: fmt shows "[redacted]".
type MasterKey struct {
	b []byte
}

// ErrMasterKeyFormat is returned by ParseMasterKey for a value that is not
// 32 bytes in base64.
var ErrMasterKeyFormat = errors.New("crypto: master key must be 32 random bytes, base64-encoded (generate one with: grantd keys generate)")

// ParseMasterKey decodes a base64 (standard or URL alphabet, padded or not)
// encoding of 32 bytes.
func ParseMasterKey(s string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == MasterKeySize {
			return MasterKey{b: b}, nil
		}
	}
	return MasterKey{}, ErrMasterKeyFormat
}

// GenerateMasterKey returns a new random master key.
func GenerateMasterKey() MasterKey {
	b := make([]byte, MasterKeySize)
	if _, err := rand.Read(b); err != nil {
		panic("crypto: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return MasterKey{b: b}
}

// Encode returns the base64 form ParseMasterKey reads. Only for writing the
// key where it belongs (master.key, grantd keys generate).
func (k MasterKey) Encode() string { return base64.StdEncoding.EncodeToString(k.b) }

// Equal reports whether two keys are the same, in constant time.
func (k MasterKey) Equal(o MasterKey) bool { return subtle.ConstantTimeCompare(k.b, o.b) == 1 }

// IsZero reports whether k holds no key.
func (k MasterKey) IsZero() bool { return len(k.b) == 0 }

// String returns "[redacted]".
func (k MasterKey) String() string { return "[redacted]" }

// GoString returns "[redacted]".
func (k MasterKey) GoString() string { return "[redacted]" }

// LoadOrCreateMasterKeyFile reads the master key at path, or creates the
// file with a new key (mode 0600) when it does not exist. It refuses a file
// that group or others can read or write. created says whether the file is
// new.
func LoadOrCreateMasterKeyFile(path string) (k MasterKey, created bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		k = GenerateMasterKey()
		if _, err := f.WriteString(k.Encode() + "\n"); err != nil {
			f.Close()
			os.Remove(path)
			return MasterKey{}, false, fmt.Errorf("crypto: write master key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(path)
			return MasterKey{}, false, fmt.Errorf("crypto: write master key: %w", err)
		}
		if err := f.Close(); err != nil {
			return MasterKey{}, false, fmt.Errorf("crypto: write master key: %w", err)
		}
		return k, true, nil
	case !errors.Is(err, fs.ErrExist):
		return MasterKey{}, false, fmt.Errorf("crypto: create master key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return MasterKey{}, false, fmt.Errorf("crypto: master key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return MasterKey{}, false, fmt.Errorf("crypto: %s has mode %04o; it must be readable by its owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return MasterKey{}, false, fmt.Errorf("crypto: read master key: %w", err)
	}
	k, err = ParseMasterKey(string(b))
	if err != nil {
		return MasterKey{}, false, fmt.Errorf("crypto: %s: %w", path, err)
	}
	return k, false, nil
}
