package grants

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/outbound"
)

// Mutual TLS at the token endpoint (RFC 8705 tls_client_auth): the
// token-endpoint client of a datasource with a client certificate and its
// key presents them whenever the server asks. Such clients are kept per
// datasource, apart from the shared ones per CA bundle, so no datasource
// presents another's certificate; a datasource whose material changes
// gets a new client and the old one is dropped.

// tlsClientMaterial is what a token-endpoint client with a certificate is
// made of.
type tlsClientMaterial struct {
	ca, cert, key string
}

// tlsClients are the token-endpoint clients that present a client
// certificate, one per datasource. The zero value is ready to use; it is
// safe for concurrent use.
type tlsClients struct {
	mu sync.Mutex // guards m
	m  map[string]tlsClient
}

type tlsClient struct {
	material tlsClientMaterial
	hc       *http.Client
}

// clientMaterial returns the certificate and key of d (resolved) that its
// token-endpoint client presents; ok is false when d has none.
func clientMaterial(d *datasource.Datasource) (tlsClientMaterial, bool) {
	key := d.Auth.SigningKey()
	if d.Auth.ClientCertificate == "" || key.IsZero() || key.IsRef() {
		return tlsClientMaterial{}, false
	}
	return tlsClientMaterial{ca: d.Auth.TLSCACert, cert: d.Auth.ClientCertificate, key: key.Reveal()}, true
}

// get returns the client of datasource id for m, making it when it is
// new or the material changed.
func (t *tlsClients) get(id string, m tlsClientMaterial, make func(*tls.Certificate) (*http.Client, error)) (*http.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.m[id]; ok && c.material == m {
		return c.hc, nil
	}
	cert, err := outbound.ClientCertificate(m.cert, m.key)
	if err != nil {
		return nil, fmt.Errorf("grants: clientCertificate and privateKey: %w", err)
	}
	hc, err := make(cert)
	if err != nil {
		return nil, err
	}
	if old, ok := t.m[id]; ok {
		old.hc.CloseIdleConnections()
	}
	if t.m == nil {
		t.m = map[string]tlsClient{}
	}
	t.m[id] = tlsClient{material: m, hc: hc}
	return hc, nil
}

// forget drops the client of a deleted datasource.
func (t *tlsClients) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.m[id]; ok {
		c.hc.CloseIdleConnections()
		delete(t.m, id)
	}
}

// certClient returns the token-endpoint client of d (resolved) that
// presents its client certificate, or ok false when d has none.
func (e *Engine) certClient(d *datasource.Datasource) (hc *http.Client, ok bool, err error) {
	m, ok := clientMaterial(d)
	if !ok {
		return nil, false, nil
	}
	hc, err = e.mtls.get(d.ID, m, func(cert *tls.Certificate) (*http.Client, error) {
		t, err := outbound.NewTransport(outbound.TransportOptions{Dialer: e.opts.Dialer, CACert: m.ca, ClientCertificate: cert})
		if err != nil {
			return nil, err
		}
		return &http.Client{
			Transport:     t,
			Timeout:       e.opts.TokenTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}, nil
	})
	return hc, true, err
}

// UpstreamCertificate returns the client certificate the target presents
// to its datasource's URL (upstreamClientCertificate with
// upstreamPrivateKey, the key resolved when it is a reference), or nil
// when it has none. Errors: the key's reference does not resolve, or the
// pair does not match.
func (t Target) UpstreamCertificate(ctx context.Context) (*tls.Certificate, error) {
	a := &t.ds.Auth
	if a.UpstreamClientCertificate == "" || a.UpstreamPrivateKey.IsZero() {
		return nil, nil
	}
	d, err := t.e.withSecret(ctx, t.ds)
	if err != nil {
		return nil, err
	}
	return outbound.ClientCertificate(d.Auth.UpstreamClientCertificate, d.Auth.UpstreamPrivateKey.Reveal())
}
