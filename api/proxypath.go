package api

import (
	"errors"
	"net/url"
	"strings"
)

// errPathEscape is returned by joinProxyPath for a path that could leave
// the datasource's base path.
var errPathEscape = errors.New("the proxied path would leave the datasource's base URL")

// joinProxyPath joins the datasource's base path (escaped, as in its URL)
// and the raw path after …/proxy, as the client sent it. It refuses
// anything that could leave the base path or the host: dot segments, raw
// or percent-encoded; encoded slashes and backslashes; empty segments
// ("//", which also covers scheme-relative and absolute URLs such as
// /http://evil); NUL and control characters; invalid escapes. The rest is
// kept byte for byte, so the upstream sees the encoding the client chose.
func joinProxyPath(basePath, rest string) (string, error) {
	base := strings.TrimRight(basePath, "/")
	if rest == "" {
		if basePath == "" {
			return "/", nil
		}
		return basePath, nil
	}
	if rest[0] != '/' {
		return "", errPathEscape
	}
	segs := strings.Split(rest[1:], "/")
	for i, seg := range segs {
		if seg == "" {
			if i == len(segs)-1 {
				continue // a trailing slash
			}
			return "", errPathEscape
		}
		for j := 0; j < len(seg); j++ {
			if c := seg[j]; c < 0x21 || c == 0x7f || c == '\\' || c == '#' || c == '?' {
				return "", errPathEscape
			}
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", errPathEscape
		}
		if dec == "." || dec == ".." || strings.ContainsAny(dec, "/\\\x00") {
			return "", errPathEscape
		}
		for j := 0; j < len(dec); j++ {
			if dec[j] < 0x20 || dec[j] == 0x7f {
				return "", errPathEscape
			}
		}
	}
	return base + rest, nil
}
