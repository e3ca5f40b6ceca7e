package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/outbound"
)

// CallArgs are call_datasource's arguments.
type CallArgs struct {
	Datasource string                `json:"datasource"`
	Method     string                `json:"method"`
	Path       string                `json:"path"`
	Query      map[string]queryValue `json:"query"`
	Headers    map[string]string     `json:"headers"`
	// Body is sent as it is when it is a JSON string, else as JSON.
	Body json.RawMessage `json:"body"`
}

// queryValue is one query parameter: a string or a list of strings.
type queryValue []string

func (q *queryValue) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*q = queryValue{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("a query parameter is a string or a list of strings")
	}
	*q = many
	return nil
}

// CallResult is call_datasource's structured result.
type CallResult struct {
	Status      int               `json:"status"`
	Headers     map[string]string `json:"headers"`
	ContentType string            `json:"contentType,omitempty"`
	Body        string            `json:"body"`
	Truncated   bool              `json:"truncated"`
	BodyBytes   int64             `json:"bodyBytes"`
	Binary      bool              `json:"binary,omitempty"`
	// IgnoredHeaders are request headers grantd did not send.
	IgnoredHeaders []string `json:"ignoredHeaders,omitempty"`
}

// call is one call_datasource, as it went: for the result, the audit
// event and the metrics.
type call struct {
	ds      *datasource.Datasource
	method  string
	path    string // as asked, without query
	status  int    // the upstream's, 0 when none came
	outcome string
	result  *CallResult
	err     *ToolError
	msg     string
}

// Outcomes of a tool call, for metrics and the audit trail.
const (
	outcomeOK           = "ok"            // the upstream answered (any status)
	outcomeNotConnected = "not_connected" // the end user must connect; a link was given
	outcomeRefused      = "refused"       // bad arguments, a datasource out of reach, a path that escapes
	outcomeFailed       = "failed"        // no token, upstream unreachable or timed out
)

func (s *Server) callDatasource(c *caller) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		start := time.Now()
		k := s.call(ctx, c, req.Params.Arguments)
		s.record(c, ToolCall, k.ds, k.method, k.path, k.status, k.outcome, start)
		if k.err != nil {
			return toolError(k.msg, k.err), nil
		}
		return structured(k.result), nil
	}
}

func refused(code, msg string) *call {
	return &call{outcome: outcomeRefused, msg: msg, err: &ToolError{Code: code}}
}

func (s *Server) call(ctx context.Context, c *caller, raw json.RawMessage) *call {
	var a CallArgs
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return refused("invalid_arguments", "invalid arguments: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	k := &call{method: strings.ToUpper(strings.TrimSpace(a.Method))}
	if k.method == "" {
		k.method = http.MethodGet
	}
	if !slices.Contains(methods, k.method) {
		return refused("invalid_arguments", "method must be one of "+strings.Join(methods, ", "))
	}
	if strings.TrimSpace(a.Datasource) == "" {
		return refused("invalid_arguments", "datasource is required (a name from list_datasources)")
	}
	path, err := requestPath(a.Path)
	if err != nil {
		r := refused("invalid_arguments", err.Error())
		r.method = k.method
		return r
	}
	k.path = path
	body, contentType, err := requestBody(a.Body, s.cfg.MaxRequestBody)
	if err != nil {
		k.outcome, k.msg, k.err = outcomeRefused, err.Error(), &ToolError{Code: "invalid_arguments"}
		return k
	}

	d, err := s.cfg.Engine.DatasourceByNameOrID(ctx, a.Datasource)
	if err != nil && !errors.Is(err, datasource.ErrNotFound) {
		return s.failed(c, k, err)
	}
	if d == nil || !c.covers(d) {
		// The same words for an unknown datasource and one out of reach:
		// a caller learns nothing about datasources beyond its own.
		k.outcome, k.msg, k.err = outcomeRefused, fmt.Sprintf("there is no datasource %q that you may call; list_datasources shows those you may", a.Datasource), &ToolError{Code: "refused"}
		return k
	}
	k.ds = d
	k.err = &ToolError{Datasource: d.Name}

	t, err := s.cfg.Engine.Resolve(ctx, datasource.Key{Datasource: d.ID, EndUser: c.endUser})
	if err != nil {
		return s.failed(c, k, err)
	}
	if c.subject != "" {
		t = t.WithSubjectToken(c.subject)
	}
	base, err := url.Parse(t.Datasource().URL)
	if err != nil {
		return s.failed(c, k, err)
	}
	joined, err := outbound.JoinPath(base.EscapedPath(), path)
	if err != nil {
		k.outcome, k.msg, k.err.Code = outcomeRefused, "the path is refused: it would leave the datasource's base URL", "refused"
		return k
	}
	u := base.Scheme + "://" + base.Host + joined
	if q := encodeQuery(a.Query); q != "" {
		u += "?" + q
	}

	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, k.method, u, nil)
	if err != nil {
		k.outcome, k.msg, k.err.Code = outcomeRefused, "the request cannot be made: "+err.Error(), "invalid_arguments"
		return k
	}
	ignored := copyHeaders(req.Header, a.Headers)
	if c.requestID != "" {
		req.Header.Set(requestIDHeader, c.requestID)
	}
	if body != nil {
		if req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	tr, err := s.up.transport(ctx, t)
	if err != nil {
		k.outcome, k.msg, k.err.Code = outcomeFailed, "the upstream connection cannot be set up: "+err.Error(), "upstream_failed"
		return k
	}

	// The engine places the token and, after an upstream 401, refreshes
	// once (shared with every caller that saw the same token) and has the
	// request sent again: the body is in memory, so it always can be.
	var resp *http.Response
	sent := false
	err = t.Send(cctx, httpRequest{req}, true, func() (int, error) {
		sent = true
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			resp = nil
		}
		if req.GetBody != nil {
			req.Body, _ = req.GetBody()
		}
		var err error
		resp, err = tr.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	})
	if err != nil {
		if !sent {
			return s.notUsable(ctx, c, k, t.Key(), err) // no token: the engine's verdict
		}
		return s.upstreamFailed(c, k, base.Host, err)
	}
	defer resp.Body.Close()
	k.status = resp.StatusCode
	res, err := readBody(resp, k.method, s.cfg.MaxText)
	if err != nil {
		return s.upstreamFailed(c, k, base.Host, err)
	}
	res.Status, res.Headers, res.IgnoredHeaders = resp.StatusCode, selectedHeaders(resp.Header), ignored
	k.outcome, k.result, k.err = outcomeOK, &res, nil
	return k
}

// requestPath checks and normalises the path an agent asked for: it
// starts with "/", has no query or fragment, and characters a URL path
// cannot hold as they are (spaces, non-ASCII) are percent-encoded. What
// may leave the base URL is refused afterwards by outbound.JoinPath.
func requestPath(p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "/", nil
	}
	if strings.Contains(p, "://") {
		return "", errors.New("path is relative to the datasource's base URL (e.g. /v1/items), not a URL")
	}
	if strings.ContainsAny(p, "?#") {
		return "", errors.New("path has no query string or fragment: put query parameters in query")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		ch := p[i]
		if ch == ' ' || ch >= 0x80 {
			fmt.Fprintf(&b, "%%%02X", ch)
			continue
		}
		b.WriteByte(ch)
	}
	return b.String(), nil
}

// requestBody returns the bytes to send for body and their default
// content type: a JSON string as its text, anything else as JSON.
func requestBody(body json.RawMessage, max int) ([]byte, string, error) {
	raw := bytes.TrimSpace(body)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	out, ct := []byte(raw), "application/json"
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "", errors.New("body is not a valid JSON string")
		}
		out = []byte(s)
		if !json.Valid(out) {
			ct = "text/plain; charset=utf-8"
		}
	}
	if len(out) > max {
		return nil, "", fmt.Errorf("body is over the limit of %d bytes", max)
	}
	return out, ct, nil
}

// encodeQuery encodes q in name order, repeated parameters in the order
// given.
func encodeQuery(q map[string]queryValue) string {
	if len(q) == 0 {
		return ""
	}
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		for _, v := range q[n] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(n))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// copyHeaders sets the agent's headers on h but those the proxy would
// not forward either (outbound.DropRequestHeader) and Accept-Encoding
// (the transport asks for gzip and decodes it, so the body stays text),
// and returns the names it left out.
func copyHeaders(h http.Header, from map[string]string) []string {
	var ignored []string
	for name, v := range from {
		name = strings.TrimSpace(name)
		if outbound.DropRequestHeader(name) || strings.EqualFold(name, "Accept-Encoding") || strings.EqualFold(name, requestIDHeader) ||
			!validHeader(name, v) {
			ignored = append(ignored, name)
			continue
		}
		h.Set(name, v)
	}
	sort.Strings(ignored)
	return ignored
}

// validHeader reports whether name and value can be sent as they are.
func validHeader(name, value string) bool {
	if name == "" || len(name) > 256 || len(value) > 8<<10 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// httpRequest is an *http.Request as a grants.Request.
type httpRequest struct{ r *http.Request }

func (h httpRequest) SetHeader(name, value string) {
	for k := range h.r.Header {
		if k != name && strings.EqualFold(k, name) {
			delete(h.r.Header, k)
		}
	}
	h.r.Header[name] = []string{value}
}
func (h httpRequest) RawQuery() string     { return h.r.URL.RawQuery }
func (h httpRequest) SetRawQuery(q string) { h.r.URL.RawQuery = q }

// notUsable turns the engine's refusal to give a token into a tool error:
// an end user without a usable connection gets a fresh connect link.
func (s *Server) notUsable(ctx context.Context, c *caller, k *call, key datasource.Key, err error) *call {
	k.outcome = outcomeFailed
	var te *grants.TokenError
	switch {
	case errors.Is(err, grants.ErrNotAuthorized) && key.EndUser != "" && !(errors.As(err, &te) && te.Code == "invalid_client"):
		cs, cerr := s.cfg.Engine.CreateConnectSession(ctx, grants.ConnectRequest{DatasourceID: key.Datasource, EndUserID: key.EndUser})
		if cerr != nil {
			s.log.Warn("making a connect link for an agent failed", "requestId", c.requestID, "datasource", key.Datasource, "err", cerr)
			k.msg, k.err.Code = fmt.Sprintf("%s is not connected for end user %s, and a link to connect cannot be made right now", k.ds.Name, key.EndUser), "not_connected"
			return k
		}
		k.outcome = outcomeNotConnected
		k.err.Code, k.err.ConnectURL = "not_connected", s.connectURL(cs.Token)
		k.msg = fmt.Sprintf("The account of end user %s is not connected to %s (or its authorization has lapsed). "+
			"Ask the person to open this link in their browser and connect, then make the same call again.", key.EndUser, k.ds.Name)
	case errors.Is(err, grants.ErrNotAuthorized):
		k.msg, k.err.Code = fmt.Sprintf("%s has no usable authorization in grantd; an administrator must authorize it (%v)", k.ds.Name, err), "not_authorized"
	case errors.Is(err, grants.ErrSubjectTokenRequired):
		k.msg, k.err.Code = k.ds.Name+" exchanges the caller's own token: the MCP client must send it in the "+SubjectTokenHeader+" header", "subject_token_required"
	case errors.As(err, &te):
		k.msg, k.err.Code = "the token endpoint failed: "+te.Reason, "token_endpoint_failed"
	default:
		return s.failed(c, k, err)
	}
	return k
}

// failed turns an error of the engine before any upstream call into a
// tool error.
func (s *Server) failed(c *caller, k *call, err error) *call {
	if k.err == nil {
		k.err = &ToolError{}
	}
	k.outcome = outcomeFailed
	switch {
	case errors.Is(err, grants.ErrEndUserRequired):
		k.outcome, k.msg, k.err.Code = outcomeRefused, k.dsName()+" is per user: the MCP client must name the end user in the "+EndUserHeader+" header", "end_user_required"
	case errors.Is(err, datasource.ErrEndUserID):
		k.outcome, k.msg, k.err.Code = outcomeRefused, "the "+EndUserHeader+" header is not an end user id: "+datasource.EndUserIDRule, "invalid_end_user"
	case errors.Is(err, datasource.ErrNotFound):
		k.outcome, k.msg, k.err.Code = outcomeRefused, "the datasource is gone", "refused"
	case errors.Is(err, datasource.ErrUnavailable), errors.Is(err, grants.ErrClosed):
		k.msg, k.err.Code = "grantd cannot serve this call right now; try again shortly", "unavailable"
	default:
		s.log.Error("call_datasource failed", "requestId", c.requestID, "datasource", k.dsName(), "by", c.actor, "err", err)
		k.msg, k.err.Code = "internal error (request id "+c.requestID+")", "internal"
	}
	return k
}

// upstreamFailed turns a failed upstream call into a tool error: no
// answer in time, an address the dial guard refuses, or no connection.
func (s *Server) upstreamFailed(c *caller, k *call, host string, err error) *call {
	k.outcome, k.err.Code = outcomeFailed, "upstream_failed"
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		k.msg = "the upstream did not answer in time"
	case errors.Is(err, outbound.ErrForbiddenAddress):
		k.msg = "the upstream resolves to a private or loopback address, which is not allowed"
		if re := (*outbound.RefusedError)(nil); errors.As(err, &re) && re.Hint != "" {
			k.msg += " (" + re.Hint + ")"
		}
	default:
		k.msg = "the upstream could not be reached or closed the connection"
	}
	// The URL (and its query, where a token may be placed) stays out of
	// the log: only the host.
	var ue *url.Error
	cause := err
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	s.log.Warn("upstream call failed", "requestId", c.requestID, "datasource", k.dsName(), "host", host, "cause", cause)
	return k
}

func (k *call) dsName() string {
	if k.ds == nil {
		return ""
	}
	return k.ds.Name
}
