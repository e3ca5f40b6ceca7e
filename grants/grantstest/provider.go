package grantstest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
)

// ProviderOptions configure NewProvider.
type ProviderOptions struct {
	// AccessTokenLifespan defaults to one hour.
	AccessTokenLifespan time.Duration
	// JWT issues access tokens as signed JWTs (as Cognito and Vectara
	// do) instead of opaque HMAC tokens.
	JWT bool
	// NoMetadata turns off /.well-known/oauth-authorization-server.
	NoMetadata bool
	// AuthMethods is what the metadata advertises as
	// token_endpoint_auth_methods_supported; default both.
	AuthMethods []string
	// OptionalPKCE lets clients skip PKCE (by default the server requires
	// S256 from every client).
	OptionalPKCE bool
	// TLS serves HTTPS with a certificate of httptest's own CA; see
	// CACertPEM.
	TLS bool
	// TokenHandler wraps the token endpoint, to inject faults.
	TokenHandler func(next http.Handler) http.Handler
	// SigningAlgs is what the metadata advertises as
	// token_endpoint_auth_signing_alg_values_supported; default none.
	SigningAlgs []string
	// RequireClientCert serves HTTPS (like TLS) on a server that refuses
	// a handshake without a client certificate, as a bank's mutual-TLS
	// endpoint does. Clients registered with a TLSCertificate are
	// authenticated by the certificate they present (RFC 8705
	// self_signed_tls_client_auth).
	RequireClientCert bool
}

// Provider is a real OAuth 2.0 authorization server (ory/fosite) on
// loopback, with a login page, token, revocation and metadata endpoints,
// and a small resource API that checks access tokens by introspection.
type Provider struct {
	// URL is the issuer, e.g. http://127.0.0.1:34567.
	URL    string
	Server *httptest.Server
	OAuth2 fosite.OAuth2Provider
	Store  *storage.MemoryStore
	opts   ProviderOptions

	mu         sync.Mutex // guards counts, events and tlsClients
	counts     map[string]int
	events     []TokenEvent
	tlsClients map[string]*x509.Certificate // by client id

	// fositeMu serialises every call into fosite: its MemoryStore writes
	// the refresh-token map under the wrong mutex when it rotates or
	// revokes (RevokeRefreshToken), which the race detector reports when
	// two clients refresh at once.
	fositeMu sync.Mutex
}

// TokenEvent is one token request the provider answered.
type TokenEvent struct {
	GrantType string
	ClientID  string
	// AuthMethod is how the client authenticated: "basic", "body",
	// "private_key_jwt", "tls" (a client certificate) or "none".
	AuthMethod string
	// Assertion is the client assertion or jwt-bearer assertion sent,
	// for checking its header and claims.
	Assertion string
	Status    int
	Form      map[string]string // the form, secrets removed
}

// Client is a registered OAuth 2.0 client.
type Client struct {
	ID, Secret string
	// AuthMethod is client_secret_basic (default), client_secret_post or
	// none (public client).
	AuthMethod   string
	GrantTypes   []string // default all
	Scopes       []string
	Audience     []string
	RedirectURIs []string
	// AccessTokenLifespan overrides the provider's for this client (its
	// auth method is then not enforced).
	AccessTokenLifespan time.Duration
	// Keys are the public keys of a private_key_jwt client (AuthMethod
	// "private_key_jwt"), each under its kid.
	Keys map[string]any
	// SigningAlg is the algorithm a private_key_jwt client must use;
	// default RS256.
	SigningAlg string
	// TLSCertificate authenticates the client by the certificate it
	// presents in the TLS handshake (AuthMethod "tls_client_auth").
	TLSCertificate *x509.Certificate
}

// The user that can log in at the provider (the first of Users).
const (
	Username = "alice"
	Password = "wonderland"
)

// Users are the accounts that can log in at the provider, user → password:
// per-user tests log different end users in as different accounts, and
// the resource API answers with the account a token belongs to.
var Users = map[string]string{Username: Password, "bob": "builder", "carol": "singer"}

// NewProvider starts a provider; it stops when the test ends.
func NewProvider(tb testing.TB, opts ProviderOptions) *Provider {
	tb.Helper()
	if opts.AccessTokenLifespan == 0 {
		opts.AccessTokenLifespan = time.Hour
	}
	if opts.AuthMethods == nil {
		opts.AuthMethods = []string{"client_secret_basic", "client_secret_post"}
	}
	p := &Provider{opts: opts, counts: map[string]int{}, tlsClients: map[string]*x509.Certificate{}}
	mux := http.NewServeMux()
	if opts.RequireClientCert {
		p.Server = httptest.NewUnstartedServer(mux)
		p.Server.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
		p.Server.StartTLS()
	} else if opts.TLS {
		p.Server = httptest.NewTLSServer(mux)
	} else {
		p.Server = httptest.NewServer(mux)
	}
	tb.Cleanup(p.Server.Close)
	p.URL = p.Server.URL

	secret := make([]byte, 32)
	rand.Read(secret)
	config := &fosite.Config{
		AccessTokenLifespan:   opts.AccessTokenLifespan,
		RefreshTokenLifespan:  30 * 24 * time.Hour,
		AuthorizeCodeLifespan: 10 * time.Minute,
		GlobalSecret:          secret,
		EnforcePKCE:           !opts.OptionalPKCE,
		RefreshTokenScopes:    []string{}, // every authorization gets a refresh token
		ClientSecretsHasher:   plainHasher{},
		TokenURL:              p.URL + "/oauth2/token",
		AccessTokenIssuer:     p.URL,
		ScopeStrategy:         fosite.ExactScopeStrategy,
		// Google-style jwt-bearer: the assertion is the only credential.
		GrantTypeJWTBearerCanSkipClientAuth: true,
		AudienceMatchingStrategy:            fosite.DefaultAudienceMatchingStrategy,
		SendDebugMessagesToClients:          true,
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	var strategy any = compose.NewOAuth2HMACStrategy(config)
	if opts.JWT {
		strategy = compose.NewOAuth2JWTStrategy(func(context.Context) (any, error) { return key, nil },
			compose.NewOAuth2HMACStrategy(config), config)
	}
	p.Store = storage.NewMemoryStore()
	for u, pw := range Users {
		p.Store.Users[u] = storage.MemoryUserRelation{Username: u, Password: pw}
	}
	p.OAuth2 = compose.Compose(config, p.Store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2PKCEFactory,
		compose.RFC7523AssertionGrantFactory,
	)

	var token http.Handler = http.HandlerFunc(p.token)
	if opts.TokenHandler != nil {
		token = opts.TokenHandler(token)
	}
	mux.Handle("/oauth2/token", token)
	mux.HandleFunc("/oauth2/auth", p.authorize)
	mux.HandleFunc("/oauth2/revoke", p.revoke)
	mux.HandleFunc("/api/", p.api)
	if !opts.NoMetadata {
		mux.HandleFunc("/.well-known/oauth-authorization-server", p.metadata)
	}
	return p
}

// CACertPEM returns the PEM of the certificate a TLS provider serves (it is
// its own CA), for a datasource's tlsCACert.
func (p *Provider) CACertPEM() string {
	c := p.Server.Certificate()
	if c == nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// TokenURL and AuthURL are the provider's endpoints.
func (p *Provider) TokenURL() string { return p.URL + "/oauth2/token" }
func (p *Provider) AuthURL() string  { return p.URL + "/oauth2/auth" }

// AddClient registers c. Call it before c is used; other clients may be
// in use.
func (p *Provider) AddClient(c Client) {
	if c.AuthMethod == "" {
		c.AuthMethod = "client_secret_basic"
	}
	if c.GrantTypes == nil {
		c.GrantTypes = []string{"client_credentials", "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"}
	}
	var jwks *josev3.JSONWebKeySet
	if len(c.Keys) > 0 {
		jwks = &josev3.JSONWebKeySet{}
		for kid, k := range c.Keys {
			jwks.Keys = append(jwks.Keys, josev3.JSONWebKey{Key: k, KeyID: kid, Use: "sig"})
		}
	}
	if c.TLSCertificate != nil {
		// fosite has no tls_client_auth: the token endpoint checks the
		// certificate and then authenticates the client to fosite with
		// its secret, as a TLS-terminating gateway would.
		p.mu.Lock()
		p.tlsClients[c.ID] = c.TLSCertificate
		p.mu.Unlock()
		if c.Secret == "" {
			c.Secret = "tls-" + c.ID
		}
		c.AuthMethod = "client_secret_basic"
	}
	dc := &fosite.DefaultClient{
		ID:            c.ID,
		Secret:        []byte(c.Secret),
		RedirectURIs:  c.RedirectURIs,
		GrantTypes:    c.GrantTypes,
		ResponseTypes: []string{"code"},
		Scopes:        c.Scopes,
		Audience:      c.Audience,
		Public:        c.AuthMethod == "none",
	}
	// Other clients' token requests read the map meanwhile (fosite's own
	// lock for it is unexported).
	p.fositeMu.Lock()
	defer p.fositeMu.Unlock()
	if d := c.AccessTokenLifespan; d > 0 {
		p.Store.Clients[c.ID] = &fosite.DefaultClientWithCustomTokenLifespans{DefaultClient: dc, TokenLifespans: &fosite.ClientLifespanConfig{
			ClientCredentialsGrantAccessTokenLifespan: &d,
			AuthorizationCodeGrantAccessTokenLifespan: &d,
			RefreshTokenGrantAccessTokenLifespan:      &d,
		}}
		return
	}
	p.Store.Clients[c.ID] = &fosite.DefaultOpenIDConnectClient{DefaultClient: dc, TokenEndpointAuthMethod: c.AuthMethod,
		JSONWebKeys: jwks, TokenEndpointAuthSigningAlgorithm: c.SigningAlg}
}

// AddAssertionKey lets key (under kid; "" matches any kid) sign jwt-bearer
// assertions (RFC 7523 §2.1) of issuer about subject, for scopes.
func (p *Provider) AddAssertionKey(issuer, subject, kid string, key crypto.PublicKey, scopes []string) {
	p.fositeMu.Lock()
	defer p.fositeMu.Unlock()
	ik, ok := p.Store.IssuerPublicKeys[issuer]
	if !ok {
		ik = storage.IssuerPublicKeys{Issuer: issuer, KeysBySub: map[string]storage.SubjectPublicKeys{}}
	}
	sk, ok := ik.KeysBySub[subject]
	if !ok {
		sk = storage.SubjectPublicKeys{Subject: subject, Keys: map[string]storage.PublicKeyScopes{}}
	}
	sk.Keys[kid] = storage.PublicKeyScopes{Key: &josev3.JSONWebKey{Key: key, KeyID: kid, Use: "sig"}, Scopes: scopes}
	ik.KeysBySub[subject] = sk
	p.Store.IssuerPublicKeys[issuer] = ik
}

// Count returns how many token requests of grantType were answered
// (successfully or not); "" counts all.
func (p *Provider) Count(grantType string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if grantType == "" {
		n := 0
		for _, c := range p.counts {
			n += c
		}
		return n
	}
	return p.counts[grantType]
}

// Events returns the token requests answered so far.
func (p *Provider) Events() []TokenEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]TokenEvent(nil), p.events...)
}

func newSession(subject string) *oauth2.JWTSession {
	return &oauth2.JWTSession{
		JWTClaims: &jwt.JWTClaims{Subject: subject},
		JWTHeader: &jwt.Headers{},
		Subject:   subject,
	}
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	r.ParseForm()
	ev := TokenEvent{GrantType: r.PostForm.Get("grant_type"), AuthMethod: "none", Form: map[string]string{}}
	ev.Assertion = r.PostForm.Get("client_assertion")
	if ev.Assertion == "" {
		ev.Assertion = r.PostForm.Get("assertion")
	}
	p.mu.Lock()
	tlsCert := p.tlsClients[r.PostForm.Get("client_id")]
	p.mu.Unlock()
	if id, _, ok := r.BasicAuth(); ok {
		ev.AuthMethod, ev.ClientID = "basic", id
	} else if tlsCert != nil {
		ev.AuthMethod, ev.ClientID = "tls", r.PostForm.Get("client_id")
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || !r.TLS.PeerCertificates[0].Equal(tlsCert) {
			rec.Header().Set("Content-Type", "application/json")
			rec.WriteHeader(http.StatusUnauthorized)
			rec.Write([]byte(`{"error":"invalid_client","error_description":"no or the wrong client certificate"}`))
			ev.Status = rec.status
			p.mu.Lock()
			p.counts[ev.GrantType]++
			p.events = append(p.events, ev)
			p.mu.Unlock()
			return
		}
		r.SetBasicAuth(ev.ClientID, string(p.Store.Clients[ev.ClientID].GetHashedSecret()))
	} else if r.PostForm.Get("client_assertion") != "" {
		ev.AuthMethod, ev.ClientID = "private_key_jwt", r.PostForm.Get("client_id")
	} else if r.PostForm.Get("client_secret") != "" {
		ev.AuthMethod, ev.ClientID = "body", r.PostForm.Get("client_id")
	} else {
		ev.ClientID = r.PostForm.Get("client_id")
	}
	for k := range r.PostForm {
		switch k {
		case "client_secret", "code", "refresh_token", "code_verifier", "client_assertion", "assertion":
			ev.Form[k] = "[present]"
		default:
			ev.Form[k] = r.PostForm.Get(k)
		}
	}
	defer func() {
		ev.Status = rec.status
		p.mu.Lock()
		p.counts[ev.GrantType]++
		p.events = append(p.events, ev)
		p.mu.Unlock()
	}()

	p.fositeMu.Lock()
	defer p.fositeMu.Unlock()
	ar, err := p.OAuth2.NewAccessRequest(ctx, r, newSession(""))
	if err != nil {
		p.OAuth2.WriteAccessError(ctx, rec, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("urn:ietf:params:oauth:grant-type:jwt-bearer") {
		// The handler set the assertion's subject as the session's;
		// access tokens (JWTs too) name it.
		s := ar.GetSession().(*oauth2.JWTSession)
		s.JWTClaims.Subject = s.Subject
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
		ar.GetSession().(*oauth2.JWTSession).Subject = ar.GetClient().GetID()
		ar.GetSession().(*oauth2.JWTSession).JWTClaims.Subject = ar.GetClient().GetID()
	}
	resp, err := p.OAuth2.NewAccessResponse(ctx, ar)
	if err != nil {
		p.OAuth2.WriteAccessError(ctx, rec, ar, err)
		return
	}
	p.OAuth2.WriteAccessResponse(ctx, rec, ar, resp)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><title>Test provider — sign in</title></head>
<body>
<h1>Sign in to the test provider</h1>
<p>Client <b id="client">{{.Client}}</b> asks for: <span id="scopes">{{.Scopes}}</span></p>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label>User <input id="username" name="username" autocomplete="off"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="login" name="consent" value="allow" type="submit">Sign in and allow</button>
<button id="deny" name="consent" value="deny" type="submit">Deny</button>
</form>
</body></html>`))

// authorize is the authorization endpoint with a login page: GET shows the
// form, POST with the right user and "allow" issues a code, "deny" sends
// access_denied back to the client.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p.fositeMu.Lock()
	defer p.fositeMu.Unlock()
	ar, err := p.OAuth2.NewAuthorizeRequest(ctx, r)
	if err != nil {
		p.OAuth2.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	page := struct{ Client, Scopes, Action, Error string }{
		Client: ar.GetClient().GetID(),
		Scopes: strings.Join(ar.GetRequestedScopes(), " "),
		Action: r.URL.RequestURI(),
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		loginPage.Execute(w, page)
		return
	}
	if r.PostForm.Get("consent") == "deny" {
		p.OAuth2.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithDescription("The resource owner denied the request"))
		return
	}
	if _, err := p.Store.Authenticate(ctx, r.PostForm.Get("username"), r.PostForm.Get("password")); err != nil {
		page.Error = "Wrong user or password."
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, page)
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	resp, err := p.OAuth2.NewAuthorizeResponse(ctx, ar, newSession(r.PostForm.Get("username")))
	if err != nil {
		p.OAuth2.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	p.OAuth2.WriteAuthorizeResponse(ctx, w, ar, resp)
}

func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p.fositeMu.Lock()
	defer p.fositeMu.Unlock()
	err := p.OAuth2.NewRevocationRequest(ctx, r)
	p.OAuth2.WriteRevocationResponse(ctx, w, err)
}

func (p *Provider) metadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.AuthURL(),
		"token_endpoint":                        p.TokenURL(),
		"revocation_endpoint":                   p.URL + "/oauth2/revoke",
		"token_endpoint_auth_methods_supported": p.opts.AuthMethods,
		"token_endpoint_auth_signing_alg_values_supported": p.opts.SigningAlgs,
		"grant_types_supported":                            []string{"authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"response_types_supported":                         []string{"code"},
	})
}

// APIAnswer is what the resource API returns for a valid token.
type APIAnswer struct {
	Subject  string   `json:"sub"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	// Via is where the token was found: "header" or "query".
	Via    string `json:"via"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"` // the query with the token removed
	Body   string `json:"body"`
	// Headers the upstream received, for proxy tests.
	Headers map[string]string `json:"headers"`
}

// api is a resource server: /api/... answers 200 with who the token
// belongs to when the request carries a valid access token (a Bearer
// header, or an access_token query parameter), 401 otherwise.
func (p *Provider) api(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok, via := "", ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		tok, via = strings.TrimPrefix(h, "Bearer "), "header"
	} else if q := r.URL.Query().Get("access_token"); q != "" {
		tok, via = q, "query"
	}
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request"`)
		http.Error(w, "no access token", http.StatusUnauthorized)
		return
	}
	p.fositeMu.Lock()
	_, ar, err := p.OAuth2.IntrospectToken(ctx, tok, fosite.AccessToken, newSession(""))
	p.fositeMu.Unlock()
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid access token: "+errors.Unwrap(err).Error(), http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	q.Del("access_token")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	hdrs := map[string]string{}
	for k := range r.Header {
		hdrs[k] = r.Header.Get(k)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(APIAnswer{
		Subject:  ar.GetSession().GetSubject(),
		ClientID: ar.GetClient().GetID(),
		Scopes:   ar.GetGrantedScopes(),
		Via:      via,
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    q.Encode(),
		Body:     string(body),
		Headers:  hdrs,
	})
}

// plainHasher compares client secrets in constant time without bcrypt,
// which would make every token request of a race-enabled test slow.
type plainHasher struct{}

func (plainHasher) Compare(_ context.Context, hash, data []byte) error {
	if subtle.ConstantTimeCompare(hash, data) != 1 {
		return errors.New("secret mismatch")
	}
	return nil
}

func (plainHasher) Hash(_ context.Context, data []byte) ([]byte, error) { return data, nil }

// RefreshTokenActive reports whether the provider would accept tok as a
// refresh token, without presenting it (presenting a rotated refresh
// token makes fosite revoke the whole token family, as it should).
func (p *Provider) RefreshTokenActive(tok string) bool {
	p.fositeMu.Lock()
	defer p.fositeMu.Unlock()
	_, _, err := p.OAuth2.IntrospectToken(context.Background(), tok, fosite.RefreshToken, newSession(""))
	return err == nil
}
