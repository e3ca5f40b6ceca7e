package grantstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// KeyPair is a private key with a self-signed certificate, for
// private_key_jwt, jwt_bearer and mutual TLS tests.
type KeyPair struct {
	Signer  crypto.Signer
	KeyPEM  string // PKCS #8
	Cert    *x509.Certificate
	CertPEM string
}

// KeyOptions configure NewKeyPair.
type KeyOptions struct {
	// Type is "rsa" (2048 bits, default), "ec" (P-256), "ec384" or
	// "ed25519" (both unsupported by grantd), or "rsa1024" (too short).
	Type string
	// NotBefore and NotAfter bound the certificate; default an hour ago
	// to a day ahead.
	NotBefore, NotAfter time.Time
	// CommonName of the certificate; default "grantd test client".
	CommonName string
	// Issuer signs the certificate instead of the key itself.
	Issuer *KeyPair
	// CA makes the certificate a CA.
	CA bool
}

// NewKeyPair makes a key and its certificate.
func NewKeyPair(tb testing.TB, o KeyOptions) *KeyPair {
	tb.Helper()
	var key crypto.Signer
	var err error
	switch o.Type {
	case "", "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	case "ec":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ec384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("grantstest: unknown key type %q", o.Type)
	}
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if o.CommonName == "" {
		o.CommonName = "grantd test client"
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.CommonName},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  nil,
	}
	if o.CA {
		tpl.IsCA, tpl.BasicConstraintsValid = true, true
		tpl.KeyUsage |= x509.KeyUsageCertSign
	}
	parent, signer := tpl, key
	if o.Issuer != nil {
		parent, signer = o.Issuer.Cert, o.Issuer.Signer
	}
	cder, err := x509.CreateCertificate(rand.Reader, tpl, parent, key.Public(), signer)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(cder)
	return &KeyPair{
		Signer:  key,
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Cert:    cert,
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder})),
	}
}

// ServiceAccountJSON returns a Google-style service-account key file for
// k, with token_uri tokenURL.
func (k *KeyPair) ServiceAccountJSON(email, keyID, tokenURL string) string {
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  "grantd-test",
		"private_key_id":              keyID,
		"private_key":                 k.KeyPEM,
		"client_email":                email,
		"client_id":                   "112233445566778899",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURL,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}, "", "  ")
	return string(b)
}
