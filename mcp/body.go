package mcp

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// SelectedResponseHeaders are the upstream response headers
// call_datasource returns (others are left out: they cost an agent
// context and rarely matter): what the body is, where it went, when to
// come back, and pagination and rate limits, including every header that
// starts with X-RateLimit- or RateLimit.
var SelectedResponseHeaders = []string{
	"Content-Type", "Content-Length", "Content-Range", "Content-Language", "Location", "Retry-After",
	"ETag", "Last-Modified", "Link", "WWW-Authenticate", "X-Request-Id", "X-Total-Count",
}

// MaxBinaryCount bounds how much of a binary body (or of a text body past
// MaxText, when it has no Content-Length) is read to tell its size.
const MaxBinaryCount = 32 << 20

func selectedHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for _, name := range SelectedResponseHeaders {
		if v := h.Values(name); len(v) > 0 {
			out[name] = strings.Join(v, ", ")
		}
	}
	for name, v := range h {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-ratelimit-") || strings.HasPrefix(l, "ratelimit") {
			out[name] = strings.Join(v, ", ")
		}
	}
	return out
}

// textTypes are media types outside text/* that hold text.
var textTypes = []string{
	"application/json", "application/xml", "application/javascript", "application/ecmascript",
	"application/x-www-form-urlencoded", "application/yaml", "application/x-yaml", "application/toml",
	"application/graphql", "application/sql", "application/csv", "application/x-ndjson", "application/jsonl",
	"image/svg+xml",
}

// isText reports whether a body of contentType is text: text/*, JSON,
// XML, YAML and their +json / +xml kinds. Without a content type, the
// first bytes decide (valid UTF-8 without NUL is text).
func isText(contentType string, head []byte) bool {
	if contentType == "" {
		return !bytes.ContainsRune(head, 0) && validPrefix(head)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") || strings.HasSuffix(mt, "+yaml") {
		return true
	}
	for _, t := range textTypes {
		if mt == t {
			return true
		}
	}
	return false
}

// validPrefix reports whether b is valid UTF-8 but for a rune cut at its
// end.
func validPrefix(b []byte) bool { return utf8.Valid(trimPartialRune(b)) }

// trimPartialRune drops a rune cut in two at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}

// readBody reads what call_datasource answers of resp's body: up to max
// bytes of text (cut at a rune boundary, marked truncated), or for a body
// that is not text only its size. HEAD answers and 204/304 have none.
func readBody(resp *http.Response, method string, max int) (r CallResult, err error) {
	r.ContentType = resp.Header.Get("Content-Type")
	if method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		r.BodyBytes = max64(resp.ContentLength, 0)
		return r, nil
	}
	buf := make([]byte, 0, min(max+1, 64<<10))
	b := bytes.NewBuffer(buf)
	n, err := io.Copy(b, io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		return r, err
	}
	head := b.Bytes()
	if !isText(r.ContentType, head[:min(len(head), 512)]) {
		r.Binary = true
		rest, err := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBinaryCount-n))
		if err != nil {
			return r, err
		}
		r.BodyBytes = n + rest
		r.Truncated = r.BodyBytes >= MaxBinaryCount
		if resp.ContentLength > r.BodyBytes {
			r.BodyBytes = resp.ContentLength
		}
		return r, nil
	}
	if n <= int64(max) {
		r.Body = strings.ToValidUTF8(string(head), "\uFFFD")
		r.BodyBytes = n
		return r, nil
	}
	r.Body = strings.ToValidUTF8(string(trimPartialRune(head[:max])), "\uFFFD")
	r.Truncated = true
	r.BodyBytes = resp.ContentLength
	if r.BodyBytes <= 0 {
		// No length given: count the rest, as far as MaxBinaryCount.
		rest, err := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBinaryCount-n))
		if err != nil {
			return r, err
		}
		r.BodyBytes = n + rest
	}
	return r, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
