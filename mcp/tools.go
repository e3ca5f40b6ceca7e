package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grantd/grantd/datasource"
)

// Tool names.
const (
	ToolList = "list_datasources"
	ToolCall = "call_datasource"
)

// Methods call_datasource sends.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// maxDescribed bounds how many datasources call_datasource's description
// lists (list_datasources lists them all).
const maxDescribed = 100

func boolp(b bool) *bool { return &b }

func listTool() *sdk.Tool {
	return &sdk.Tool{
		Name:  ToolList,
		Title: "List datasources",
		Description: "Lists the datasources (APIs) you may call through grantd: name, description, base URL and status for this end user. " +
			"Status \"authorized\" means calls will be authenticated; \"not_connected\" or \"needs_reauthorization\" means the person must connect their account first (call_datasource returns a link for them).",
		InputSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{}, AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}}},
		Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: boolp(false)},
	}
}

// callTool describes call_datasource for a caller who may call visible:
// its description and the datasource parameter name them, with their own
// descriptions.
func callTool(visible []*datasource.Datasource) *sdk.Tool {
	var b strings.Builder
	b.WriteString("Makes one HTTP request to a datasource (an API) through grantd, which adds the credentials: never send tokens yourself. ")
	b.WriteString("The path is relative to the datasource's base URL. The answer has the status, selected headers and the body as text (long bodies are cut and marked truncated; binary bodies are described, not included). ")
	b.WriteString("If the person has not connected their account, the result is an error with a connectUrl to give them; after they connect, make the same call again.")
	names := make([]any, 0, len(visible))
	if len(visible) > 0 {
		b.WriteString("\n\nDatasources:")
	}
	for i, d := range visible {
		names = append(names, d.Name)
		if i == maxDescribed {
			fmt.Fprintf(&b, "\n- … and %d more (see list_datasources)", len(visible)-maxDescribed)
			continue
		}
		if i > maxDescribed {
			continue
		}
		fmt.Fprintf(&b, "\n- %s (%s)", d.Name, d.URL)
		if d.Description != "" {
			b.WriteString(": " + d.Description)
		}
	}
	dsSchema := &jsonschema.Schema{Type: "string", Description: "The datasource's name (or id), as list_datasources shows it."}
	if len(names) > 0 && len(names) <= maxDescribed {
		dsSchema.Enum = names
	}
	methodEnum := make([]any, len(methods))
	for i, m := range methods {
		methodEnum[i] = m
	}
	return &sdk.Tool{
		Name:        ToolCall,
		Title:       "Call a datasource",
		Description: b.String(),
		InputSchema: &jsonschema.Schema{
			Type: "object",
			Properties: map[string]*jsonschema.Schema{
				"datasource": dsSchema,
				"method":     {Type: "string", Enum: methodEnum, Default: json.RawMessage(`"GET"`), Description: "The HTTP method; default GET."},
				"path":       {Type: "string", Description: "The path below the datasource's base URL, e.g. /v1/items/42. No query string: use query."},
				"query": {Type: "object", Description: "Query parameters: a string, or a list of strings for a repeated parameter.",
					AdditionalProperties: &jsonschema.Schema{AnyOf: []*jsonschema.Schema{{Type: "string"}, {Type: "array", Items: &jsonschema.Schema{Type: "string"}}}}},
				"headers": {Type: "object", Description: "Extra request headers (e.g. Accept, Content-Type). Authorization, cookies and Grantd-* headers are never sent.",
					AdditionalProperties: &jsonschema.Schema{Type: "string"}},
				"body": {Description: "The request body: a string is sent as it is; an object or array is sent as JSON (Content-Type application/json unless headers set one)."},
			},
			PropertyOrder:        []string{"datasource", "method", "path", "query", "headers", "body"},
			Required:             []string{"datasource", "path"},
			AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}},
		},
		OutputSchema: callOutputSchema,
		Annotations:  &sdk.ToolAnnotations{DestructiveHint: boolp(true), OpenWorldHint: boolp(true)},
	}
}

// callOutputSchema describes CallResult.
var callOutputSchema = &jsonschema.Schema{
	Type: "object",
	Properties: map[string]*jsonschema.Schema{
		"status":         {Type: "integer", Description: "The upstream's HTTP status."},
		"headers":        {Type: "object", AdditionalProperties: &jsonschema.Schema{Type: "string"}, Description: "Selected response headers."},
		"contentType":    {Type: "string"},
		"body":           {Type: "string", Description: "The body as text, cut at the limit when truncated; empty for a binary body."},
		"truncated":      {Type: "boolean", Description: "The body is longer than what is shown."},
		"bodyBytes":      {Type: "integer", Description: "The body's size in bytes when known (Content-Length, or read to the end), else the bytes read."},
		"binary":         {Type: "boolean", Description: "The body is not text: it is described, not included."},
		"ignoredHeaders": {Type: "array", Items: &jsonschema.Schema{Type: "string"}, Description: "Request headers grantd did not send."},
	},
	Required: []string{"status", "headers", "body", "truncated", "bodyBytes"},
}

// DatasourceInfo is one entry of list_datasources.
type DatasourceInfo struct {
	Name        string `json:"name"`
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
	// PerUser: calls use the end user's own connection.
	PerUser bool `json:"perUser"`
	// Status is the authorization status for this end user: authorized,
	// unauthorized, needs_reauthorization, error; not_connected (a
	// per-user datasource this end user has not connected yet); or
	// end_user_required (a per-user datasource called with an API key
	// without Grantd-End-User).
	Status string `json:"status"`
	// ExpiresAt is when the current access token expires, if known.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// Status values of DatasourceInfo beyond datasource.Status.
const (
	StatusNotConnected    = "not_connected"
	StatusEndUserRequired = "end_user_required"
)

// ListResult is list_datasources's structured result.
type ListResult struct {
	EndUserID   string           `json:"endUserId,omitempty"`
	Datasources []DatasourceInfo `json:"datasources"`
}

func (s *Server) listDatasources(c *caller) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		start := time.Now()
		res, err := s.list(ctx, c, req)
		outcome := outcomeOK
		if err != nil {
			outcome = outcomeFailed
		}
		s.record(c, ToolList, nil, "", "", 0, outcome, start)
		if err != nil {
			return toolError(err.Error(), nil), nil
		}
		return structured(res), nil
	}
}

func (s *Server) list(ctx context.Context, c *caller, req *sdk.CallToolRequest) (*ListResult, error) {
	if err := noArguments(req); err != nil {
		return nil, err
	}
	visible, err := s.visible(ctx, c)
	if err != nil {
		s.log.Warn("list_datasources failed", "requestId", c.requestID, "by", c.actor, "err", err)
		return nil, errors.New("the datasources cannot be listed right now")
	}
	out := &ListResult{EndUserID: c.endUser, Datasources: make([]DatasourceInfo, 0, len(visible))}
	for _, d := range visible {
		info := DatasourceInfo{Name: d.Name, ID: d.ID, Description: d.Description, URL: d.URL, PerUser: d.PerUser()}
		k := datasource.SharedKey(d.ID)
		if d.PerUser() {
			k.EndUser = c.endUser
		}
		switch {
		case d.PerUser() && c.endUser == "":
			info.Status = StatusEndUserRequired
		default:
			a, err := s.cfg.Engine.Status(ctx, k)
			switch {
			case errors.Is(err, datasource.ErrNotFound) && d.PerUser():
				info.Status = StatusNotConnected
			case err != nil:
				info.Status = string(datasource.StatusError)
			default:
				info.Status = string(a.Status)
				if a.ExpiresAt != nil {
					t := a.ExpiresAt.UTC()
					info.ExpiresAt = &t
				}
			}
		}
		out.Datasources = append(out.Datasources, info)
	}
	return out, nil
}

// noArguments refuses arguments to a tool that takes none.
func noArguments(req *sdk.CallToolRequest) error {
	raw := strings.TrimSpace(string(req.Params.Arguments))
	if raw == "" || raw == "null" || raw == "{}" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m) > 0 {
		return errors.New("list_datasources takes no arguments")
	}
	return nil
}

// structured is a successful result: v as structured content and, for
// clients that read only text, as JSON text (MCP 2025-06-18 §tools,
// structured content).
func structured(v any) *sdk.CallToolResult {
	b, _ := json.Marshal(v)
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}, StructuredContent: json.RawMessage(b)}
}

// ToolError is the structured content of a tool error.
type ToolError struct {
	Error string `json:"error"`
	// Code classifies it: not_connected, end_user_required,
	// not_authorized, refused, invalid_arguments, upstream_failed,
	// token_endpoint_failed, unavailable.
	Code string `json:"code,omitempty"`
	// ConnectURL is a fresh link for the end user to connect their
	// account, when that is what the call needs.
	ConnectURL string `json:"connectUrl,omitempty"`
	// Datasource is the datasource the call was for.
	Datasource string `json:"datasource,omitempty"`
}

// toolError is a tool error result (isError): the agent sees it and may
// act on it; it is not a protocol error. Its content is the message (and
// the connect link) in words, then the ToolError as JSON.
func toolError(msg string, e *ToolError) *sdk.CallToolResult {
	if e == nil {
		e = &ToolError{}
	}
	e.Error = msg
	b, _ := json.Marshal(e)
	text := msg
	if e.ConnectURL != "" {
		text += "\nconnectUrl: " + e.ConnectURL
	}
	// No structured content: a tool's output schema describes its
	// successful results, and clients may check them against it.
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: text}, &sdk.TextContent{Text: string(b)}}}
}
