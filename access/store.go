package access

import (
	"context"

	"github.com/grantd/grantd/datasource"
)

// Store is what access needs of a store: its metadata. A store that
// several processes share should also implement datasource.MetaCreator
// (see "Replicas" in the package documentation).
type Store interface {
	datasource.Meta
}

// Sealer encrypts with associated data; *crypto.Keyset is one.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// Metadata keys.
const (
	metaAdminToken = "admin-token-sha256"
	metaSessionKey = "session-key"
)

// create stores value under key unless another process did first, and
// reports whether this call stored it.
func create(ctx context.Context, st Store, key string, value []byte) (bool, error) {
	if c, ok := st.(datasource.MetaCreator); ok {
		return c.CreateMeta(ctx, key, value)
	}
	return true, st.SetMeta(ctx, key, value)
}
