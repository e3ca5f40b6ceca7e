package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"
)

// TransportOptions configure NewTransport.
type TransportOptions struct {
	Dialer *Dialer
	// CACert is an optional PEM bundle trusted in addition to the system
	// roots.
	CACert string
	// ResponseHeaderTimeout bounds the wait for response headers; default 30s.
	ResponseHeaderTimeout time.Duration
	// ClientCertificate, when set, is presented to servers that ask for
	// one (mutual TLS, RFC 8705). See ClientCertificate.
	ClientCertificate *tls.Certificate
}

// NewTransport returns an http.Transport that dials through the guard and
// trusts CACert in addition to the system roots.
func NewTransport(o TransportOptions) (*http.Transport, error) {
	tlsConf, err := TLSConfig(o.CACert)
	if err != nil {
		return nil, err
	}
	if o.ClientCertificate != nil {
		tlsConf = WithClientCertificate(tlsConf, o.ClientCertificate)
	}
	rht := o.ResponseHeaderTimeout
	if rht == 0 {
		rht = 30 * time.Second
	}
	return &http.Transport{
		DialContext:           o.Dialer.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: rht,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
	}, nil
}

// TLSConfig returns a TLS client configuration trusting the system roots
// plus the certificates in caPEM (none when empty).
func TLSConfig(caPEM string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM == "" {
		return c, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("outbound: tlsCACert holds no usable certificate")
	}
	c.RootCAs = pool
	return c, nil
}

// ClientCertificate returns the TLS certificate of a PEM chain (leaf
// first) and its PEM private key, for mutual TLS. Its errors never quote
// the key.
func ClientCertificate(certPEM, keyPEM string) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, errors.New("outbound: the client certificate and its private key do not make a pair")
	}
	return &c, nil
}

// WithClientCertificate returns a copy of c that presents cert whenever a
// server asks for a client certificate, whatever certificate authorities
// the server says it accepts: a self-signed certificate (RFC 8705
// self_signed_tls_client_auth) is issued by none of them, and the server,
// not the client, is the judge of the chain.
func WithClientCertificate(c *tls.Config, cert *tls.Certificate) *tls.Config {
	c = c.Clone()
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	return c
}
