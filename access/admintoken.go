package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/grantd/grantd/datasource"
)

// MinAdminTokenLength is the length of the shortest admin token an
// operator may configure.
const MinAdminTokenLength = 16

// ErrShortAdminToken is returned by EnsureAdminToken for a configured
// token shorter than MinAdminTokenLength.
var ErrShortAdminToken = errors.New("access: the admin token must be at least 16 characters")

// EnsureAdminToken returns the SHA-256 of the admin token. A configured
// token (not empty) wins: its hash is returned and nothing is stored.
// Otherwise the stored hash is returned; without one, a new token is
// generated, its hash stored, and the token returned as generated, to be
// shown once: grantd keeps only the hash. generated is empty when no token
// was generated. On a shared store, of replicas racing on an empty store
// exactly one generates the token and all return its hash.
//
// It returns ErrShortAdminToken for a configured token that is too short,
// and the store's error when the hash cannot be read or stored.
func EnsureAdminToken(ctx context.Context, st Store, configured string) (hash [sha256.Size]byte, generated string, err error) {
	if configured != "" {
		if len(configured) < MinAdminTokenLength {
			return hash, "", ErrShortAdminToken
		}
		return sha256.Sum256([]byte(configured)), "", nil
	}
	if h, ok, err := storedHash(ctx, st); ok || err != nil {
		return h, "", err
	}
	tok, h := newAdminToken()
	created, err := create(ctx, st, metaAdminToken, h[:])
	if err != nil {
		return hash, "", err
	}
	if !created { // another replica made one first: use that
		h, ok, err := storedHash(ctx, st)
		if err == nil && !ok {
			err = errors.New("access: another replica stored an admin token hash that is not a SHA-256")
		}
		return h, "", err
	}
	return h, tok, nil
}

// AdminTokenHash returns the stored hash of the admin token, or
// datasource.ErrNotFound when there is none (or what is stored is not a
// SHA-256). It does not know about a configured token.
func AdminTokenHash(ctx context.Context, st Store) ([sha256.Size]byte, error) {
	h, ok, err := storedHash(ctx, st)
	if err == nil && !ok {
		err = fmt.Errorf("access: no admin token hash: %w", datasource.ErrNotFound)
	}
	return h, err
}

// ResetAdminToken replaces the admin token: it generates a new one,
// stores its hash over the old one, and returns both. The token is not
// kept: show it once. Replicas that are running keep the hash they
// loaded until they restart.
func ResetAdminToken(ctx context.Context, st Store) (token string, hash [sha256.Size]byte, err error) {
	token, hash = newAdminToken()
	if err := st.SetMeta(ctx, metaAdminToken, hash[:]); err != nil {
		return "", [sha256.Size]byte{}, err
	}
	return token, hash, nil
}

// storedHash reads the stored hash; ok is false when there is none or it
// is not a SHA-256 (then EnsureAdminToken makes a new one).
func storedHash(ctx context.Context, st Store) (h [sha256.Size]byte, ok bool, err error) {
	b, err := st.Meta(ctx, metaAdminToken)
	switch {
	case errors.Is(err, datasource.ErrNotFound):
		return h, false, nil
	case err != nil:
		return h, false, fmt.Errorf("access: reading the admin token hash: %w", err)
	case len(b) != sha256.Size:
		return h, false, nil
	}
	return [sha256.Size]byte(b), true, nil
}

// newAdminToken returns "gd_" and 32 random bytes in base64url, and its
// hash.
func newAdminToken() (string, [sha256.Size]byte) {
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := "gd_" + base64.RawURLEncoding.EncodeToString(raw)
	return tok, sha256.Sum256([]byte(tok))
}
