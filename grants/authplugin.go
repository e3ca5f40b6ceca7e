package grants

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/grantd/grantd/datasource"
)

// Scheme authenticates calls for one auth type other than OAuth 2.0
// (datasource.AuthType): an API key, HTTP Basic, a bearer token, AWS
// Signature Version 4, or nothing. Implementations register themselves
// with RegisterScheme in an init function, one file per type, so a new
// type is one file here and one constant (with its fields) in package
// datasource — as grants are.
//
// A Scheme has no lifecycle: its credential does not expire and is not
// refreshed, so the engine's token machinery (a first token, background
// refresh, backoff, revocation at a provider) leaves such datasources
// alone. Target.Send calls the Scheme where an OAuth 2.0 datasource places
// its token.
type Scheme interface {
	// Type is the auth type, the registry key.
	Type() datasource.AuthType
	// Prepare returns what authorizes requests with credential c under
	// configuration a (references already resolved). It is called once per
	// credential; the Authorizer is kept and used by concurrent callers.
	// An error says what is wrong with c without quoting it.
	Prepare(a *datasource.OAuth2, c *datasource.Credential) (Authorizer, error)
}

// Authorizer puts one credential on outgoing requests. Safe for
// concurrent use.
type Authorizer interface {
	// Authorize authenticates req, replacing what an earlier Authorize put
	// on it (a retry authorizes again). now is the signing time of
	// schemes that sign. Errors: ErrNotSignable, ErrBodyNotSignable.
	Authorize(req Request, now time.Time) error
}

// SignableRequest is a Request whose whole head and body can be read, so
// that a signature can cover them (AWS SigV4). The library's Client and
// the server's proxy both give one; a caller's own Request that is not
// one can use every auth type but awsSigV4.
type SignableRequest interface {
	Request
	// Method returns the request method.
	Method() string
	// Target returns where the request goes: the scheme, the Host header
	// as sent, and the path exactly as it goes on the wire (escaped).
	Target() (scheme, host, escapedPath string)
	// Header returns a copy of the headers that go upstream, but Host,
	// Content-Length and the hop-by-hop ones.
	Header() http.Header
	// DelHeader removes every value of the header name.
	DelHeader(name string)
	// ContentLength returns the body's length, or -1 (or 0 without a
	// body) when it is sent chunked.
	ContentLength() int64
	// BodySHA256 returns the lower-case hex SHA-256 of the body and true,
	// or false when the body streams and cannot be read ahead of sending.
	BodySHA256() (string, bool)
}

// Errors of Authorizers. Check with errors.Is.
var (
	// ErrNotSignable is returned when a scheme that signs is given a
	// Request that is not a SignableRequest.
	ErrNotSignable = errors.New("grants: this request cannot be signed (it does not expose its head and body)")
	// ErrBodyNotSignable is returned by awsSigV4 for a body that streams
	// (larger than the proxy buffers) to a service other than S3: its
	// signature needs the body's hash before the first byte is sent, and
	// only S3 accepts UNSIGNED-PAYLOAD.
	ErrBodyNotSignable = errors.New("grants: the body is too large to sign: an AWS SigV4 signature covers the body's SHA-256, and only service s3 accepts an unsigned payload")
	// ErrNoTokens is returned for a token operation (token endpoint,
	// revocation of a shared datasource's tokens, authorization) on a
	// datasource whose auth type has no tokens.
	ErrNoTokens = errors.New("grants: this datasource's auth type has no OAuth tokens")
)

// CredentialError says why a datasource's credential could not be had: a
// reference that does not resolve, or a credential its scheme refuses.
// Reason names the field and the reference, never a value.
type CredentialError struct {
	Reason string
	err    error
}

func (e *CredentialError) Error() string { return "grants: credential unavailable: " + e.Reason }

// Unwrap returns the cause.
func (e *CredentialError) Unwrap() error { return e.err }

var (
	schemesMu sync.RWMutex
	schemes   = map[datasource.AuthType]Scheme{}
)

// RegisterScheme makes s available for its auth type. It panics if the
// type is registered twice, or is OAuth 2.0 (whose grants are Grants).
func RegisterScheme(s Scheme) {
	schemesMu.Lock()
	defer schemesMu.Unlock()
	if s.Type() == datasource.AuthOAuth2 {
		panic("grants: OAuth 2.0 is not a Scheme: register a Grant")
	}
	if _, dup := schemes[s.Type()]; dup {
		panic(fmt.Sprintf("grants: scheme %s registered twice", s.Type()))
	}
	schemes[s.Type()] = s
}

// LookupScheme returns the Scheme for t, or an error wrapping
// ErrUnknownGrant.
func LookupScheme(t datasource.AuthType) (Scheme, error) {
	schemesMu.RLock()
	defer schemesMu.RUnlock()
	s, ok := schemes[t]
	if !ok {
		return nil, fmt.Errorf("%w: no scheme for auth type %q", ErrUnknownGrant, t)
	}
	return s, nil
}
