package datasource

import (
	"path/filepath"
	"strings"
)

// A client secret may be a reference instead of a value: ${env:NAME} names
// an environment variable of the grantd process, ${file:/path} a file (a
// mounted Kubernetes or Docker secret). The reference is what is stored;
// the engine resolves it each time it needs the secret (see
// grants.Options.ResolveSecret), so the value itself is never persisted.

// SecretRefKind is "env" or "file".
type SecretRefKind string

const (
	SecretRefEnv  SecretRefKind = "env"
	SecretRefFile SecretRefKind = "file"
)

// ParseSecretRef reports whether s is a secret reference and what it
// names. ok is false for an ordinary secret. A string that starts with
// "${" but is not a well-formed reference returns ok true and an error
// message in bad.
func ParseSecretRef(s string) (kind SecretRefKind, name string, ok bool, bad string) {
	if !strings.HasPrefix(s, "${") {
		return "", "", false, ""
	}
	if !strings.HasSuffix(s, "}") {
		return "", "", true, "a reference must be ${env:NAME} or ${file:/absolute/path}"
	}
	inner := s[2 : len(s)-1]
	k, n, found := strings.Cut(inner, ":")
	if !found {
		return "", "", true, "a reference must be ${env:NAME} or ${file:/absolute/path}"
	}
	switch SecretRefKind(k) {
	case SecretRefEnv:
		if !validEnvName(n) {
			return "", "", true, "${env:NAME} needs a variable name of letters, digits and _ (not starting with a digit)"
		}
		return SecretRefEnv, n, true, ""
	case SecretRefFile:
		if !filepath.IsAbs(n) || strings.ContainsAny(n, "\x00\n") || filepath.Clean(n) != n {
			return "", "", true, "${file:PATH} needs a clean absolute path"
		}
		return SecretRefFile, n, true, ""
	}
	return "", "", true, "a reference must be ${env:NAME} or ${file:/absolute/path}"
}

// IsRef reports whether the secret is a well-formed reference.
func (s Secret) IsRef() bool {
	_, _, ok, bad := ParseSecretRef(s.v)
	return ok && bad == ""
}

// Ref returns the reference itself ("${env:NAME}") when the secret is one,
// else "". A reference is not secret: it may be shown and exported.
func (s Secret) Ref() string {
	if s.IsRef() {
		return s.v
	}
	return ""
}

func validEnvName(n string) bool {
	if n == "" || len(n) > 256 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}
