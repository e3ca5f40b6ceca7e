package grants

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grantd/grantd/datasource"
)

// Metadata is what grantd uses of a provider's authorization server
// metadata (RFC 8414) or OpenID Connect discovery document.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	// TokenEndpointAuthSigningAlgValuesSupported lists the algorithms the
	// provider takes for private_key_jwt assertions.
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
}

// authMethod returns the client authentication the metadata prefers:
// basic when client_secret_basic is listed (or nothing is, the RFC 8414
// default), body when only client_secret_post is. ok is false without
// metadata.
func (m *Metadata) authMethod() (style string, ok bool) {
	if m == nil {
		return "", false
	}
	methods := m.TokenEndpointAuthMethodsSupported
	switch {
	case len(methods) == 0, slices.Contains(methods, "client_secret_basic"):
		return "basic", true
	case slices.Contains(methods, "client_secret_post"):
		return "body", true
	}
	return "", false
}

// keyMethod returns the key-based client authentication the metadata
// lists that the datasource has the material for: private_key_jwt with a
// private key, else tls_client_auth (or RFC 8705's
// self_signed_tls_client_auth, the same on the client's side) with a
// certificate and its key. ok is false when there is none.
func (m *Metadata) keyMethod(a *datasource.OAuth2) (datasource.ClientAuth, bool) {
	if m == nil || !a.HasSigningKey() {
		return "", false
	}
	methods := m.TokenEndpointAuthMethodsSupported
	switch {
	case slices.Contains(methods, "private_key_jwt"):
		return datasource.ClientAuthPrivateKeyJWT, true
	case a.ClientCertificate != "" && (slices.Contains(methods, "tls_client_auth") || slices.Contains(methods, "self_signed_tls_client_auth")):
		return datasource.ClientAuthTLS, true
	}
	return "", false
}

// discovery finds and caches provider metadata for token URLs.
type discovery struct {
	clock Clock

	mu sync.Mutex            // guards m
	m  map[string]discovered // by token URL
}

type discovered struct {
	md      *Metadata // nil: none found
	expires time.Time
}

const (
	metadataTTL        = time.Hour
	metadataMissingTTL = 10 * time.Minute
	maxMetadataSize    = 256 << 10
)

// lookup returns the metadata whose token_endpoint is tokenURL, or nil when
// the provider publishes none where it can be found from the token URL.
// Results, found or not, are cached.
func (d *discovery) lookup(ctx context.Context, hc *http.Client, tokenURL string) *Metadata {
	now := d.clock.Now()
	d.mu.Lock()
	if e, ok := d.m[tokenURL]; ok && now.Before(e.expires) {
		d.mu.Unlock()
		return e.md
	}
	d.mu.Unlock()

	var found *Metadata
	for _, u := range metadataURLs(tokenURL) {
		md, err := fetchMetadata(ctx, hc, u)
		if err != nil || md == nil || !sameEndpoint(md.TokenEndpoint, tokenURL) {
			continue
		}
		found = md
		break
	}
	ttl := metadataTTL
	if found == nil {
		ttl = metadataMissingTTL
	}
	d.mu.Lock()
	if d.m == nil {
		d.m = map[string]discovered{}
	}
	d.m[tokenURL] = discovered{md: found, expires: now.Add(ttl)}
	d.mu.Unlock()
	return found
}

// metadataURLs lists where metadata for tokenURL may live: for each prefix
// of the token URL's path (longest first, the issuer is usually a prefix),
// the RFC 8414 form (well-known inserted after the host) and the OIDC form
// (well-known appended). At most three prefixes are tried.
func metadataURLs(tokenURL string) []string {
	u, err := url.Parse(tokenURL)
	if err != nil || u.Host == "" {
		return nil
	}
	origin := u.Scheme + "://" + u.Host
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) > 0 {
		segs = segs[:len(segs)-1] // drop the endpoint itself
	}
	var out []string
	for i, n := len(segs), 0; i >= 0 && n < 3; i, n = i-1, n+1 {
		p := strings.Join(segs[:i], "/")
		if p != "" {
			p = "/" + p
		}
		out = append(out,
			origin+"/.well-known/oauth-authorization-server"+p,
			origin+p+"/.well-known/openid-configuration")
	}
	// Also try the root if the loop stopped before it.
	if len(segs) >= 3 {
		out = append(out, origin+"/.well-known/oauth-authorization-server", origin+"/.well-known/openid-configuration")
	}
	return slices.Compact(out)
}

func fetchMetadata(ctx context.Context, hc *http.Client, u string) (*Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, nil
	}
	var md Metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataSize)).Decode(&md); err != nil {
		return nil, nil
	}
	return &md, nil
}

func sameEndpoint(a, b string) bool {
	return a != "" && strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}
