package api

import (
	"crypto/sha256"
	"encoding/hex"
	"github.com/grantd/grantd/outbound"
	"net/http"
	"strings"

	"github.com/grantd/grantd/grants"
)

// The proxy's fastRequest is a grants.SignableRequest, so an awsSigV4
// datasource signs exactly what fasthttp writes: the method, the Host
// header and the path as the request line carries them (the proxy
// disables fasthttp's path normalising), the caller's headers, and the
// body, buffered or streaming.

var _ grants.SignableRequest = fastRequest{}

func (f fastRequest) Method() string { return string(f.r.Header.Method()) }

func (f fastRequest) Target() (scheme, host, escapedPath string) {
	host = string(f.r.Header.Host())
	if host == "" {
		host = string(f.r.URI().Host())
	}
	escapedPath = string(f.r.URI().PathOriginal())
	if escapedPath == "" {
		escapedPath = "/"
	}
	return string(f.r.URI().Scheme()), host, escapedPath
}

// unsignedHeaders are the headers Header leaves out: Host and
// Content-Length (Target and ContentLength give them) and the hop-by-hop
// ones, which the proxy never forwards.
var unsignedHeaders = append([]string{"Host", "Content-Length"}, outbound.HopByHopHeaders()...)

func (f fastRequest) Header() http.Header {
	out := http.Header{}
	for k, v := range f.r.Header.All() {
		name := string(k)
		if dropped(name, unsignedHeaders) {
			continue
		}
		ck := http.CanonicalHeaderKey(name)
		out[ck] = append(out[ck], string(v))
	}
	return out
}

func (f fastRequest) DelHeader(name string) {
	var spellings [][]byte
	for k := range f.r.Header.All() {
		if strings.EqualFold(string(k), name) {
			spellings = append(spellings, []byte(string(k)))
		}
	}
	for _, k := range spellings {
		f.r.Header.DelBytes(k)
	}
}

func (f fastRequest) ContentLength() int64 {
	if f.r.IsBodyStream() {
		return int64(f.r.Header.ContentLength()) // the caller's, or -1: chunked
	}
	return int64(len(f.r.Body()))
}

func (f fastRequest) BodySHA256() (string, bool) {
	if f.r.IsBodyStream() {
		return "", false
	}
	sum := sha256.Sum256(f.r.Body())
	return hex.EncodeToString(sum[:]), true
}
