package grants

import (
	"time"

	"github.com/grantd/grantd/datasource"
)

func init() { RegisterScheme(noneScheme{}) }

// noneScheme adds nothing: a public API, or one authenticated some other
// way (its URL, mutual TLS with upstreamClientCertificate). Its calls
// still go through the proxy's rules, the dial guard and API-key
// permissions.
type noneScheme struct{}

func (noneScheme) Type() datasource.AuthType { return datasource.AuthNone }

func (noneScheme) Prepare(*datasource.OAuth2, *datasource.Credential) (Authorizer, error) {
	return nothing{}, nil
}

type nothing struct{}

func (nothing) Authorize(Request, time.Time) error { return nil }
