package grantstest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigV4 is what VerifySigV4 read from a request it verified.
type SigV4 struct {
	AccessKeyID, Date, Region, Service string
	SignedHeaders                      []string
	// PayloadHash is the hash the signature covers: the body's SHA-256,
	// or UNSIGNED-PAYLOAD (S3 only).
	PayloadHash  string
	SessionToken string
}

var authorizationRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// VerifySigV4 checks an AWS Signature Version 4 request as a service
// would, from what arrived on the wire: r as a net/http server received it
// (its RequestURI is the path and query as sent) and body, its whole body.
// secret returns the secret access key of an access key ID. now is the
// server's time: the signature must be at most 15 minutes off.
//
// It checks the Authorization header's shape, that the signed headers
// include host and x-amz-date (and x-amz-security-token when a session
// token is sent, x-amz-content-sha256 for s3), that X-Amz-Date matches
// the credential scope, that the signed payload hash is the body's (or
// UNSIGNED-PAYLOAD for s3), and finally the signature itself: it rebuilds
// the request from the signed headers only and signs it again with the
// AWS SDK's signer, then compares in constant time. Anything changed on
// the way — the body, the path, the query, a signed header — fails.
func VerifySigV4(r *http.Request, body []byte, secret func(accessKeyID string) (string, bool), now time.Time) (*SigV4, error) {
	m := authorizationRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return nil, fmt.Errorf("authorization header %q is not AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…", redactSig(r.Header.Get("Authorization")))
	}
	s := &SigV4{AccessKeyID: m[1], Date: m[2], Region: m[3], Service: m[4], SignedHeaders: strings.Split(m[5], ";"),
		SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if !slices.IsSorted(s.SignedHeaders) || !slices.Contains(s.SignedHeaders, "host") || !slices.Contains(s.SignedHeaders, "x-amz-date") {
		return s, fmt.Errorf("signed headers %v: sorted, with host and x-amz-date, wanted", s.SignedHeaders)
	}
	if s.SessionToken != "" && !slices.Contains(s.SignedHeaders, "x-amz-security-token") {
		return s, fmt.Errorf("a session token is sent but not signed")
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return s, fmt.Errorf("x-amz-date %q is not yyyymmddThhmmssZ", r.Header.Get("X-Amz-Date"))
	}
	if at.Format("20060102") != s.Date {
		return s, fmt.Errorf("x-amz-date %s is not the credential scope's day %s", at.Format(time.RFC3339), s.Date)
	}
	if d := now.Sub(at); d > 15*time.Minute || d < -15*time.Minute {
		return s, fmt.Errorf("signed at %s, %s from now", at.Format(time.RFC3339), d)
	}
	sum := sha256.Sum256(body)
	s.PayloadHash = hex.EncodeToString(sum[:])
	if s.Service == "s3" {
		if !slices.Contains(s.SignedHeaders, "x-amz-content-sha256") {
			return s, fmt.Errorf("s3 wants x-amz-content-sha256 signed")
		}
		switch h := r.Header.Get("X-Amz-Content-Sha256"); h {
		case "UNSIGNED-PAYLOAD":
			s.PayloadHash = h
		case s.PayloadHash:
		default:
			return s, fmt.Errorf("x-amz-content-sha256 %s is not the body's %s", h, s.PayloadHash)
		}
	}
	key, ok := secret(s.AccessKeyID)
	if !ok {
		return s, fmt.Errorf("unknown access key id")
	}
	path, query, _ := strings.Cut(r.RequestURI, "?")
	again := &http.Request{Method: r.Method, Host: r.Host, Header: http.Header{},
		URL: &url.URL{Scheme: "https", Host: r.Host, Opaque: "//" + r.Host + path, RawQuery: query}}
	for _, h := range s.SignedHeaders {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			vs := r.Header.Values(h)
			if len(vs) == 0 {
				return s, fmt.Errorf("signed header %s did not arrive", h)
			}
			again.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	if !slices.Contains(s.SignedHeaders, "content-length") && r.ContentLength > 0 && len(body) > 0 && s.Service != "s3" {
		// The SDK signs content-length whenever it knows it; a request
		// that arrives with a length it did not sign was changed.
		return s, fmt.Errorf("content-length %d arrived unsigned", r.ContentLength)
	}
	creds := aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: key, SessionToken: s.SessionToken}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, again, s.PayloadHash, s.Service, s.Region, at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = s.Service == "s3" })
	if err != nil {
		return s, err
	}
	want := authorizationRE.FindStringSubmatch(again.Header.Get("Authorization"))
	if want == nil || want[5] != m[5] {
		return s, fmt.Errorf("the signed headers do not rebuild")
	}
	if subtle.ConstantTimeCompare([]byte(want[6]), []byte(m[6])) != 1 {
		return s, fmt.Errorf("signature does not match")
	}
	return s, nil
}

func redactSig(h string) string {
	if i := strings.Index(h, "Signature="); i >= 0 {
		return h[:i] + "Signature=…"
	}
	return h
}
