package datasource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key material for jwt_bearer, private_key_jwt and mutual TLS. Private
// keys are PEM (PKCS #8, PKCS #1 or SEC 1), RSA of at least 2048 bits
// (RS256, PS256) or ECDSA on P-256 (ES256): the algorithms RFC 7518 names
// that Google, Microsoft Entra, Okta and the banks' FAPI profiles accept.
// Everything here is parsing and checking; signing is package grants'.

const (
	maxKeyLen        = 16 << 10
	maxCertChainLen  = 64 << 10
	maxServiceAcctLn = 16 << 10
	minRSABits       = 2048
)

// ErrUnsupportedKey is returned by ParsePrivateKey for a key that is not
// RSA (≥ 2048 bits) or ECDSA P-256.
var ErrUnsupportedKey = errors.New("unsupported key type: use RSA (2048 bits or more) or ECDSA P-256")

// ParsePrivateKey reads one PEM private key. Errors say what is wrong
// without quoting the key.
func ParsePrivateKey(pemText string) (crypto.Signer, error) {
	if len(pemText) > maxKeyLen {
		return nil, fmt.Errorf("must be at most %d bytes", maxKeyLen)
	}
	b, rest := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if b == nil {
		return nil, errors.New("must be a PEM-encoded private key (-----BEGIN PRIVATE KEY-----)")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("must hold exactly one PEM block")
	}
	if _, enc := b.Headers["DEK-Info"]; enc || b.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("is encrypted: give the key without a passphrase (it is sealed at rest)")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("must be a PEM private key, not %q", truncate(b.Type, 40))
	}
	if err != nil {
		return nil, errors.New("holds a private key that does not parse")
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("is an RSA key of %d bits: at least %d are needed", k.N.BitLen(), minRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, ErrUnsupportedKey
		}
		return k, nil
	}
	return nil, ErrUnsupportedKey
}

// ParseCertificates reads a PEM chain, leaf first.
func ParseCertificates(pemText string) ([]*x509.Certificate, error) {
	if len(pemText) > maxCertChainLen {
		return nil, fmt.Errorf("must be at most %d bytes", maxCertChainLen)
	}
	rest := []byte(strings.TrimSpace(pemText))
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("must hold only CERTIFICATE PEM blocks (found %q)", truncate(b.Type, 40))
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errors.New("holds a certificate that does not parse")
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("must be a PEM-encoded certificate (-----BEGIN CERTIFICATE-----)")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("has text after the last PEM block")
	}
	return out, nil
}

// PublicKeyFingerprint is the lower-case hex SHA-256 of the DER
// SubjectPublicKeyInfo of pub, what
// `openssl pkey -pubout -outform DER | sha256sum` prints. "" when pub
// cannot be marshalled.
func PublicKeyFingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// samePublicKey reports whether a certificate's key is the private key's.
func samePublicKey(cert *x509.Certificate, key crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := key.Public().(equaler)
	return ok && e.Equal(cert.PublicKey)
}

// ServiceAccount is what grantd uses of a Google service-account key file.
type ServiceAccount struct {
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
	Type         string `json:"type"`
}

// ParseServiceAccount reads a service-account key file as Google's console
// downloads it. It needs type "service_account", client_email and a
// private_key ParsePrivateKey accepts; token_uri is optional.
func ParseServiceAccount(js string) (*ServiceAccount, error) {
	if len(js) > maxServiceAcctLn {
		return nil, fmt.Errorf("must be at most %d bytes", maxServiceAcctLn)
	}
	var sa ServiceAccount
	if err := json.Unmarshal([]byte(js), &sa); err != nil {
		return nil, errors.New("must be a service-account key file (JSON) as downloaded")
	}
	switch {
	case sa.Type != "service_account":
		return nil, errors.New(`must be a key file of "type": "service_account"`)
	case sa.ClientEmail == "":
		return nil, errors.New("has no client_email")
	case sa.PrivateKey == "":
		return nil, errors.New("has no private_key")
	}
	if _, err := ParsePrivateKey(sa.PrivateKey); err != nil {
		return nil, fmt.Errorf("has a private_key that %v", strings.TrimPrefix(err.Error(), "is "))
	}
	return &sa, nil
}

// fillFromServiceAccount fills the empty ClientID, KeyID and
// AccessTokenURL from a service-account key file given as a value (a
// reference is read at each use, not here). Idempotent.
func (a *OAuth2) fillFromServiceAccount() {
	if a.ServiceAccountJSON.IsZero() || a.ServiceAccountJSON.IsRef() {
		return
	}
	var sa ServiceAccount
	if json.Unmarshal([]byte(a.ServiceAccountJSON.Reveal()), &sa) != nil {
		return // Validate says why
	}
	if a.ClientID == "" {
		a.ClientID = sa.ClientEmail
	}
	if a.KeyID == "" && a.PrivateKey.IsZero() {
		a.KeyID = sa.PrivateKeyID
	}
	if a.AccessTokenURL == "" {
		a.AccessTokenURL = sa.TokenURI
	}
}

// SigningKey returns the PEM private key that signs: PrivateKey, else the
// service account's, else zero. A reference is returned as it is: the
// engine resolves references before it signs.
func (a *OAuth2) SigningKey() Secret {
	if !a.PrivateKey.IsZero() {
		return a.PrivateKey
	}
	if a.ServiceAccountJSON.IsZero() || a.ServiceAccountJSON.IsRef() {
		return Secret{}
	}
	var sa ServiceAccount
	if json.Unmarshal([]byte(a.ServiceAccountJSON.Reveal()), &sa) != nil {
		return Secret{}
	}
	return NewSecret(sa.PrivateKey)
}

// HasSigningKey reports whether a private key (a value or a reference, in
// PrivateKey or a service account) is configured.
func (a *OAuth2) HasSigningKey() bool {
	return !a.PrivateKey.IsZero() || !a.ServiceAccountJSON.IsZero()
}

// KeyInfo describes configured key material without revealing it, for
// views: the public key's fingerprint (see PublicKeyFingerprint) and the
// leaf certificate's expiry. Empty for a reference or material that does
// not parse.
type KeyInfo struct {
	Fingerprint string
	NotAfter    time.Time
}

// DescribeKey describes a private key and its certificate (either may be
// empty).
func DescribeKey(key Secret, certPEM string) KeyInfo {
	var info KeyInfo
	if !key.IsZero() && !key.IsRef() {
		if k, err := ParsePrivateKey(key.Reveal()); err == nil {
			info.Fingerprint = PublicKeyFingerprint(k.Public())
		}
	}
	if certPEM != "" {
		if cs, err := ParseCertificates(certPEM); err == nil {
			info.NotAfter = cs[0].NotAfter.UTC()
			if info.Fingerprint == "" && key.IsZero() {
				info.Fingerprint = PublicKeyFingerprint(cs[0].PublicKey)
			}
		}
	}
	return info
}

// checkKeyPair validates a private key field and its certificate field:
// each parses, and the certificate belongs to the key. A reference is
// checked where it is read.
func checkKeyPair(v *ValidationError, keyField string, key Secret, certField, certPEM string) {
	var signer crypto.Signer
	if !key.IsZero() {
		_, _, isRef, badRef := ParseSecretRef(key.Reveal())
		switch {
		case isRef && badRef != "":
			v.add(keyField, "%s", badRef)
		case !isRef:
			k, err := ParsePrivateKey(key.Reveal())
			if err != nil {
				v.add(keyField, "%v", err)
			}
			signer = k
		}
	}
	if certPEM == "" {
		return
	}
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		v.add(certField, "%v", err)
		return
	}
	if signer != nil && !samePublicKey(certs[0], signer) {
		v.add(certField, "does not belong to %s: their public keys differ", strings.TrimPrefix(keyField, "auth."))
	}
}

// CheckCertificates returns the problems of a's certificates at now: a
// certificate that has expired, or is not valid yet, would be refused by
// every server. It is separate from Validate because it depends on the
// time (the engine calls it with its clock).
func (a *OAuth2) CheckCertificates(now time.Time) []FieldError {
	var out []FieldError
	for _, c := range []struct{ field, pem string }{
		{"auth.clientCertificate", a.ClientCertificate},
		{"auth.upstreamClientCertificate", a.UpstreamClientCertificate},
	} {
		if c.pem == "" {
			continue
		}
		certs, err := ParseCertificates(c.pem)
		if err != nil {
			continue // Validate reports it
		}
		switch leaf := certs[0]; {
		case now.After(leaf.NotAfter):
			out = append(out, FieldError{Field: c.field, Message: "has expired (not after " + leaf.NotAfter.UTC().Format(time.RFC3339) + ")"})
		case now.Before(leaf.NotBefore):
			out = append(out, FieldError{Field: c.field, Message: "is not valid yet (not before " + leaf.NotBefore.UTC().Format(time.RFC3339) + ")"})
		}
	}
	return out
}

// keyAuthenticates reports whether the client can authenticate with key
// material instead of a secret: private_key_jwt or tls_client_auth chosen,
// or auto with a private key to choose them with.
func (a *OAuth2) keyAuthenticates() bool {
	switch a.ClientAuthentication {
	case ClientAuthPrivateKeyJWT, ClientAuthTLS, ClientAuthAuto:
		return a.HasSigningKey()
	}
	return false
}

// validateUpstream checks the certificate and key presented to the
// datasource's own URL (mutual TLS), which every auth type may have.
func (a *OAuth2) validateUpstream(v *ValidationError) {
	checkKeyPair(v, "auth.upstreamPrivateKey", a.UpstreamPrivateKey, "auth.upstreamClientCertificate", a.UpstreamClientCertificate)
	switch {
	case a.UpstreamClientCertificate != "" && a.UpstreamPrivateKey.IsZero():
		v.add("auth.upstreamPrivateKey", "is required with upstreamClientCertificate")
	case a.UpstreamClientCertificate == "" && !a.UpstreamPrivateKey.IsZero():
		v.add("auth.upstreamClientCertificate", "is required with upstreamPrivateKey")
	}
}

// validateKeys checks the key material fields and the combinations that
// need them.
func (a *OAuth2) validateKeys(v *ValidationError) {
	// The key that signs: privateKey, else the service account's.
	switch {
	case !a.PrivateKey.IsZero():
		checkKeyPair(v, "auth.privateKey", a.PrivateKey, "auth.clientCertificate", a.ClientCertificate)
	case !a.ServiceAccountJSON.IsZero():
		// The file's own problems are reported below, once.
		key := a.SigningKey()
		if _, err := ParsePrivateKey(key.Reveal()); err != nil {
			key = Secret{}
		}
		checkKeyPair(v, "auth.serviceAccountJson", key, "auth.clientCertificate", a.ClientCertificate)
	case a.ClientCertificate != "":
		if _, err := ParseCertificates(a.ClientCertificate); err != nil {
			v.add("auth.clientCertificate", "%v", err)
		} else {
			v.add("auth.privateKey", "is required with clientCertificate (the certificate's private key)")
		}
	}
	if sa := a.ServiceAccountJSON; !sa.IsZero() {
		_, _, isRef, badRef := ParseSecretRef(sa.Reveal())
		switch {
		case isRef && badRef != "":
			v.add("auth.serviceAccountJson", "%s", badRef)
		case !isRef:
			if _, err := ParseServiceAccount(sa.Reveal()); err != nil {
				v.add("auth.serviceAccountJson", "%v", err)
			}
		}
	}
	a.validateUpstream(v)

	for _, f := range []struct {
		name string
		c    ClientAuth
	}{{"auth.clientAuthentication", a.ClientAuthentication}, {"auth.refreshClientAuthentication", a.RefreshClientAuthentication}} {
		switch f.c {
		case ClientAuthPrivateKeyJWT:
			if !a.HasSigningKey() {
				v.add("auth.privateKey", "is required for %s private_key_jwt", strings.TrimPrefix(f.name, "auth."))
			}
		case ClientAuthTLS:
			if a.ClientCertificate == "" {
				v.add("auth.clientCertificate", "is required for %s tls_client_auth", strings.TrimPrefix(f.name, "auth."))
			}
			if !a.HasSigningKey() {
				v.add("auth.privateKey", "is required for %s tls_client_auth", strings.TrimPrefix(f.name, "auth."))
			}
		}
	}
	if a.GrantType == JWTBearer && !a.HasSigningKey() {
		v.add("auth.privateKey", "is required for jwt_bearer (or give serviceAccountJson)")
	}
	for _, f := range []struct{ name, val string }{{"auth.keyId", a.KeyID}, {"auth.subject", a.Subject}} {
		if len(f.val) > maxValueLen || hasControl(f.val) {
			v.add(f.name, "must be at most %d printable characters", maxValueLen)
		}
	}
	for _, f := range []struct{ name, val string }{{"auth.subjectTokenType", a.SubjectTokenType}, {"auth.requestedTokenType", a.RequestedTokenType}} {
		if f.val != "" && (len(f.val) > maxHeaderValue || hasControl(f.val) || strings.ContainsAny(f.val, " \\") || !strings.Contains(f.val, ":")) {
			v.add(f.name, "must be a token type URI such as %s", TokenTypeAccessToken)
		}
	}
}
