package outbound

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrPathEscape is returned by JoinPath for a path that could leave the
// datasource's base path.
var ErrPathEscape = errors.New("the proxied path would leave the datasource's base URL")

// JoinPath joins the datasource's base path (escaped, as in its URL)
// and the raw path after …/proxy, as the client sent it. It refuses
// anything that could leave the base path or the host: dot segments, raw
// or percent-encoded; encoded slashes and backslashes; empty segments
// ("//", which also covers scheme-relative and absolute URLs such as
// /http://evil); NUL and control characters; invalid escapes. Dot segments
// are recognised the way upstreams resolve them: after removing ";params"
// (Tomcat and Spring treat "..;x" as ".."), after decoding twice (servers
// that decode again), and a segment holding a non-ASCII dot look-alike
// (U+FF0E "．", U+2024 "․", …) or an invalid, e.g. overlong ("%c0%ae"),
// UTF-8 sequence is refused outright. The rest is kept byte for byte, so
// the upstream sees the encoding the client chose. The proxy and MCP's
// call_datasource both join paths with it.
func JoinPath(basePath, rest string) (string, error) {
	base := strings.TrimRight(basePath, "/")
	if rest == "" {
		if basePath == "" {
			return "/", nil
		}
		return basePath, nil
	}
	if rest[0] != '/' {
		return "", ErrPathEscape
	}
	segs := strings.Split(rest[1:], "/")
	for i, seg := range segs {
		if seg == "" {
			if i == len(segs)-1 {
				continue // a trailing slash
			}
			return "", ErrPathEscape
		}
		for j := 0; j < len(seg); j++ {
			if c := seg[j]; c < 0x21 || c == 0x7f || c == '\\' || c == '#' || c == '?' {
				return "", ErrPathEscape
			}
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", ErrPathEscape
		}
		if dec == "." || dec == ".." || strings.ContainsAny(dec, "/\\\x00") || dotSegment(dec) {
			return "", ErrPathEscape
		}
		for j := 0; j < len(dec); j++ {
			if dec[j] < 0x20 || dec[j] == 0x7f {
				return "", ErrPathEscape
			}
		}
	}
	return base + rest, nil
}

// dotLookalikes are characters that some stacks normalise to "." (NFKC,
// IDNA): a segment holding one is refused.
const dotLookalikes = "\u2024\u2025\u2026\u3002\ufe52\uff0e\uff61"

// dotSegment reports whether a decoded segment could act as "." or ".."
// upstream: after dropping ";params", after one more decoding, or by
// holding a look-alike or invalid UTF-8.
func dotSegment(dec string) bool {
	if !utf8.ValidString(dec) || strings.ContainsAny(dec, dotLookalikes) {
		return true
	}
	for _, s := range []string{dec, doubleDecoded(dec)} {
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// doubleDecoded is dec decoded once more, or dec when it does not decode.
func doubleDecoded(dec string) string {
	if d, err := url.PathUnescape(dec); err == nil {
		return d
	}
	return dec
}
