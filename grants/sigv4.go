package grants

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/grantd/grantd/datasource"
)

func init() { RegisterScheme(sigV4Scheme{}) }

// sigV4Scheme signs every request with AWS Signature Version 4, using the
// AWS SDK for Go v2's signer (aws/signer/v4): never by hand. The
// signature covers the method, the path as sent, the query, the Host and
// every other header the request carries (but those the signer ignores:
// Authorization, User-Agent, Expect, Transfer-Encoding,
// X-Amzn-Trace-Id), and the body's SHA-256.
//
// # The body
//
// The body's hash is part of what is signed, so it must be known before
// the first byte goes out. The proxy buffers bodies up to its replay
// limit (1 MiB): those are hashed and signed. A larger body streams
// through unread: for service "s3" it is sent with X-Amz-Content-Sha256:
// UNSIGNED-PAYLOAD, which S3 accepts (over TLS, the body's integrity is
// TLS's); every other service refuses an unsigned payload, so such a call
// fails with ErrBodyNotSignable (413) rather than being buffered without
// bound. The library's Client hashes a body it can read again (GetBody,
// which http.NewRequest sets for in-memory bodies).
//
// For "s3" the path is signed as sent (S3 does not escape it twice) and
// X-Amz-Content-Sha256 is always set, as S3 requires.
type sigV4Scheme struct{}

func (sigV4Scheme) Type() datasource.AuthType { return datasource.AuthAWSSigV4 }

func (sigV4Scheme) Prepare(a *datasource.OAuth2, c *datasource.Credential) (Authorizer, error) {
	if c.AccessKeyID.IsZero() || c.SecretAccessKey.IsZero() {
		return nil, &CredentialError{Reason: "the access key ID and secret access key are both needed"}
	}
	return &sigV4{
		creds: aws.Credentials{AccessKeyID: c.AccessKeyID.Reveal(), SecretAccessKey: c.SecretAccessKey.Reveal(),
			SessionToken: c.SessionToken.Reveal(), Source: "grantd"},
		region: a.Region, service: a.Service, s3: a.Service == "s3",
		signer: v4.NewSigner(),
	}, nil
}

// unsignedPayload is what S3 takes in place of a body's hash.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// sigV4 signs with one set of credentials. Its fields are never printed.
type sigV4 struct {
	creds           aws.Credentials
	region, service string
	s3              bool
	signer          *v4.Signer
}

// The headers the signature puts on a request; a caller's own are
// dropped first, so none is signed or sent twice.
var sigV4Headers = []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"}

func (s *sigV4) Authorize(r Request, now time.Time) error {
	sr, ok := r.(SignableRequest)
	if !ok {
		return ErrNotSignable
	}
	hash, ok := sr.BodySHA256()
	if !ok {
		if !s.s3 {
			return ErrBodyNotSignable
		}
		hash = unsignedPayload
	}
	for _, h := range sigV4Headers {
		sr.DelHeader(h)
	}
	if s.s3 {
		sr.SetHeader("X-Amz-Content-Sha256", hash)
	}
	// The signer signs a net/http request; this one carries exactly what
	// goes on the wire (the path escaped as sent, in Opaque), and only its
	// signature headers are copied back.
	scheme, host, path := sr.Target()
	shadow := &http.Request{
		Method:        sr.Method(),
		URL:           &url.URL{Scheme: scheme, Host: host, Opaque: "//" + host + path, RawQuery: sr.RawQuery()},
		Host:          host,
		Header:        sr.Header(),
		ContentLength: max(sr.ContentLength(), 0),
	}
	err := s.signer.SignHTTP(context.Background(), s.creds, shadow, hash, s.service, s.region, now,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = s.s3 })
	if err != nil {
		return &CredentialError{Reason: "signing failed", err: err}
	}
	for _, h := range sigV4Headers {
		if v := shadow.Header.Get(h); v != "" {
			sr.SetHeader(h, v)
		}
	}
	return nil
}

func (s *sigV4) String() string   { return "sigV4{" + s.service + " " + s.region + ", [redacted]}" }
func (s *sigV4) GoString() string { return s.String() }
