package api

import (
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/grantd/grantd/datasource"
)

func TestJoinProxyPath(t *testing.T) {
	for _, tt := range []struct {
		base, rest, want string
		ok               bool
	}{
		{"/v1", "", "/v1", true},
		{"", "", "/", true},
		{"/v1/", "/items", "/v1/items", true},
		{"/v1", "/items/", "/v1/items/", true},
		{"", "/a%20b/c%3Fd", "/a%20b/c%3Fd", true},
		{"/v1", "/users/me@example.com", "/v1/users/me@example.com", true},
		{"/v1", "/..", "", false},
		{"/v1", "/a/../..", "", false},
		{"/v1", "/%2e%2e/x", "", false},
		{"/v1", "/.%2E/x", "", false},
		{"/v1", "/./x", "", false},
		{"/v1", "/a%2fb", "", false},
		{"/v1", "/a%5cb", "", false},
		{"/v1", "/a\\b", "", false},
		{"/v1", "//evil.example/x", "", false},
		{"/v1", "/http://evil.example/", "", false},
		{"/v1", "/a//b", "", false},
		{"/v1", "/a%00b", "", false},
		{"/v1", "/a%zz", "", false},
		{"/v1", "/a\x00b", "", false},
		{"/v1", "/a b", "", false},
		{"/v1", "x", "", false},
		// Dot segments as Tomcat, Spring and others resolve them.
		{"/v1", "/..;/admin", "", false},
		{"/v1", "/..;jsessionid=x/admin", "", false},
		{"/v1", "/.;x/admin", "", false},
		{"/v1", "/%2e%2e;/admin", "", false},
		{"/v1", "/%252e%252e/admin", "", false},   // decoded twice
		{"/v1", "/%c0%ae%c0%ae/admin", "", false}, // overlong UTF-8 dots
		{"/v1", "/%e0%80%ae/admin", "", false},
		{"/v1", "/%ef%bc%8e%ef%bc%8e/admin", "", false},       // full-width dots
		{"/v1", "/\xef\xbc\x8e\xef\xbc\x8e/admin", "", false}, // the same, raw
		{"/v1", "/a%e2%80%a4b", "", false},                    // one dot leader
		{"/v1", "/items;v=2", "/v1/items;v=2", true},          // matrix parameters stay
		{"/v1", "/caf%c3%a9", "/v1/caf%c3%a9", true},          // valid UTF-8 stays
		{"/v1", "/a.b/..c", "/v1/a.b/..c", true},
	} {
		got, err := joinProxyPath(tt.base, tt.rest)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("joinProxyPath(%q, %q) = %q, %v; want %q ok=%v", tt.base, tt.rest, got, err, tt.want, tt.ok)
		}
	}
}

func TestProxyRest(t *testing.T) {
	for _, tt := range []struct {
		raw, want string
		ok        bool
	}{
		{"/api/v1/datasources/ds_1/proxy", "", true},
		{"/api/v1/datasources/ds_1/proxy/a/b", "/a/b", true},
		{"/api/v1/datasources/ds_1/proxyx", "", false},
		{"/api/v2/datasources/ds_1/proxy/a", "", false},
	} {
		got, ok := proxyRest(tt.raw)
		if got != tt.want || ok != tt.ok {
			t.Errorf("proxyRest(%q) = %q %v", tt.raw, got, ok)
		}
	}
}

// FuzzJoinProxyPath: whatever the client sends after …/proxy, an accepted
// path starts with the base path and, decoded and cleaned the way an
// upstream server might, stays under it.
func FuzzJoinProxyPath(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b", "/..", "/%2e%2e/", "/a%2fb", "//x", "/a/./b", "/%252e%252e", "/\\..", "/a%c0%ae%c0%ae/"} {
		f.Add("/v1/base", s)
	}
	f.Fuzz(func(t *testing.T, base, rest string) {
		if !strings.HasPrefix(base, "/") || strings.ContainsFunc(base, func(r rune) bool { return r <= ' ' || r == 0x7f }) || strings.ContainsAny(base, "?#%\\") || strings.Contains(base, "..") || strings.Contains(base, "//") || strings.Contains(base, "/./") {
			return // bases come from validated datasource URLs
		}
		got, err := joinProxyPath(base, rest)
		if err != nil {
			return
		}
		b := strings.TrimRight(base, "/")
		if !strings.HasPrefix(got, b) {
			t.Fatalf("%q + %q = %q leaves the base", base, rest, got)
		}
		u, perr := url.Parse("http://upstream" + got)
		if perr != nil {
			t.Fatalf("%q does not parse: %v", got, perr)
		}
		if u.Host != "upstream" {
			t.Fatalf("%q changes the host to %q", got, u.Host)
		}
		if cleaned := path.Clean(u.Path); !strings.HasPrefix(cleaned+"/", b+"/") && cleaned != b && b != "" {
			t.Fatalf("%q cleans to %q, outside %q", got, cleaned, b)
		}
		if dec, _ := url.PathUnescape(got); strings.Contains(dec, "\\") {
			t.Fatalf("%q holds a backslash", got)
		}
	})
}

func TestCheckReturnTo(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"", true},
		{"/", true},
		{"/datasources/ds_1?tab=auth#top", true},
		{"/app/done", true},
		{"//evil.example", false},
		{"/\\evil.example", false},
		{"https://evil.example/", false},
		{"javascript:alert(1)", false},
		{"relative/path", false},
		{"/a b", false},
		{"/a\tb", false},
		{"/%2f%2fevil.example", false},
		{"/\x00", false},
		{"/" + strings.Repeat("a", 3000), false},
	} {
		_, err := checkReturnTo(tt.in, "returnTo")
		if (err == nil) != tt.ok {
			t.Errorf("checkReturnTo(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestAppendQuery(t *testing.T) {
	v := url.Values{"result": {"error"}, "error_description": {"a b&c=d"}}
	for in, want := range map[string]string{
		"/x":         "/x?error_description=a+b%26c%3Dd&result=error",
		"/x?tab=1":   "/x?tab=1&error_description=a+b%26c%3Dd&result=error",
		"/x?t=1#top": "/x?t=1&error_description=a+b%26c%3Dd&result=error#top",
	} {
		if got := appendQuery(in, v); got != want {
			t.Errorf("appendQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDecodeDatasource feeds arbitrary bytes to the strict decoder the
// API uses for datasource bodies: it must never panic, and whatever it
// accepts must also be valid JSON that encoding/json decodes.
func FuzzDecodeDatasource(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"x","url":"https://a","auth":{"grantType":"client_credentials","clientSecret":null}}`,
		`{"auth":{"pkce":"x","customAuthParams":{"a":1}}}`, `{"id":"ds_1","createdAt":5,"authorization":{}}`,
		`[]`, `null`, `{"auth":null}`, `{"auth":{"clientSecretSet":true,"expiresInDefault":1e99}}`,
		`{"auth":{"privateKey":null,"serviceAccountJson":{},"upstreamPrivateKey":"","privateKeyFingerprint":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var body datasourceBody
		errs, err := decodeFields(b, &body, readOnlyFields...)
		if err != nil {
			return
		}
		for _, e := range errs {
			if e.Field == "" || e.Message == "" {
				t.Fatalf("empty field error %+v", e)
			}
		}
		body.secrets(&datasource.Datasource{}, &errs)
	})
}

// FuzzCallbackQuery: whatever query the callback gets, the return-to and
// query handling never panics and never builds a redirect off the origin.
func FuzzCallbackQuery(f *testing.F) {
	for _, s := range []string{"/x", "/datasources/ds_1?tab=a#b", "//evil", "/\\evil", "javascript:1", "/%0d%0aSet-Cookie:x"} {
		f.Add(s, "error", "desc&x=y")
	}
	f.Fuzz(func(t *testing.T, returnTo, code, desc string) {
		rt, err := checkReturnTo(returnTo, "returnTo")
		if err != nil {
			return
		}
		if rt == "" {
			rt = "/datasources/ds_1"
		}
		loc := appendQuery(rt, url.Values{"error": {code}, "error_description": {desc}})
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("redirect %q does not parse", loc)
		}
		if u.Scheme != "" || u.Host != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			t.Fatalf("redirect %q leaves the origin", loc)
		}
		if strings.ContainsAny(loc, "\r\n") {
			t.Fatalf("redirect %q can split headers", loc)
		}
		if u.Query().Get("error_description") != desc && !strings.Contains(rt, "error_description") {
			t.Fatalf("description %q came back as %q", desc, u.Query().Get("error_description"))
		}
	})
}
