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
	// datasource.TokenRecord). Pass it to Invalidate after a 401.
	Generation uint64
	// Type is the token_type the provider gave, usually "Bearer".
	Type string

	value     datasource.Secret
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

// Placement says where the token goes on an outgoing request: in the header
// name with value, or in the query parameter name with value. It is the one
// place that decides; Apply and the proxy both use it.
func (t AccessToken) Placement() (where datasource.Placement, name, value string) {
	if t.placement == datasource.PlacementQuery {
		return t.placement, t.name, t.value.Reveal()
	}
	return datasource.PlacementHeader, t.name, t.header
}

// Apply places the token on r per the datasource's configuration: it sets
// the header (replacing any value) or replaces the query parameter,
// keeping the other parameters in their order.
func (t AccessToken) Apply(r *http.Request) {
	where, name, value := t.Placement()
	if where == datasource.PlacementHeader {
		r.Header[name] = []string{value}
		return
	}
	r.URL.RawQuery = SetQueryParam(r.URL.RawQuery, name, value)
}

// SetQueryParam returns rawQuery with every occurrence of name removed and
// name=value appended, both escaped; other parameters keep their order and
// their original encoding.
func SetQueryParam(rawQuery, name, value string) string {
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
