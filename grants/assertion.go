package grants

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
)

// JWTs grantd signs: jwt_bearer authorization grants (RFC 7523 §2.1) and
// private_key_jwt client assertions (RFC 7523 §2.2, OpenID Connect Core
// §9). They are built with go-jose, never by hand; each lives
// assertionLifetime and carries a random jti, so a captured one is of use
// to nobody for long, and a server that remembers jtis refuses a replay.

// assertionLifetime is how long an assertion is valid. RFC 7523 leaves it
// to the server; Google caps it at an hour, Entra and Okta at about as
// long. A few minutes cover clock skew and nothing more.
const assertionLifetime = 5 * time.Minute

// clientAuthNone is the internal style of a request that authenticates no
// client: a jwt_bearer grant whose assertion is the only credential, as
// Google's service accounts use it (RFC 7523 §3.1 makes client
// authentication optional there).
const clientAuthNone datasource.ClientAuth = "none"

const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	jwtBearerGrantType  = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// authenticate adds the client's credentials for c.Style to the form
// params, and returns what x/oauth2 needs to send them: the client id,
// the secret (Basic and body only) and where they go. The key-based styles
// send client_id in the body, as RFC 7523 §3 and RFC 8705 §2 ask.
func (c *Call) authenticate(params url.Values) (id, secret string, style oauth2.AuthStyle, err error) {
	a := &c.Datasource.Auth
	switch c.Style {
	case clientAuthNone:
		return "", "", oauth2.AuthStyleInParams, nil
	case datasource.ClientAuthPrivateKeyJWT:
		assertion, err := c.clientAssertion()
		if err != nil {
			return "", "", 0, err
		}
		params.Set("client_assertion_type", clientAssertionType)
		params.Set("client_assertion", assertion)
		return a.ClientID, "", oauth2.AuthStyleInParams, nil
	case datasource.ClientAuthTLS:
		// The credential is the certificate the HTTP client presents.
		return a.ClientID, "", oauth2.AuthStyleInParams, nil
	}
	return a.ClientID, a.ClientSecret.Reveal(), c.AuthStyle(), nil
}

// clientAssertion is a private_key_jwt client assertion: iss and sub are
// the client id, aud the token endpoint.
func (c *Call) clientAssertion() (string, error) {
	a := &c.Datasource.Auth
	return c.sign(a.ClientID, a.ClientID, a.AccessTokenURL, nil)
}

// sign returns a signed JWT with the registered claims grantd sets and
// extra ones (scope, for Google). Errors are *TokenError of kind
// Permanent and Local: the configured key is at fault (a reference that
// resolved to something else than a key), not the provider.
func (c *Call) sign(iss, sub, aud string, extra map[string]any) (string, error) {
	a := &c.Datasource.Auth
	keyPEM := a.SigningKey()
	if keyPEM.IsZero() {
		return "", keyError("no private key is configured")
	}
	key, err := datasource.ParsePrivateKey(keyPEM.Reveal())
	if err != nil {
		return "", keyError("the private key " + err.Error())
	}
	var alg jose.SignatureAlgorithm
	switch key.(type) {
	case *rsa.PrivateKey:
		alg = jose.RS256
		// PS256 only for a provider that says it takes PS256 and not
		// RS256 (FAPI profiles); everyone takes RS256.
		if len(c.signingAlgs) > 0 && !slices.Contains(c.signingAlgs, "RS256") && slices.Contains(c.signingAlgs, "PS256") {
			alg = jose.PS256
		}
	case *ecdsa.PrivateKey:
		alg = jose.ES256
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if a.KeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), a.KeyID)
	}
	if a.ClientCertificate != "" {
		certs, err := datasource.ParseCertificates(a.ClientCertificate)
		if err != nil {
			return "", keyError("the client certificate " + err.Error())
		}
		// x5t#S256 (RFC 7515 §4.1.8) names the certificate; Microsoft
		// Entra reads the SHA-1 x5t instead, so both go.
		s256 := sha256.Sum256(certs[0].Raw)
		s1 := sha1.Sum(certs[0].Raw)
		opts = opts.WithHeader(jose.HeaderKey("x5t#S256"), base64.RawURLEncoding.EncodeToString(s256[:])).
			WithHeader(jose.HeaderKey("x5t"), base64.RawURLEncoding.EncodeToString(s1[:]))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", keyError("the private key cannot sign: " + err.Error())
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := jwt.Claims{
		Issuer:   iss,
		Subject:  sub,
		Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(t),
		// nbf a little in the past: a server whose clock is behind ours
		// must not see an assertion from its future.
		NotBefore: jwt.NewNumericDate(t.Add(-30 * time.Second)),
		Expiry:    jwt.NewNumericDate(t.Add(assertionLifetime)),
		ID:        base64.RawURLEncoding.EncodeToString(jti),
	}
	b := jwt.Signed(signer).Claims(claims)
	if len(extra) > 0 {
		b = b.Claims(extra)
	}
	out, err := b.Serialize()
	if err != nil {
		return "", keyError(fmt.Sprintf("signing failed: %v", err))
	}
	return out, nil
}

func keyError(reason string) *TokenError {
	return &TokenError{Kind: Permanent, Local: true, Reason: reason, err: errors.New(reason)}
}
