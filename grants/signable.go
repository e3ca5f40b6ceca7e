package grants

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
)

// httpRequest is a SignableRequest too: the library's Client signs what
// net/http will send.

var _ SignableRequest = httpRequest{}

// emptySHA256 is the SHA-256 of no body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func (h httpRequest) Method() string {
	if h.r.Method == "" {
		return http.MethodGet
	}
	return h.r.Method
}

func (h httpRequest) Target() (scheme, host, escapedPath string) {
	host = h.r.Host
	if host == "" {
		host = h.r.URL.Host
	}
	escapedPath = h.r.URL.EscapedPath()
	if h.r.URL.Opaque != "" {
		// "//host/path", as the signer and net/http read it.
		if i := strings.Index(strings.TrimPrefix(h.r.URL.Opaque, "//"), "/"); i >= 0 {
			escapedPath = strings.TrimPrefix(h.r.URL.Opaque, "//")[i:]
		}
	}
	if escapedPath == "" {
		escapedPath = "/"
	}
	return h.r.URL.Scheme, host, escapedPath
}

func (h httpRequest) Header() http.Header {
	out := make(http.Header, len(h.r.Header))
	for k, v := range h.r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection":
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], v...)
	}
	return out
}

func (h httpRequest) DelHeader(name string) {
	for k := range h.r.Header {
		if strings.EqualFold(k, name) {
			delete(h.r.Header, k)
		}
	}
}

func (h httpRequest) ContentLength() int64 {
	if h.r.Body == nil || h.r.Body == http.NoBody {
		return 0
	}
	return h.r.ContentLength
}

// BodySHA256 hashes a body it can read again (GetBody); a body that can
// be read only once is not read.
func (h httpRequest) BodySHA256() (string, bool) {
	if h.r.Body == nil || h.r.Body == http.NoBody {
		return emptySHA256, true
	}
	if h.r.GetBody == nil {
		return "", false
	}
	b, err := h.r.GetBody()
	if err != nil {
		return "", false
	}
	defer b.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, b); err != nil {
		return "", false
	}
	return hex.EncodeToString(sum.Sum(nil)), true
}
