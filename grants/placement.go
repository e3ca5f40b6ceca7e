package grants

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grantd/grantd/datasource"
)

// AccessToken is a usable access token with where it goes. Values are
// immutable and safe to copy and share.
type AccessToken struct {
	// Expiry is when the token stops being valid.
	Expiry time.Time
	// Generation is the token's generation in the store (see
	// datasource.TokenRecord).
	Generation uint64
	// Type is the token_type the provider gave, usually "Bearer".
	Type string

	value     datasource.Secret
	obtained  time.Time     // when the provider issued it (LastRefreshedAt)
	skew      time.Duration // stop handing it out this long before Expiry
	placement datasource.Placement
	name      string // header or query parameter name
	header    string // full header value, prefix included
}

// newAccessToken precomputes the placement of value under the datasource's
// configuration, so placing it on a request allocates nothing more.
func newAccessToken(a *datasource.OAuth2, rec *datasource.TokenRecord) *AccessToken {
	t := &AccessToken{
		Expiry:     rec.Expiry,
		Generation: rec.Generation,
		Type:       rec.TokenType,
		value:      rec.AccessToken,
		obtained:   rec.LastRefreshedAt,
		skew:       expirySkew,
		placement:  a.TokenPlacement,
	}
	if life := rec.Expiry.Sub(rec.LastRefreshedAt); !rec.LastRefreshedAt.IsZero() && life > 0 && life/4 < expirySkew {
		t.skew = life / 4
	}
	switch a.TokenPlacement {
	case datasource.PlacementQuery:
		t.name = a.QueryParamName
	default:
		t.placement = datasource.PlacementHeader
		t.name = http.CanonicalHeaderKey(a.HeaderName)
		t.header = rec.AccessToken.Reveal()
		if prefix := a.Prefix(); prefix != "" {
			t.header = prefix + " " + t.header
		}
	}
	return t
}

// Value returns the raw access token. Only the opt-in token endpoint and
// placement should need it.
func (t AccessToken) Value() datasource.Secret { return t.value }

// Request is an outgoing request to a datasource, whatever HTTP library
// carries it (net/http for Client, fasthttp for the proxy): the engine puts
// credentials on it through these methods. This is the one place that
// decides where a token goes.
type Request interface {
	// SetHeader replaces every value of the header name (compared without
	// regard to case) with value.
	SetHeader(name, value string)
	// RawQuery returns the query string, without "?".
	RawQuery() string
	// SetRawQuery replaces the query string.
	SetRawQuery(q string)
}

// place puts t on r per the datasource's configuration: the header
// (replacing any value) or the query parameter (replacing any occurrence,
// keeping the other parameters in their order and encoding).
func (t AccessToken) place(r Request) {
	if t.placement == datasource.PlacementQuery {
		r.SetRawQuery(setQueryParam(r.RawQuery(), t.name, t.value.Reveal()))
		return
	}
	r.SetHeader(t.name, t.header)
}

// Apply places the token on r per the datasource's configuration; see
// Request.
func (t AccessToken) Apply(r *http.Request) { t.place(httpRequest{r}) }

// httpRequest is a *http.Request as a Request.
type httpRequest struct{ r *http.Request }

func (h httpRequest) SetHeader(name, value string) {
	for k := range h.r.Header {
		if k != name && strings.EqualFold(k, name) {
			delete(h.r.Header, k)
		}
	}
	h.r.Header[name] = []string{value}
}
func (h httpRequest) RawQuery() string     { return h.r.URL.RawQuery }
func (h httpRequest) SetRawQuery(q string) { h.r.URL.RawQuery = q }

// setQueryParam returns rawQuery with every occurrence of name removed and
// name=value appended, both escaped; other parameters keep their order and
// their original encoding.
func setQueryParam(rawQuery, name, value string) string {
	var b strings.Builder
	b.Grow(len(rawQuery) + len(name) + len(value) + 2)
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		b.WriteString(part)
		b.WriteByte('&')
	}
	b.WriteString(url.QueryEscape(name))
	b.WriteByte('=')
	b.WriteString(url.QueryEscape(value))
	return b.String()
}

// String describes the token without revealing it.
func (t AccessToken) String() string {
	return "AccessToken{" + string(t.placement) + " " + t.name + ", expires " + t.Expiry.UTC().Format(time.RFC3339) + ", [redacted]}"
}

// GoString is String, so %#v does not reveal the token either.
func (t AccessToken) GoString() string { return t.String() }
