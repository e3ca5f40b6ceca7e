package access

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/grantd/grantd/datasource"
)

// sessionKeyAAD binds the sealed session key to its place.
var sessionKeyAAD = []byte("grantd/v1/meta/session-key")

// ErrSessionKeySealed is returned when the stored session key does not
// open with the Sealer given: it was sealed under another keyset.
var ErrSessionKeySealed = errors.New("access: the stored session key does not open with this keyset")

// SessionKey returns the 32-byte key that signs UI session cookies. The
// stored one is opened with sealer; without one, a new key is made,
// sealed and stored. On a shared store, replicas racing on an empty store
// all return the key the first one stored.
//
// It returns ErrSessionKeySealed when the stored key does not open, and
// the store's or the sealer's error otherwise.
func SessionKey(ctx context.Context, st Store, sealer Sealer) ([]byte, error) {
	if k, ok, err := loadSessionKey(ctx, st, sealer); ok || err != nil {
		return k, err
	}
	k := make([]byte, 32)
	rand.Read(k)
	sealedKey, err := sealer.Seal(k, sessionKeyAAD)
	if err != nil {
		return nil, err
	}
	stored, err := create(ctx, st, metaSessionKey, sealedKey)
	if err != nil {
		return nil, err
	}
	if !stored { // another replica made one first: use it
		k, ok, err := loadSessionKey(ctx, st, sealer)
		if err == nil && !ok {
			err = errors.New("access: another replica's session key vanished")
		}
		return k, err
	}
	return k, nil
}

// ResealSessionKey seals the stored session key again, opened with from
// and sealed with to, as rotating the keyset does with every secret. A
// store without a session key is left as it is.
func ResealSessionKey(ctx context.Context, st Store, from, to Sealer) error {
	k, ok, err := loadSessionKey(ctx, st, from)
	if !ok || err != nil {
		return err
	}
	b, err := to.Seal(k, sessionKeyAAD)
	if err != nil {
		return err
	}
	return st.SetMeta(ctx, metaSessionKey, b)
}

// loadSessionKey reads and opens the stored session key; ok is false when
// there is none.
func loadSessionKey(ctx context.Context, st Store, sealer Sealer) (k []byte, ok bool, err error) {
	b, err := st.Meta(ctx, metaSessionKey)
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("access: reading the session key: %w", err)
	}
	k, err = sealer.Open(b, sessionKeyAAD)
	if err != nil || len(k) != 32 {
		return nil, false, ErrSessionKeySealed
	}
	return k, true, nil
}
