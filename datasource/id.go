package datasource

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a new random datasource id: "ds_" and 26 characters
// (128 bits of randomness).
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "ds_" + strings.ToLower(idEncoding.EncodeToString(b))
}
