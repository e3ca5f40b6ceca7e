package crypto

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Errors returned by this package.
var (
	// ErrWrongMasterKey is returned when the master key does not decrypt
	// the stored keyset: another GRANTD_MASTER_KEY, or a tampered keyset.
	ErrWrongMasterKey = errors.New("crypto: the master key does not open the keyset (wrong GRANTD_MASTER_KEY or master.key, or a tampered keyset)")
	// ErrOpen is returned by Open when a ciphertext does not decrypt: it
	// was sealed under a key not in the keyset, for other associated data
	// (moved to another record or field), or was altered.
	ErrOpen = errors.New("crypto: ciphertext does not open (wrong key, wrong record or tampered)")
)

// keysetAD binds the encrypted keyset to its purpose.
var keysetAD = []byte("grantd keyset v1")

// Keyset seals and opens secrets with a Tink AEAD keyset. It is safe for
// concurrent use. A Keyset is immutable: Rotate returns a new one.
type Keyset struct {
	handle *keyset.Handle
	aead   tink.AEAD
}

// NewKeyset returns a keyset with one fresh AES-256-GCM key.
func NewKeyset() (*Keyset, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("crypto: new keyset: %w", err)
	}
	return fromHandle(h)
}

func fromHandle(h *keyset.Handle) (*Keyset, error) {
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("crypto: keyset primitive: %w", err)
	}
	return &Keyset{handle: h, aead: a}, nil
}

// ReadKeyset decrypts an encrypted keyset written by Encrypt. It returns
// ErrWrongMasterKey when kek does not open it.
func ReadKeyset(encrypted []byte, kek MasterKey) (*Keyset, error) {
	ka, err := kekAEAD(kek)
	if err != nil {
		return nil, err
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(encrypted)), ka, keysetAD)
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	return fromHandle(h)
}

// Encrypt returns the keyset encrypted under kek, in Tink's JSON format.
func (k *Keyset) Encrypt(kek MasterKey) ([]byte, error) {
	ka, err := kekAEAD(kek)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := k.handle.WriteWithAssociatedData(keyset.NewJSONWriter(&buf), ka, keysetAD); err != nil {
		return nil, fmt.Errorf("crypto: encrypt keyset: %w", err)
	}
	return buf.Bytes(), nil
}

// Rotate returns a keyset that holds every key of k plus a new primary key.
// Data sealed by k still opens with the result.
func (k *Keyset) Rotate() (*Keyset, error) {
	m := keyset.NewManagerFromHandle(k.handle)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("crypto: rotate: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("crypto: rotate: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("crypto: rotate: %w", err)
	}
	return fromHandle(h)
}

// Len returns the number of keys in the keyset.
func (k *Keyset) Len() int { return k.handle.Len() }

// PrimaryID returns the id of the key that seals new data.
func (k *Keyset) PrimaryID() uint32 {
	e, err := k.handle.Primary()
	if err != nil {
		return 0
	}
	return e.KeyID()
}

// Seal encrypts plaintext bound to associated data aad. Open must be given
// the same aad.
func (k *Keyset) Seal(plaintext, aad []byte) ([]byte, error) {
	c, err := k.aead.Encrypt(plaintext, aad)
	if err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	return c, nil
}

// Open decrypts a ciphertext from Seal. It returns ErrOpen when the
// ciphertext was sealed by another keyset or for other associated data, or
// was altered.
func (k *Keyset) Open(ciphertext, aad []byte) ([]byte, error) {
	p, err := k.aead.Decrypt(ciphertext, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return p, nil
}

// String describes the keyset without key material.
func (k *Keyset) String() string {
	return fmt.Sprintf("crypto.Keyset{keys: %d, primary: %d}", k.Len(), k.PrimaryID())
}

func kekAEAD(kek MasterKey) (tink.AEAD, error) {
	if kek.IsZero() {
		return nil, errors.New("crypto: no master key")
	}
	a, err := subtle.NewAESGCM(kek.b)
	if err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	return a, nil
}
