package api

import (
	"context"
	"crypto/sha256"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/outbound"
)

// subjectTokenHeader carries the caller's own token to a token_exchange
// datasource (RFC 8693): the proxy and the token endpoint read it, it is
// never forwarded upstream (no Grantd-* header is) nor logged.
const subjectTokenHeader = "Grantd-Subject-Token"

// withSubjectToken returns t carrying the request's subject token, if
// it has one. A token_exchange datasource without one answers 400 (the
// engine's grants.ErrSubjectTokenRequired).
func withSubjectToken(c *fiber.Ctx, t grants.Target) grants.Target {
	if v := strings.TrimSpace(c.Get(subjectTokenHeader)); v != "" {
		return t.WithSubjectToken(strings.TrimPrefix(v, "Bearer "))
	}
	return t
}

// clientFor returns the proxy's clients for target t. A datasource with
// an upstream client certificate gets clients of its own (keyed by its id
// and a digest of its certificate and key, so a replaced pair gets new
// connections and no datasource presents another's certificate); the
// others share clients by CA and scheme.
func (p *proxy) clientFor(ctx context.Context, t grants.Target, tlsOn bool) (*proxyClients, error) {
	d := t.Datasource()
	a := &d.Auth
	if !tlsOn || a.UpstreamClientCertificate == "" || a.UpstreamPrivateKey.IsZero() {
		return p.client(a.TLSCACert, tlsOn)
	}
	key := clientKey{caPEM: a.TLSCACert, tls: true, datasource: d.ID,
		material: sha256.Sum256([]byte(a.UpstreamClientCertificate + "\x00" + a.UpstreamPrivateKey.Reveal()))}
	p.mu.Lock()
	c, ok := p.clients[key]
	p.mu.Unlock()
	if ok {
		return c, nil
	}
	cert, err := t.UpstreamCertificate(ctx)
	if err != nil {
		// A reference that does not resolve, or a pair that does not
		// match: the message names the reference, never a value.
		return nil, probUpstream.with("the upstream client certificate cannot be used: " + err.Error())
	}
	tlsConf, err := outbound.TLSConfig(a.TLSCACert)
	if err != nil {
		return nil, err
	}
	c = p.newClients(outbound.WithClientCertificate(tlsConf, cert), true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if have, ok := p.clients[key]; ok {
		return have, nil
	}
	for k, old := range p.clients { // the datasource's previous pair
		if k.datasource == d.ID {
			old.pooled.CloseIdleConnections()
			old.fresh.CloseIdleConnections()
			delete(p.clients, k)
		}
	}
	p.clients[key] = c
	return c, nil
}
