package datasource

import (
	"crypto/subtle"
	"log/slog"
)

// Secret is a credential: a client secret, an access or refresh token, a PKCE
// verifier. Its value is only reachable through Reveal; formatting, logging
// and JSON marshalling print "[redacted]" instead, so a Secret that ends up
// in a log line or a response by mistake leaks nothing.
type Secret struct {
	v string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the plaintext. Call it only where the value must leave the
// process: on the wire to a provider or upstream, or into a sealer.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Equal reports whether s and o hold the same value, in constant time.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.v), []byte(o.v)) == 1
}

const redacted = "[redacted]"

// String returns "[redacted]" (or "" for an empty secret).
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString returns the same as String, so %#v does not leak either.
func (s Secret) GoString() string { return s.String() }

// LogValue keeps the value out of slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes "[redacted]"; a Secret is never serialised in clear.
// Stores seal secrets explicitly instead of marshalling them.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(`"` + s.String() + `"`), nil
}

// UnmarshalJSON reads a JSON string, so API input can carry a secret.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var str string
	if err := unmarshalString(b, &str); err != nil {
		return err
	}
	s.v = str
	return nil
}
