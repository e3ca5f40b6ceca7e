package datasource

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// URL templates
//
// url, auth.accessTokenUrl and auth.authorizationUrl may hold {name}
// placeholders: https://{subdomain}.zendesk.com/api/v2,
// https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token,
// https://{token.instance_url}. What may stand where, and what a value may
// hold, is decided here once for every use (validation, token requests,
// the proxy, origins):
//
//   - A placeholder stands in the host or in the path, never in the
//     scheme, the port, user information or the query.
//   - {name} is filled from connectionConfig: the connection's value over
//     the datasource's, except for a placeholder that is the whole host
//     (https://{domain}/…), which only the datasource's own
//     connectionConfig fills — a connect session must not pick the host a
//     client secret or a user's token is sent to.
//   - In the host a value is a host name or a part of one: ASCII letters,
//     digits, hyphens and dots, and the host it makes has labels of 1–63
//     characters that neither start nor end with a hyphen. So no value can
//     add a port, user information, a path or a query, or change the
//     scheme.
//   - In the path a value is one segment of unreserved characters
//     (letters, digits, "-", "_", "~", and "." but not first): never "/",
//     "%", "." or "..".
//   - {token.x} is filled from the field x of the token answer, kept with
//     the token (auth.tokenResponse.keep), in url only: the token
//     endpoints are needed before there is a token. When it is the whole
//     host and the kept value is an absolute URL (Salesforce's
//     instance_url is https://acme.my.salesforce.com), the value's host
//     and port stand in for it; its scheme must be the template's, and it
//     may carry no user information, path, query or fragment. Any other
//     kept value follows the rules above for where it stands.
//
// The filled URL is then checked as any URL is (absolute http or https,
// a host, no user information or fragment), and its host must be exactly
// the one built, so no parser can read it differently.

// Position says where in a URL a placeholder stands.
type Position int

const (
	// InHost: in the host, alone or with literal text around it.
	InHost Position = iota
	// InPath: in the path.
	InPath
)

// tokenPrefix marks a placeholder filled from a kept token field.
const tokenPrefix = "token."

// Placeholder is one {name} of a URL template.
type Placeholder struct {
	// Name is what stands between the braces: "subdomain", or
	// "token.instance_url".
	Name  string
	Where Position
	// WholeHost is true when the placeholder is the entire host.
	WholeHost bool
}

// TokenField returns the kept field a {token.x} placeholder names, and
// whether it is one.
func (p Placeholder) TokenField() (string, bool) { return strings.CutPrefix(p.Name, tokenPrefix) }

// IsTemplate reports whether raw holds placeholders (or stray braces).
func IsTemplate(raw string) bool { return strings.ContainsAny(raw, "{}") }

// template is a parsed URL template.
type template struct {
	raw       string
	scheme    string // "http" or "https", lower case
	authStart int    // where the authority begins (after "://")
	authEnd   int    // where it ends
	hostEnd   int    // where the host ends (before ":port")
	spans     []span
}

// span is one placeholder: raw[start:end] is "{name}".
type span struct {
	Placeholder
	start, end int
}

// parseTemplate parses raw. Its error is a message for a FieldError.
func parseTemplate(raw string) (*template, error) {
	t := &template{raw: raw}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || strings.ContainsAny(scheme, "{}") {
		return nil, errors.New("must start with http:// or https:// (a placeholder cannot fill the scheme)")
	}
	t.scheme = strings.ToLower(scheme)
	if t.scheme != "http" && t.scheme != "https" {
		return nil, fmt.Errorf("must be an absolute http or https URL (got scheme %q)", truncate(scheme, 20))
	}
	t.authStart = len(scheme) + 3
	t.authEnd = len(raw)
	if i := strings.IndexAny(raw[t.authStart:], "/?#"); i >= 0 {
		t.authEnd = t.authStart + i
	}
	query := len(raw)
	if i := strings.IndexAny(raw[t.authEnd:], "?#"); i >= 0 {
		query = t.authEnd + i
	}
	auth := raw[t.authStart:t.authEnd]
	if strings.ContainsAny(auth, "@[]") {
		return nil, errors.New("must not contain user information or an IPv6 literal in a template")
	}
	t.hostEnd = t.authEnd
	if i := strings.LastIndexByte(auth, ':'); i >= 0 {
		if strings.ContainsAny(auth[i:], "{}") {
			return nil, errors.New("a placeholder cannot fill the port")
		}
		t.hostEnd = t.authStart + i
	}
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '}':
			return nil, fmt.Errorf("has a '}' without a '{' at %d", i)
		case '{':
			end := strings.IndexAny(raw[i+1:], "{}")
			if end < 0 || raw[i+1+end] != '}' {
				return nil, fmt.Errorf("has an unclosed '{' at %d", i)
			}
			name := raw[i+1 : i+1+end]
			if !validPlaceholder(name) {
				return nil, fmt.Errorf("has a placeholder {%s}: a name is a letter, then letters, digits or _ (or token. and a kept field's name)", truncate(name, 40))
			}
			s := span{Placeholder: Placeholder{Name: name}, start: i, end: i + end + 2}
			switch {
			case s.start >= t.authStart && s.end <= t.hostEnd:
				s.Where = InHost
				s.WholeHost = s.start == t.authStart && s.end == t.hostEnd
			case s.start >= t.authEnd && s.end <= query:
				s.Where = InPath
			default:
				return nil, fmt.Errorf("has {%s} in its query: a placeholder may stand in the host or the path only", name)
			}
			t.spans = append(t.spans, s)
			i = s.end - 1
		}
	}
	return t, nil
}

// ParseTemplate returns the placeholders of the URL template raw, in
// order (a name used twice is listed twice). The error says what is wrong
// with the template.
func ParseTemplate(raw string) ([]Placeholder, error) {
	t, err := parseTemplate(raw)
	if err != nil {
		return nil, err
	}
	out := make([]Placeholder, len(t.spans))
	for i, s := range t.spans {
		out[i] = s.Placeholder
	}
	return out, nil
}

func validPlaceholder(name string) bool {
	return validPlaceholderName(strings.TrimPrefix(name, tokenPrefix))
}

// validPlaceholderName reports whether n may name a placeholder or a kept
// field: a letter, then letters, digits or _, at most 64.
func validPlaceholderName(n string) bool {
	if n == "" || len(n) > 64 || !isASCIILetter(n[0]) {
		return false
	}
	for i := 1; i < len(n); i++ {
		if c := n[i]; !isASCIILetter(c) && !('0' <= c && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// Values fill URL templates.
type Values struct {
	// Shared is the datasource's connectionConfig.
	Shared map[string]string
	// Connection is a connection's connectionConfig: its values win over
	// Shared's, except for a placeholder that is the whole host.
	Connection map[string]string
	// Token holds the kept fields of the token answer, for {token.x}.
	Token map[string]string
}

// lookup returns the value for p and, when there is none, where one
// should have come from.
func (v Values) lookup(p Placeholder) (string, bool) {
	if f, ok := p.TokenField(); ok {
		s, ok := v.Token[f]
		return s, ok
	}
	if !p.WholeHost {
		if s, ok := v.Connection[p.Name]; ok {
			return s, true
		}
	}
	s, ok := v.Shared[p.Name]
	return s, ok
}

// ErrTemplate is returned (wrapped in a *TemplateError) when a URL
// template cannot be filled.
var ErrTemplate = errors.New("datasource: URL template cannot be filled")

// TemplateError says why a URL template could not be filled: a value is
// missing, or it is not allowed where it stands. It names no value.
type TemplateError struct {
	// Field is the template's field (url, auth.accessTokenUrl, …) when
	// known.
	Field string
	// Name is the placeholder ("subdomain", "token.instance_url").
	Name string
	// Missing is true when no value was given.
	Missing bool
	// Reason says what the value must be, when it was refused.
	Reason string
}

func (e *TemplateError) Error() string {
	where := ""
	if e.Field != "" {
		where = " in " + e.Field
	}
	if e.Missing {
		if f, ok := strings.CutPrefix(e.Name, tokenPrefix); ok {
			return fmt.Sprintf("datasource: {%s}%s has no value: the token answer held no %s (authorize again)", e.Name, where, f)
		}
		return fmt.Sprintf("datasource: {%s}%s has no value: connectionConfig.%s is not set", e.Name, where, e.Name)
	}
	return fmt.Sprintf("datasource: {%s}%s: the value %s", e.Name, where, e.Reason)
}

// Unwrap returns ErrTemplate.
func (e *TemplateError) Unwrap() error { return ErrTemplate }

// Rules for values, as messages.
const (
	hostRule    = "must be a host name or part of one (letters, digits, hyphens and dots; labels of 1–63 characters not starting or ending with a hyphen)"
	segmentRule = "must be one path segment of letters, digits, -, _, ~ and . (not first)"
)

// ExpandURL fills the placeholders of the URL template raw from v (see
// the rules above) and checks the URL it makes. A URL without
// placeholders is returned as it is. Errors: *TemplateError (errors.Is
// ErrTemplate) for a missing or refused value, or an error describing a
// template that does not parse.
func ExpandURL(raw string, v Values) (string, error) {
	if !IsTemplate(raw) {
		return raw, nil
	}
	t, err := parseTemplate(raw)
	if err != nil {
		return "", fmt.Errorf("datasource: URL template %w", err)
	}
	return t.expand(v)
}

func (t *template) expand(v Values) (string, error) {
	var b strings.Builder
	last, delta := 0, 0 // delta: how much longer the host grew
	for _, s := range t.spans {
		val, ok := v.lookup(s.Placeholder)
		if !ok || val == "" {
			return "", &TemplateError{Name: s.Name, Missing: true}
		}
		fromURL := false
		if s.WholeHost {
			if _, isTok := s.TokenField(); isTok {
				if h, ok, err := hostOfURL(val, t.scheme); ok {
					if err != nil {
						return "", &TemplateError{Name: s.Name, Reason: err.Error()}
					}
					val, fromURL = h, true // its host and port, checked below
				}
			}
		}
		if !fromURL {
			if err := checkValue(s.Placeholder, val); err != nil {
				return "", &TemplateError{Name: s.Name, Reason: err.Error()}
			}
		}
		b.WriteString(t.raw[last:s.start])
		b.WriteString(val)
		last = s.end
		if s.Where == InHost {
			delta += len(val) - (s.end - s.start)
		}
	}
	b.WriteString(t.raw[last:])
	out := b.String()
	host := out[t.authStart : t.hostEnd+delta]
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h // a URL-form {token.x} brought its port
	}
	if !validHost(hostname) {
		name := ""
		for _, s := range t.spans {
			if s.Where == InHost {
				name = s.Name
			}
		}
		return "", &TemplateError{Name: name, Reason: "makes a host that is not a host name (an empty label, a label over 63 characters, or one that starts or ends with a hyphen)"}
	}
	u, err := url.Parse(out)
	if err != nil || u.Scheme != t.scheme || u.User != nil || u.Fragment != "" ||
		!strings.EqualFold(u.Host, host+t.raw[t.hostEnd:t.authEnd]) || !validPort(u.Port()) {
		return "", &TemplateError{Name: t.spans[0].Name, Reason: "makes a URL that does not parse as the template says"}
	}
	return out, nil
}

// hostOfURL returns the host[:port] of val when val is an absolute URL
// (ok), refusing one whose scheme is not scheme or that carries more than
// an origin.
func hostOfURL(val, scheme string) (host string, ok bool, err error) {
	if !strings.Contains(val, "://") {
		return "", false, nil
	}
	u, perr := url.Parse(val)
	switch {
	case perr != nil || u.Host == "":
		return "", true, errors.New("is not an absolute URL")
	case !strings.EqualFold(u.Scheme, scheme):
		return "", true, fmt.Errorf("is a %s URL where the template wants %s", truncate(u.Scheme, 10), scheme)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return "", true, errors.New("must be an origin (scheme://host[:port]) with no user information, path or query")
	case !validPort(u.Port()):
		return "", true, errors.New("has an invalid port")
	}
	return u.Host, true, nil
}

// checkValue checks a value for where p stands.
func checkValue(p Placeholder, val string) error {
	if len(val) > 253 {
		return errors.New("must be at most 253 characters")
	}
	if p.Where == InPath {
		if val[0] == '.' || !allBytes(val, isSegmentByte) {
			return errors.New(segmentRule)
		}
		return nil
	}
	if !allBytes(val, isHostByte) || p.WholeHost && !validHost(val) {
		return errors.New(hostRule)
	}
	return nil
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isHostByte(c byte) bool {
	return isASCIILetter(c) || '0' <= c && c <= '9' || c == '-' || c == '.'
}

func isSegmentByte(c byte) bool {
	return isASCIILetter(c) || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// validHost reports whether h is a DNS host name (or dotted IPv4): labels
// of 1–63 letters, digits and hyphens, not starting or ending with a
// hyphen, at most 253 characters.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isASCIILetter(c) && !('0' <= c && c <= '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// TemplateOrigin returns the origin (see Origin) a URL template sends
// to, as far as the datasource decides it: the template filled with the
// datasource's own connectionConfig, placeholders it leaves open (a
// connection's values, kept token fields) kept as written. Two templates
// with the same TemplateOrigin send to the same hosts whatever fills the
// open placeholders. A URL without placeholders gives Origin(raw).
func TemplateOrigin(raw string, shared map[string]string) string {
	if !IsTemplate(raw) {
		return Origin(raw)
	}
	t, err := parseTemplate(raw)
	if err != nil {
		return strings.ToLower(raw)
	}
	filled := t.fill(shared)
	// The authority of the filled template, as text: braces do not parse.
	_, rest, _ := strings.Cut(filled, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	rest = strings.ToLower(rest)
	if t.scheme == "https" {
		rest = strings.TrimSuffix(rest, ":443")
	} else {
		rest = strings.TrimSuffix(rest, ":80")
	}
	return t.scheme + "://" + rest
}

// fillShared returns raw with the placeholders shared fills (with values
// allowed where they stand) filled and every other one kept as written.
func fillShared(raw string, shared map[string]string) string {
	if !IsTemplate(raw) {
		return raw
	}
	t, err := parseTemplate(raw)
	if err != nil {
		return raw
	}
	return t.fill(shared)
}

func (t *template) fill(shared map[string]string) string {
	var b strings.Builder
	last := 0
	for _, s := range t.spans {
		b.WriteString(t.raw[last:s.start])
		last = s.end
		if _, isTok := s.TokenField(); !isTok {
			if val, ok := shared[s.Name]; ok && val != "" && checkValue(s.Placeholder, val) == nil {
				b.WriteString(val)
				continue
			}
		}
		b.WriteString(t.raw[s.start:s.end])
	}
	b.WriteString(t.raw[last:])
	return b.String()
}

// templateFields are the fields that may hold templates, by JSON path.
func (d *Datasource) templateFields() []templateField {
	return []templateField{
		{"url", d.URL, false},
		{"auth.accessTokenUrl", d.Auth.AccessTokenURL, true},
		{"auth.authorizationUrl", d.Auth.AuthorizationURL, true},
	}
}

type templateField struct {
	field, raw string
	allowQuery bool
}

// perConnectionValues reports whether connections may fill d's
// placeholders: a per-user datasource whose end users connect through a
// connect session (authorization code). Every other datasource fills them
// from its own connectionConfig.
func (d *Datasource) perConnectionValues() bool {
	return d.PerUser() && d.Auth.GrantType == AuthorizationCode
}

// checkTemplates validates the templates of d and the connectionConfig
// values they use (see the rules above), adding a FieldError for each
// problem: a template that does not parse or sets something a template
// cannot, {token.x} outside url or naming a field not kept, a value not
// allowed where it stands, and a value missing from the datasource's
// connectionConfig that no connection may supply. A template filled with
// values of the right shape must pass the checks of a plain URL.
//
// It returns the fields whose templates it checked (so they are not
// checked again as plain URLs).
func (d *Datasource) checkTemplates(v *ValidationError) (checked []string) {
	reported := map[string]bool{}
	report := func(name, format string, args ...any) {
		if !reported[name] {
			reported[name] = true
			v.add("connectionConfig."+name, format, args...)
		}
	}
	for _, f := range d.templateFields() {
		if !IsTemplate(f.raw) {
			continue
		}
		checked = append(checked, f.field)
		if len(f.raw) > maxURLLen {
			v.add(f.field, "must be at most %d bytes", maxURLLen)
			continue
		}
		if hasControl(f.raw) || strings.ContainsAny(f.raw, " \\") {
			v.add(f.field, "must be an absolute http or https URL without spaces, backslashes or control characters")
			continue
		}
		t, err := parseTemplate(f.raw)
		if err != nil {
			v.add(f.field, "%v", err)
			continue
		}
		// Filled with values of the right shape (the datasource's own
		// where they are good), the template must make a valid URL.
		sample := Values{Shared: map[string]string{}, Token: map[string]string{}}
		bad := false
		for _, s := range t.spans {
			if k, ok := s.TokenField(); ok {
				switch {
				case f.field != "url":
					v.add(f.field, "cannot use {%s}: {token.…} placeholders fill url only, as the token endpoints are needed before there is a token", s.Name)
					bad = true
				case !slices.Contains(d.Auth.TokenResponse.Keep, k):
					v.add(f.field, "uses {%s}, but auth.tokenResponse.keep does not name %s", s.Name, k)
					bad = true
				}
				sample.Token[k] = sampleValue(s.Placeholder)
				continue
			}
			sample.Shared[s.Name] = sampleValue(s.Placeholder)
		}
		if bad {
			continue
		}
		out, err := t.expand(sample)
		if err != nil {
			v.add(f.field, "does not make a valid URL once its placeholders are filled")
			continue
		}
		before := len(v.Errors)
		checkURL(v, f.field, out, true, f.allowQuery)
		if f.field == "auth.authorizationUrl" {
			checkQueryReserved(v, f.field, out, reservedAuthParams)
		}
		if len(v.Errors) > before {
			continue
		}
		for _, s := range t.spans {
			if _, ok := s.TokenField(); ok {
				continue
			}
			val, ok := d.ConnectionConfig[s.Name]
			switch {
			case ok && val != "":
				if err := checkValue(s.Placeholder, val); err != nil {
					report(s.Name, "%v: it fills {%s} in the %s of %s", err, s.Name, where(s.Placeholder), f.field)
					continue
				}
				sample.Shared[s.Name] = val
			case s.WholeHost && d.PerUser():
				report(s.Name, "must be set on the datasource: {%s} is the whole host of %s, which a connection may not choose", s.Name, f.field)
			case !d.perConnectionValues():
				report(s.Name, "is needed: %s uses {%s}", f.field, s.Name)
			}
		}
		if _, err := t.expand(sample); err != nil {
			var te *TemplateError
			if errors.As(err, &te) {
				report(te.Name, "makes %s invalid: the value %s", f.field, te.Reason)
			}
		}
	}
	return checked
}

// CheckConnectionConfig checks the connectionConfig a connect session
// gives for an end user of d: every placeholder of d's templates must then
// have a value allowed where it stands, and no value may be given for a
// placeholder that is a whole host (the datasource decides those). The
// *ValidationError names connectionConfig.<name> for each problem.
func (d *Datasource) CheckConnectionConfig(config map[string]string) error {
	v := &ValidationError{}
	reported := map[string]bool{}
	for _, f := range d.templateFields() {
		if !IsTemplate(f.raw) {
			continue
		}
		t, err := parseTemplate(f.raw)
		if err != nil {
			continue // Validate refused it; it is not the session's fault
		}
		for _, s := range t.spans {
			if _, ok := s.TokenField(); ok || reported[s.Name] {
				continue
			}
			field := "connectionConfig." + s.Name
			if _, given := config[s.Name]; given && s.WholeHost {
				reported[s.Name] = true
				v.add(field, "is set by the datasource: {%s} is the whole host of %s", s.Name, f.field)
				continue
			}
			val, ok := Values{Shared: d.ConnectionConfig, Connection: config}.lookup(s.Placeholder)
			switch {
			case !ok || val == "":
				reported[s.Name] = true
				v.add(field, "is needed: %s uses {%s}", f.field, s.Name)
			default:
				if err := checkValue(s.Placeholder, val); err != nil {
					reported[s.Name] = true
					v.add(field, "%v: it fills {%s} in the %s of %s", err, s.Name, where(s.Placeholder), f.field)
				}
			}
		}
		if len(v.Errors) > 0 {
			continue
		}
		sample := map[string]string{}
		for _, s := range t.spans {
			if k, ok := s.TokenField(); ok {
				sample[k] = sampleValue(s.Placeholder)
			}
		}
		if _, err := t.expand(Values{Shared: d.ConnectionConfig, Connection: config, Token: sample}); err != nil {
			var te *TemplateError
			if errors.As(err, &te) && !reported[te.Name] {
				reported[te.Name] = true
				v.add("connectionConfig."+te.Name, "makes %s invalid: %s", f.field, te.Reason)
			}
		}
	}
	if len(v.Errors) == 0 {
		return nil
	}
	return v
}

func where(p Placeholder) string {
	if p.Where == InPath {
		return "path"
	}
	return "host"
}

// sampleValue is a value of the right shape for p, to check that a
// template makes a valid URL.
func sampleValue(p Placeholder) string {
	switch {
	case p.Where == InPath:
		return "x"
	case p.WholeHost:
		return "example.com"
	}
	return "x"
}

// Expanded returns a copy of d with its token endpoints
// (auth.accessTokenUrl, auth.authorizationUrl) filled from v, or d itself
// when they hold no placeholders. url is left as it is: it may need kept
// token fields (see ExpandURL). Errors: *TemplateError with Field set.
func (d *Datasource) Expanded(v Values) (*Datasource, error) {
	if !IsTemplate(d.Auth.AccessTokenURL) && !IsTemplate(d.Auth.AuthorizationURL) {
		return d, nil
	}
	c := d.Clone()
	for _, f := range []struct {
		field string
		p     *string
	}{{"auth.accessTokenUrl", &c.Auth.AccessTokenURL}, {"auth.authorizationUrl", &c.Auth.AuthorizationURL}} {
		out, err := ExpandURL(*f.p, v)
		if err != nil {
			var te *TemplateError
			if errors.As(err, &te) {
				te.Field = f.field
			}
			return nil, err
		}
		*f.p = out
	}
	return c, nil
}

// ExpandedURL returns d's url filled from v (see ExpandURL). Errors:
// *TemplateError with Field "url".
func (d *Datasource) ExpandedURL(v Values) (string, error) {
	out, err := ExpandURL(d.URL, v)
	var te *TemplateError
	if errors.As(err, &te) {
		te.Field = "url"
	}
	return out, err
}

// UsesTokenFields reports whether d's url needs kept token fields.
func (d *Datasource) UsesTokenFields() bool {
	return strings.Contains(d.URL, "{"+tokenPrefix)
}
