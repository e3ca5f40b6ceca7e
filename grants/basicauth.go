package grants

import (
	"encoding/base64"
	"time"

	"github.com/grantd/grantd/datasource"
)

func init() { RegisterScheme(basicScheme{}) }

// basicScheme is HTTP Basic authentication (RFC 7617): Authorization:
// Basic base64(username ":" password), UTF-8. The username cannot hold a
// colon (datasource validation refuses one); the password may be empty
// (APIs that take a key as the username, such as Stripe's).
type basicScheme struct{}

func (basicScheme) Type() datasource.AuthType { return datasource.AuthBasic }

func (basicScheme) Prepare(_ *datasource.OAuth2, c *datasource.Credential) (Authorizer, error) {
	if c.Username == "" {
		return nil, &CredentialError{Reason: "no username"}
	}
	return header{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password.Reveal()))}, nil
}

// header sets one header to a fixed value. The value is a credential: it
// is never printed.
type header struct{ name, value string }

func (h header) Authorize(r Request, _ time.Time) error {
	r.SetHeader(h.name, h.value)
	return nil
}

func (h header) String() string   { return "header{" + h.name + ": [redacted]}" }
func (h header) GoString() string { return h.String() }

// placed is an API key placed as a token is.
type placed struct{ t *AccessToken }

func (p placed) Authorize(r Request, _ time.Time) error {
	p.t.place(r)
	return nil
}
