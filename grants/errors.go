package grants

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/outbound"
)

// Errors returned by the engine. Check with errors.Is.
var (
	// ErrNotAuthorized is returned when a datasource has no usable grant:
	// never authorized, needs re-authorization, or the provider rejects the
	// client. The API answers 424.
	ErrNotAuthorized = errors.New("grants: datasource is not authorized")
	// ErrInteractionRequired is returned by a Grant's Token when the grant
	// needs a person (authorization code).
	ErrInteractionRequired = errors.New("grants: this grant needs a person to authorize in a browser")
	// ErrNotInteractive is returned when an authorize redirect is asked for
	// a datasource whose grant needs no person.
	ErrNotInteractive = errors.New("grants: this datasource's grant needs no browser authorization")
	// ErrInvalidState is returned by Callback for a state that is unknown,
	// already used, expired or started in another browser.
	ErrInvalidState = errors.New("grants: invalid authorization state")
	// ErrInvalidStart is returned by RedeemStart for a start token that is
	// unknown, already used, expired or minted for another datasource.
	ErrInvalidStart = errors.New("grants: invalid start token")
	// ErrUnknownGrant is returned for a grant type with no registered Grant.
	ErrUnknownGrant = errors.New("grants: no such grant type")
	// ErrEndUserRequired is returned for a per-user datasource asked for
	// without an end user.
	ErrEndUserRequired = errors.New("grants: this datasource is per user: name the end user")
	// ErrNotPerUser is returned when an end user is named for a shared
	// datasource's connection operations.
	ErrNotPerUser = errors.New("grants: this datasource is shared: it has no per-user connections")
	// ErrNoConnection is returned (and wrapped in ErrNotAuthorized for
	// callers) when an end user has no connection to a per-user
	// datasource. It matches datasource.ErrNotFound.
	ErrNoConnection = fmt.Errorf("%w: no connection for this end user", datasource.ErrNotFound)
	// ErrClosed is returned by Token, Refresh and the other token methods
	// after Close, and to callers whose token request Close cut short.
	// Such a request leaves the stored state as it was: a shutdown is not
	// the provider's failure.
	ErrClosed = errors.New("grants: engine closed")
)

// NotAuthorizedError says why a datasource has no usable grant. It
// matches ErrNotAuthorized with errors.Is; a provider's refusal stays
// reachable as *TokenError with errors.As.
type NotAuthorizedError struct {
	// Reason is the status and what caused it, for problems and logs.
	Reason string
	err    error
}

func (e *NotAuthorizedError) Error() string { return ErrNotAuthorized.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrNotAuthorized) true.
func (e *NotAuthorizedError) Is(target error) bool { return target == ErrNotAuthorized }

// Unwrap returns the provider's refusal, if one caused it.
func (e *NotAuthorizedError) Unwrap() error { return e.err }

func notAuthorized(reason string, cause error) error {
	return &NotAuthorizedError{Reason: reason, err: cause}
}

// StateError says why Callback refused a state. It matches
// ErrInvalidState with errors.Is.
type StateError struct {
	// Reason is "unknown or already used", "expired", …
	Reason string
}

func (e *StateError) Error() string { return ErrInvalidState.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalidState) true.
func (e *StateError) Is(target error) bool { return target == ErrInvalidState }

// Kind classifies a failed token request.
type Kind int

const (
	// Transient failures (5xx, 429, network, nonsense answers) are retried
	// with backoff; a still-valid token keeps being served meanwhile.
	Transient Kind = iota + 1
	// Permanent failures (invalid_grant, invalid_client, …) end retries
	// until the configuration changes or a person re-authorizes.
	Permanent
)

// MarshalText writes the kind as its name, so JSON logs and documents say
// "transient", as text logs do, not 1.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// TokenError is a failed token request, classified. The provider's own
// error (*oauth2.RetrieveError, a network error) stays reachable with
// errors.As / errors.Is through Unwrap. Its message never holds a secret.
type TokenError struct {
	Kind Kind
	// Code is the RFC 6749 §5.2 error code, when the provider sent one.
	Code string
	// Description is the provider's error_description, scrubbed of secrets.
	Description string
	// Status is the token endpoint's HTTP status, 0 for network failures.
	Status int
	// RetryAfter is the provider's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Reason says what went wrong in words, for lastError and problems.
	Reason string
	// Local is set when grantd's own configuration caused the failure
	// (the dial guard, an unresolved secret reference), not the provider:
	// the tokens are kept and the request is tried again at start-up.
	Local bool
	// Unsent is set when no token request was made because the replicas
	// could not coordinate (the refresh lock): the provider is not to
	// blame, so there is no growing backoff — it is tried again within a
	// second.
	Unsent bool
	err    error
}

func (e *TokenError) Error() string { return "grants: token request failed: " + e.Reason }

// Unwrap returns the underlying error.
func (e *TokenError) Unwrap() error { return e.err }

// outcome is what a caller is told about a failed token request: a
// permanent failure leaves the datasource (or connection) unauthorized,
// whichever replica stored it.
func (e *TokenError) outcome() error {
	if e.Kind == Permanent {
		return notAuthorized(e.Reason, e)
	}
	return e
}

// statusFor returns the datasource status a failure leaves when no valid
// token remains.
func (e *TokenError) statusFor(g datasource.GrantType) datasource.Status {
	if e.Kind == Permanent && e.Code == "invalid_grant" && g.UserDelegated() {
		return datasource.StatusNeedsReauthorization
	}
	return datasource.StatusError
}

// permanentCodes end retries. Everything else from a provider is retried.
var permanentCodes = map[string]bool{
	"invalid_grant":          true,
	"invalid_client":         true,
	"unauthorized_client":    true,
	"invalid_request":        true,
	"invalid_scope":          true,
	"unsupported_grant_type": true,
	"access_denied":          true,
	"invalid_target":         true, // RFC 8707
}

// classify turns an error from a token request into a *TokenError. secrets
// are removed from anything provider-controlled that ends up in messages.
func classify(err error, now time.Time, secrets ...string) *TokenError {
	var te *TokenError
	if errors.As(err, &te) {
		return te
	}
	e := &TokenError{err: err}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		e.Code = truncate(scrub(re.ErrorCode, secrets), 64)
		e.Description = truncate(scrub(re.ErrorDescription, secrets), 300)
		if re.Response != nil {
			e.Status = re.Response.StatusCode
			e.RetryAfter = retryAfter(re.Response.Header.Get("Retry-After"), now)
		}
		switch {
		case e.Code == "temporarily_unavailable" || e.Code == "server_error" || e.Code == "slow_down":
			e.Kind = Transient
		case permanentCodes[e.Code]:
			e.Kind = Permanent
		case e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Status == http.StatusRequestTimeout:
			e.Kind = Transient
		case e.Status >= 400:
			e.Kind = Permanent
		default: // an error code with status 2xx, or an unknown code
			e.Kind = Transient
		}
		switch {
		case e.Code != "" && e.Description != "":
			e.Reason = fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Description, e.Status)
		case e.Code != "":
			e.Reason = fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
		default:
			e.Reason = fmt.Sprintf("token endpoint answered HTTP %d", e.Status)
		}
	case errors.Is(err, outbound.ErrForbiddenAddress):
		e.Kind, e.Local = Permanent, true
		e.Reason = "token URL resolves to a private or loopback address, which is not allowed" + refusalHint(err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e.Kind = Transient
		e.Reason = "token endpoint timed out"
	case isNetwork(err):
		e.Kind = Transient
		e.Reason = "token endpoint unreachable: " + scrub(netReason(err), secrets)
	default:
		// x/oauth2's parse errors: "cannot parse json", "missing access_token".
		e.Kind = Transient
		msg := strings.TrimPrefix(err.Error(), "oauth2: ")
		e.Reason = "token endpoint answered nonsense: " + truncate(scrub(msg, secrets), 200)
	}
	return e
}

// refusalHint returns what the dial guard said to do about a refusal
// (Dialer.RefusalHint), as a suffix.
func refusalHint(err error) string {
	var re *outbound.RefusedError
	if errors.As(err, &re) && re.Hint != "" {
		return " (" + re.Hint + ")"
	}
	return ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isNetwork(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}

func netReason(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return truncate(err.Error(), 200)
}

// retryAfter parses an RFC 9110 Retry-After value: seconds or an HTTP date.
// It caps the wait at one hour.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, time.Hour)
}

// sentForms lists the client secret of d (resolved) in every encoding
// grantd sends it in, for scrub: raw, form-encoded (the body style), and
// the Basic header value (RFC 6749 §2.3.1: id and secret form-encoded,
// joined with ":", Base64), also without the form-encoding some servers
// skip, with and without padding, and URL-safe.
func sentForms(d *datasource.Datasource) []string {
	sec := d.Auth.ClientSecret.Reveal()
	if sec == "" {
		return nil
	}
	out := encodings(sec)
	id := d.Auth.ClientID
	for _, pair := range []string{url.QueryEscape(id) + ":" + url.QueryEscape(sec), id + ":" + sec} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString([]byte(pair)))
		}
	}
	return out
}

// encodings lists a secret as sent in a form or a URL as well as raw.
func encodings(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s, url.QueryEscape(s), url.PathEscape(s)}
}

// scrub replaces every secret in s with "[redacted]".
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
