package grantstest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// ExchangeProvider is a real OpenID provider (zitadel/oidc's op, on its
// example storage) that does RFC 8693 token exchange on loopback. The
// subject tokens it takes are JWTs of a separate single-sign-on issuer
// (MintSubjectToken), as an enterprise app's users bring them; the tokens
// it issues are its own, which its /api/ resource checks at its userinfo
// endpoint.
type ExchangeProvider struct {
	URL    string
	Server *httptest.Server

	sso *rsa.PrivateKey

	mu        sync.Mutex // guards exchanges and forms
	exchanges int
	forms     []map[string]string
}

// ExchangeUser is the user whose SSO token MintSubjectToken makes by
// default: the example storage's administrator, whom it lets exchange.
const ExchangeUser = "id1"

// Exchange client credentials registered at an ExchangeProvider.
const (
	ExchangeClientID     = "grantd-exchange"
	ExchangeClientSecret = "exchange-client-secret-7f6e5d"
)

// NewExchangeProvider starts an ExchangeProvider; it stops when the test
// ends.
func NewExchangeProvider(tb testing.TB) *ExchangeProvider {
	tb.Helper()
	sso, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	p := &ExchangeProvider{sso: sso}
	mux := http.NewServeMux()
	p.Server = httptest.NewServer(mux)
	tb.Cleanup(p.Server.Close)
	p.URL = p.Server.URL

	clients := map[string]*storage.Client{ExchangeClientID: storage.WebClient(ExchangeClientID, ExchangeClientSecret)}
	st := &ssoStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(p.URL), clients), sso: &sso.PublicKey}
	var key [32]byte
	rand.Read(key[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:          key,
		AuthMethodPost:     true,
		SupportedUILocales: []language.Tag{language.English},
	}, st, op.StaticIssuer(p.URL), op.WithAllowInsecure())
	if err != nil {
		tb.Fatal(err)
	}
	mux.Handle("/oauth/token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("grant_type") == string(oidc.GrantTypeTokenExchange) {
			form := map[string]string{}
			for k := range r.PostForm {
				form[k] = r.PostForm.Get(k)
			}
			form["subject_token"] = "[present]"
			p.mu.Lock()
			p.exchanges++
			p.forms = append(p.forms, form)
			p.mu.Unlock()
		}
		provider.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/api/", p.api)
	mux.Handle("/", provider)
	return p
}

// TokenURL is the provider's token endpoint.
func (p *ExchangeProvider) TokenURL() string { return p.URL + "/oauth/token" }

// Exchanges returns how many token exchanges were asked for.
func (p *ExchangeProvider) Exchanges() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exchanges
}

// Forms returns the forms of the token exchanges, the subject token
// replaced by "[present]".
func (p *ExchangeProvider) Forms() []map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]string(nil), p.forms...)
}

// MintSubjectToken returns an SSO access token (a JWT) for subject that
// expires after ttl.
func (p *ExchangeProvider) MintSubjectToken(tb testing.TB, subject string, ttl time.Duration) string {
	tb.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.sso}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	id := make([]byte, 12)
	rand.Read(id)
	now := time.Now()
	tok, err := josejwt.Signed(sig).Claims(josejwt.Claims{
		Issuer: "https://sso.example", Subject: subject, Audience: josejwt.Audience{"grantd"},
		IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(ttl)), ID: string(id),
	}).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// api answers 200 with the subject of a valid access token of the
// provider, as its userinfo endpoint tells it, and 401 otherwise.
func (p *ExchangeProvider) api(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, p.URL+"/userinfo", nil)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var info struct {
		Sub string `json:"sub"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil || info.Sub == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid access token", http.StatusUnauthorized)
		return
	}
	hdrs := map[string]string{}
	for k := range r.Header {
		hdrs[k] = r.Header.Get(k)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(APIAnswer{Subject: info.Sub, Path: r.URL.Path, Method: r.Method, Headers: hdrs})
}

// ssoStorage is the example storage that also accepts subject tokens of
// the SSO issuer (op.TokenExchangeTokensVerifierStorage).
type ssoStorage struct {
	*storage.Storage
	sso *rsa.PublicKey
}

func (s *ssoStorage) VerifyExchangeSubjectToken(ctx context.Context, token string, tokenType oidc.TokenType) (string, string, map[string]any, error) {
	if tokenType != oidc.AccessTokenType && tokenType != oidc.JWTTokenType {
		return "", "", nil, errors.New("unsupported subject token type")
	}
	t, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", "", nil, err
	}
	var c josejwt.Claims
	if err := t.Claims(s.sso, &c); err != nil {
		return "", "", nil, err
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: "https://sso.example", AnyAudience: josejwt.Audience{"grantd"}, Time: time.Now()}, 0); err != nil {
		return "", "", nil, err
	}
	if !strings.HasPrefix(c.Subject, "id") {
		return "", "", nil, errors.New("unknown user")
	}
	return c.ID, c.Subject, nil, nil
}

func (s *ssoStorage) VerifyExchangeActorToken(ctx context.Context, token string, tokenType oidc.TokenType) (string, string, map[string]any, error) {
	return "", "", nil, errors.New("actor tokens are not accepted")
}
