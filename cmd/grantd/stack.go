package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
)

// stack is what every command that touches the data needs: the master
// key, the keyset it opens, and the store.
type stack struct {
	dir      string
	kek      crypto.MasterKey
	keys     *crypto.Keyset
	keysetSt crypto.KeysetStorage
	store    *bolt.Store
}

const (
	metaAdminToken = "admin-token-sha256"
	metaSessionKey = "session-key"
)

// openStack opens the data directory: the master key from masterKey (the
// GRANTD_MASTER_KEY value) or, without it, the development key file
// data/master.key (created on first use); the keyset in data/keyset.json
// (created on first use); the bbolt file data/grantd.db.
func openStack(dir, masterKey string, log *slog.Logger) (*stack, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st := &stack{dir: dir, keysetSt: crypto.KeysetFile(filepath.Join(dir, "keyset.json"))}
	if masterKey != "" {
		k, err := crypto.ParseMasterKey(masterKey)
		if err != nil {
			return nil, fmt.Errorf("GRANTD_MASTER_KEY: %w", err)
		}
		st.kek = k
	} else {
		path := filepath.Join(dir, "master.key")
		k, created, err := crypto.LoadOrCreateMasterKeyFile(path)
		if err != nil {
			return nil, err
		}
		st.kek = k
		if created {
			log.Warn("created a development master key next to the data; set GRANTD_MASTER_KEY in production", "path", path)
		} else {
			log.Info("using the development master key file; set GRANTD_MASTER_KEY in production", "path", path)
		}
	}
	keys, created, err := crypto.LoadOrCreateKeyset(st.keysetSt, st.kek)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created a new keyset", "keys", keys.Len())
	}
	st.keys = keys
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, nil)
	if err != nil {
		return nil, err
	}
	st.store = store
	return st, nil
}

func (s *stack) Close() error { return s.store.Close() }

// adminTokenHash returns the SHA-256 of the admin token: of fromEnv when
// set; else the stored hash; else a new token is generated, its hash
// stored and the token itself printed once to out.
func (s *stack) adminTokenHash(ctx context.Context, fromEnv string, out io.Writer) ([sha256.Size]byte, error) {
	if fromEnv != "" {
		if len(fromEnv) < 16 {
			return [sha256.Size]byte{}, errors.New("GRANTD_ADMIN_TOKEN must be at least 16 characters")
		}
		return sha256.Sum256([]byte(fromEnv)), nil
	}
	b, err := s.store.Meta(ctx, metaAdminToken)
	if err == nil && len(b) == sha256.Size {
		return [sha256.Size]byte(b), nil
	}
	if err != nil && !errors.Is(err, datasource.ErrNotFound) {
		return [sha256.Size]byte{}, err
	}
	return s.resetAdminToken(ctx, out)
}

// resetAdminToken makes a new admin token, stores its hash, and prints it.
func (s *stack) resetAdminToken(ctx context.Context, out io.Writer) ([sha256.Size]byte, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := "gd_" + base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(tok))
	if err := s.store.SetMeta(ctx, metaAdminToken, h[:]); err != nil {
		return h, err
	}
	fmt.Fprintf(out, "\nAdmin token (shown once, only its hash is stored; keep it safe):\n\n  %s\n\n", tok)
	return h, nil
}

// sessionKey returns the key that signs UI session cookies, stored sealed.
func (s *stack) sessionKey(ctx context.Context) ([]byte, error) {
	aad := []byte("grantd/v1/meta/session-key")
	if b, err := s.store.Meta(ctx, metaSessionKey); err == nil {
		k, err := s.keys.Open(b, aad)
		if err == nil && len(k) == 32 {
			return k, nil
		}
	}
	k := make([]byte, 32)
	rand.Read(k)
	sealed, err := s.keys.Seal(k, aad)
	if err != nil {
		return nil, err
	}
	return k, s.store.SetMeta(ctx, metaSessionKey, sealed)
}
