package mcp_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grantd/grantd/mcp"
)

// listed calls list_datasources and decodes its structured result.
func listed(t testing.TB, cs *sdk.ClientSession) mcp.ListResult {
	t.Helper()
	res := call(t, cs, mcp.ToolList, nil)
	if res.IsError {
		t.Fatalf("list_datasources: tool error %s", text(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	return decode[mcp.ListResult](t, b)
}

func statusOf(l mcp.ListResult, name string) string {
	for _, d := range l.Datasources {
		if d.Name == name {
			return d.Status
		}
	}
	return "(not listed)"
}

func names(l mcp.ListResult) []string {
	var out []string
	for _, d := range l.Datasources {
		out = append(out, d.Name)
	}
	slices.Sort(out)
	return out
}

// TestPerUserOverMCP: an agent session for end user A calls a per-user
// datasource A has not connected and gets a tool error with a fresh
// connect link; after A's browser connects, the same call succeeds with
// A's account. A session for B never uses A's connection, nor reaches a
// datasource outside its set, whatever headers it sends; an API key with
// mcp names the end user in Grantd-End-User.
func TestPerUserOverMCP(t *testing.T) {
	h := newHarness(t)
	h.perUser("Calendar", "The person's own calendar")
	h.shared("Weather", "Forecasts")
	a := h.agentSession("", "user-a", 600, "Calendar", "Weather")
	if a.MCPURL != h.URL+"/mcp" || !strings.HasPrefix(a.Token, "ga_") || a.EndUserID != "user-a" || len(a.Datasources) != 2 {
		t.Fatalf("agent session %+v", a)
	}
	b := h.agentSession("", "user-b", 600, "Calendar")

	csA, _ := h.client(a.Token)
	l := listed(t, csA)
	if l.EndUserID != "user-a" || statusOf(l, "Calendar") != mcp.StatusNotConnected || !slices.Equal(names(l), []string{"Calendar", "Weather"}) {
		t.Errorf("A lists %+v", l)
	}

	// Not connected: a tool error with a fresh connect link for A.
	e := callErr(t, csA, map[string]any{"datasource": "Calendar", "path": "/events"})
	if e.Code != "not_connected" || !strings.HasPrefix(e.ConnectURL, h.URL+"/connect/") || e.Datasource != "Calendar" || !strings.Contains(e.Error, "user-a") {
		t.Fatalf("unconnected call: %+v", e)
	}
	h.secret(strings.TrimPrefix(e.ConnectURL, h.URL+"/connect/"))
	back := h.connectInBrowser(e.ConnectURL, "alice")
	if back.Query().Get("result") != "authorized" || back.Query().Get("endUserId") != "user-a" {
		t.Errorf("the browser came back with %s", back)
	}
	r := callOK(t, csA, map[string]any{"datasource": "Calendar", "path": "/events"})
	if got := echoed(t, r); got.Subject != "alice" || got.ClientID != "web" || got.Path != "/api/events" {
		t.Errorf("A's call reached %+v", got)
	}
	if s := statusOf(listed(t, csA), "Calendar"); s != "authorized" {
		t.Errorf("after connecting, A sees Calendar %s", s)
	}

	// B: never A's connection, even asking for A's end user.
	csB, _ := h.client(b.Token, "Grantd-End-User", "user-a")
	lb := listed(t, csB)
	if lb.EndUserID != "user-b" || !slices.Equal(names(lb), []string{"Calendar"}) || statusOf(lb, "Calendar") != mcp.StatusNotConnected {
		t.Errorf("B lists %+v", lb)
	}
	eb := callErr(t, csB, map[string]any{"datasource": "Calendar", "path": "/events", "headers": map[string]string{"Grantd-End-User": "user-a"}})
	if eb.Code != "not_connected" || eb.ConnectURL == "" || eb.ConnectURL == e.ConnectURL || !strings.Contains(eb.Error, "user-b") {
		t.Fatalf("B's unconnected call: %+v", eb)
	}
	// A datasource outside B's set: refused like one that does not exist.
	if e := callErr(t, csB, map[string]any{"datasource": "Weather", "path": "/"}); e.Code != "refused" {
		t.Errorf("B calling Weather: %+v", e)
	}
	h.connectInBrowser(eb.ConnectURL, "bob")
	if got := echoed(t, callOK(t, csB, map[string]any{"datasource": "Calendar", "path": "/events"})); got.Subject != "bob" {
		t.Errorf("B's call reached %s's account", got.Subject)
	}
	if got := echoed(t, callOK(t, csA, map[string]any{"datasource": "Calendar", "path": "/events"})); got.Subject != "alice" {
		t.Errorf("A's call reached %s's account", got.Subject)
	}
	if n := h.audited(); len(n) == 0 || !strings.HasPrefix(n[0].Actor, "agent:"+a.ID) || n[0].EndUserID != "user-a" {
		t.Errorf("first audit event %+v", n)
	}

	// An API key with mcp names the end user in the client's headers.
	key := h.key("agent backend", []string{"mcp"})
	csK, _ := h.client(key, "Grantd-End-User", "user-b")
	if got := echoed(t, callOK(t, csK, map[string]any{"datasource": "Calendar", "path": "/me"})); got.Subject != "bob" {
		t.Errorf("key for user-b reached %s", got.Subject)
	}
	csNone, _ := h.client(key)
	if e := callErr(t, csNone, map[string]any{"datasource": "Calendar", "path": "/me"}); e.Code != "end_user_required" {
		t.Errorf("key without an end user: %+v", e)
	}
	if s := statusOf(listed(t, csNone), "Calendar"); s != mcp.StatusEndUserRequired {
		t.Errorf("key without an end user lists Calendar %s", s)
	}
	// A key without mcp, the admin token and an agent token on the API:
	// refused.
	if _, _, err := h.connect(h.key("proxy only", []string{"proxy"})); err == nil {
		t.Error("a key without mcp connected to /mcp")
	}
	if _, _, err := h.connect(adminToken); err == nil {
		t.Error("the admin token connected to /mcp")
	}
	if code, body := h.do("GET", "/api/v1/datasources", nil, "Authorization", "Bearer "+a.Token); code != 401 {
		t.Errorf("an agent token on the API: %d %s", code, body)
	}
	for _, ev := range h.audited() {
		if strings.Contains(ev.Detail+ev.Path+ev.Actor, a.Token) {
			t.Errorf("an audit event holds a token: %+v", ev)
		}
	}
}

// TestAgentSessionEnds: a revoked session is refused at once, an expired
// one once its time is up; listing shows live sessions without tokens.
func TestAgentSessionEnds(t *testing.T) {
	h := newHarness(t)
	h.shared("Weather", "Forecasts")
	short := h.agentSession("", "user-a", 60, "Weather")
	h.clock.Advance(time.Second) // oldest first
	revoked := h.agentSession("", "user-b", 600, "Weather")

	code, body := h.do("GET", "/api/v1/agent-sessions", nil)
	if code != 200 || strings.Contains(string(body), short.Token) || strings.Contains(string(body), revoked.Token) {
		t.Fatalf("list: %d %s", code, body)
	}
	list := decode[struct{ AgentSessions []agentSession }](t, body)
	if len(list.AgentSessions) != 2 || list.AgentSessions[0].ID != short.ID {
		t.Errorf("list %+v", list)
	}

	csS, _ := h.client(short.Token)
	csR, _ := h.client(revoked.Token)
	callOK(t, csS, map[string]any{"datasource": "Weather", "path": "/"})
	callOK(t, csR, map[string]any{"datasource": "Weather", "path": "/"})

	if code, body := h.do("DELETE", "/api/v1/agent-sessions/"+revoked.ID, nil); code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if _, err := csR.CallTool(ctx, &sdk.CallToolParams{Name: mcp.ToolCall, Arguments: map[string]any{"datasource": "Weather", "path": "/"}}); err == nil {
		t.Error("a revoked session's call went through")
	}
	if _, _, err := h.connect(revoked.Token); err == nil {
		t.Error("a revoked session connected")
	}
	if code, _ := h.do("DELETE", "/api/v1/agent-sessions/"+revoked.ID, nil); code != 404 {
		t.Errorf("revoking twice: %d", code)
	}

	h.clock.Advance(60 * time.Second)
	if _, err := csS.CallTool(ctx, &sdk.CallToolParams{Name: mcp.ToolList}); err == nil {
		t.Error("an expired session's call went through")
	}
	if _, _, err := h.connect(short.Token); err == nil {
		t.Error("an expired session connected")
	}
	code, body = h.do("GET", "/api/v1/agent-sessions", nil)
	if list := decode[struct{ AgentSessions []agentSession }](t, body); code != 200 || len(list.AgentSessions) != 0 {
		t.Errorf("after expiry and revocation: %d %s", code, body)
	}

	// Bad requests: a ttl over a day, no datasources, an unknown one.
	for _, bad := range []map[string]any{
		{"endUserId": "u", "datasources": []string{"Weather"}, "ttlSeconds": 86401},
		{"endUserId": "u", "datasources": []string{}},
		{"endUserId": "u", "datasources": []string{"Nope"}},
		{"endUserId": "a b", "datasources": []string{"Weather"}},
	} {
		if code, body := h.do("POST", "/api/v1/agent-sessions", bad); code != 400 || !strings.Contains(string(body), "problem") && !strings.Contains(string(body), "errors") {
			t.Errorf("%v: %d %s", bad, code, body)
		}
	}
	// A key limited to other datasources cannot hand on Weather.
	h.shared("Billing", "Invoices")
	k := h.key("billing agent maker", []string{"mcp"}, "Billing")
	if code, body := h.do("POST", "/api/v1/agent-sessions", map[string]any{"endUserId": "u", "datasources": []string{"Weather"}},
		"Authorization", "Bearer "+k); code != 403 {
		t.Errorf("a limited key made a session beyond its datasources: %d %s", code, body)
	}
}
