// Package crypto seals grantd's secrets with Tink.
//
// A Keyset is a Tink AEAD keyset (AES-256-GCM). Seal and Open encrypt and
// decrypt with associated data, so a ciphertext only opens in the record and
// field it was sealed for. The keyset is stored encrypted under a
// key-encryption key, the MasterKey: 32 bytes from GRANTD_MASTER_KEY, or in
// development a generated master.key file (mode 0600) next to the data.
//
// # Rotation
//
// Rotate returns a keyset with a new primary key and every old key kept:
// new data is sealed under the new key, old data still opens. After writing
// the rotated keyset, a store re-seals its records (see grantd keys rotate).
//
// # Failure
//
// Everything fails closed: a wrong master key, a tampered keyset, a
// ciphertext moved to another record, all return errors (ErrWrongMasterKey,
// ErrOpen) and never a partial plaintext.
package crypto
