package mcp_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/mcp"
)

// TestSharedDatasourceOverMCP: the SDK's own client connects over HTTP
// with an API key holding mcp, at the SDK's latest protocol revision;
// the tools describe the datasources the key covers with their
// descriptions; call_datasource reaches the provider's API with grantd's
// token and follows the proxy's rules; the call is audited and counted.
func TestSharedDatasourceOverMCP(t *testing.T) {
	h := newHarness(t)
	weather := h.shared("Weather", "Forecasts for any city; GET /forecast?city=NAME")
	h.shared("Billing", "Invoices and payments")
	key := h.key("agent", []string{"mcp"}, "Weather")
	cs, ht := h.client(key)

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var callDesc string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
		if tool.Name == mcp.ToolCall {
			callDesc = tool.Description
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{mcp.ToolCall, mcp.ToolList}) {
		t.Fatalf("tools %v", names)
	}
	if !strings.Contains(callDesc, "Weather") || !strings.Contains(callDesc, "Forecasts for any city") || strings.Contains(callDesc, "Billing") {
		t.Errorf("call_datasource's description does not list exactly the key's datasources with their descriptions:\n%s", callDesc)
	}
	if ht.version != "2026-07-28" {
		t.Errorf("protocol version %q, want the SDK's latest, 2026-07-28", ht.version)
	}

	r := callOK(t, cs, map[string]any{"datasource": "weather", "path": "/forecast", "query": map[string]any{"city": "Oslo", "day": []string{"mon", "tue"}},
		"headers": map[string]string{"Authorization": "Bearer stolen", "Grantd-End-User": "someone", "Cookie": "a=b", "Accept": "application/json", "X-Trace": "t1"}})
	got := echoed(t, r)
	if got.ClientID != "svc" || got.Path != "/api/forecast" || got.Method != "GET" || got.Query != "city=Oslo&day=mon&day=tue" {
		t.Errorf("upstream saw %+v", got)
	}
	if got.Headers["Accept"] != "application/json" || got.Headers["X-Trace"] != "t1" || got.Headers["Cookie"] != "" || got.Headers["Grantd-End-User"] != "" ||
		!strings.HasPrefix(got.Headers["Authorization"], "Bearer ") || got.Headers["Authorization"] == "Bearer stolen" || got.Headers["X-Request-Id"] == "" {
		t.Errorf("upstream headers %v", got.Headers)
	}
	if !slices.Equal(r.IgnoredHeaders, []string{"Authorization", "Cookie", "Grantd-End-User"}) {
		t.Errorf("ignored headers %v", r.IgnoredHeaders)
	}
	if r.Headers["Content-Type"] != "application/json" || r.Truncated || r.Binary || r.BodyBytes != int64(len(r.Body)) {
		t.Errorf("result %+v", r)
	}

	// POST with a JSON body (an object is sent as JSON).
	r = callOK(t, cs, map[string]any{"datasource": weather, "method": "post", "path": "alerts", "body": map[string]any{"city": "Oslo"}})
	if got := echoed(t, r); got.Method != "POST" || got.Path != "/api/alerts" || got.Body != `{"city":"Oslo"}` || got.Headers["Content-Type"] != "application/json" {
		t.Errorf("POST: upstream saw %+v", got)
	}

	// The proxy's rules: the path stays inside the base URL.
	for _, p := range []string{"/../oauth2/token", "/%2e%2e/oauth2/token", "/a/..;/b", "//evil.example/x", "http://evil.example/"} {
		e := callErr(t, cs, map[string]any{"datasource": "Weather", "path": p})
		if e.Code != "refused" && e.Code != "invalid_arguments" {
			t.Errorf("path %q: %+v", p, e)
		}
	}
	// A datasource the key does not cover, or none at all: the same words.
	e1 := callErr(t, cs, map[string]any{"datasource": "Billing", "path": "/"})
	e2 := callErr(t, cs, map[string]any{"datasource": "Nope", "path": "/"})
	if e1.Code != "refused" || strings.Replace(e1.Error, "Billing", "Nope", 1) != e2.Error {
		t.Errorf("out of reach %+v vs unknown %+v", e1, e2)
	}

	events := h.audited()
	if len(events) < 3 {
		t.Fatalf("%d audit events", len(events))
	}
	first := events[0]
	if first.Tool != mcp.ToolCall || first.DatasourceID != weather || first.Method != "GET" || first.Path != "/forecast" ||
		first.HTTPStatus != 200 || !strings.HasPrefix(first.Actor, "key:") || !strings.Contains(first.Actor, "(agent)") {
		t.Errorf("audit event %+v", first)
	}
	for _, e := range events {
		if strings.Contains(e.Path, "Oslo") || strings.Contains(e.Detail, "Oslo") {
			t.Errorf("an audit event holds the query or body: %+v", e)
		}
	}
	code, metrics := h.do("GET", "/metrics", nil)
	if code != 200 || !strings.Contains(string(metrics), `grantd_mcp_tool_calls_total{outcome="ok",status="200",tool="call_datasource"} 2`) ||
		!strings.Contains(string(metrics), `grantd_mcp_tool_calls_total{outcome="refused",status="",tool="call_datasource"}`) {
		t.Errorf("metrics:\n%s", grepLines(string(metrics), "grantd_mcp_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
