package mcp

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/outbound"
)

// upstreams keeps the transports call_datasource sends with: one per CA
// bundle, shared, and one per datasource with an upstream client
// certificate (keyed by a digest of the pair, so a replaced pair gets new
// connections and no datasource presents another's certificate), as the
// proxy does. Every one dials through the guard. Safe for concurrent use.
type upstreams struct {
	dialer  *outbound.Dialer
	timeout time.Duration

	mu sync.Mutex                      // guards m
	m  map[upstreamKey]*http.Transport // by CA and client certificate
}

type upstreamKey struct {
	caPEM      string
	datasource string   // set for a datasource with a client certificate
	material   [32]byte // SHA-256 of its certificate and key
}

func newUpstreams(d *outbound.Dialer, timeout time.Duration) *upstreams {
	return &upstreams{dialer: d, timeout: timeout, m: map[upstreamKey]*http.Transport{}}
}

// transport returns the transport for calls to t's datasource.
// Errors: the CA bundle does not parse; the client certificate's key
// reference does not resolve or the pair does not match (the message
// names the reference, never a value).
func (u *upstreams) transport(ctx context.Context, t grants.Target) (*http.Transport, error) {
	a := &t.Datasource().Auth
	key := upstreamKey{caPEM: a.TLSCACert}
	mtls := a.UpstreamClientCertificate != "" && !a.UpstreamPrivateKey.IsZero()
	if mtls {
		key.datasource = t.Datasource().ID
		key.material = sha256.Sum256([]byte(a.UpstreamClientCertificate + "\x00" + a.UpstreamPrivateKey.Reveal()))
	}
	u.mu.Lock()
	tr, ok := u.m[key]
	u.mu.Unlock()
	if ok {
		return tr, nil
	}
	opts := outbound.TransportOptions{Dialer: u.dialer, CACert: a.TLSCACert, ResponseHeaderTimeout: u.timeout}
	if mtls {
		cert, err := t.UpstreamCertificate(ctx)
		if err != nil {
			return nil, err
		}
		opts.ClientCertificate = cert
	}
	tr, err := outbound.NewTransport(opts)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if have, ok := u.m[key]; ok {
		tr.CloseIdleConnections()
		return have, nil
	}
	if mtls {
		for k, old := range u.m { // the datasource's previous pair
			if k.datasource == key.datasource {
				old.CloseIdleConnections()
				delete(u.m, k)
			}
		}
	}
	u.m[key] = tr
	return tr, nil
}
