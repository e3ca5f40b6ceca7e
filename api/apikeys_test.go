package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/grants/grantstest"
)

type keyAnswer struct {
	ID          string
	Name        string
	Key         string
	Permissions []string
	Datasources []string
	CreatedBy   string  `json:"createdBy"`
	LastUsedAt  *string `json:"lastUsedAt"`
}

// newKey makes an API key over HTTP with the admin token and returns it.
func (h *harness) newKey(name string, perms []string, datasources ...string) keyAnswer {
	h.t.Helper()
	code, b, _ := h.do("POST", "/api/v1/api-keys", map[string]any{"name": name, "permissions": perms, "datasources": datasources})
	if code != 201 {
		h.t.Fatalf("creating key %s: %d %s", name, code, b)
	}
	k := decode[keyAnswer](h.t, b)
	h.addLogSecret(k.Key) // shown once in the answer, never logged
	return k
}

// as sends a request authenticated by an API key.
func (h *harness) as(key, method, path string, body any, hdr ...string) (int, []byte) {
	h.t.Helper()
	code, b, _ := h.doWith(http.DefaultClient, method, path, body, append([]string{"Authorization", "Bearer " + key}, hdr...)...)
	return code, b
}

type forbiddenProblem struct {
	Type, Detail           string
	Permission, Datasource string
}

// routePermissions is the contract of DESIGN.md, "API keys": the one
// permission each authenticated route checks ("" is any credential). The
// test below fails for a route the router has and this table has not, so
// a new route cannot be added without deciding its permission.
var routePermissions = map[string]string{
	"GET /api/v1/session":                                         "",
	"DELETE /api/v1/session":                                      "",
	"GET /api/v1/config":                                          "read",
	"GET /api/v1/providers":                                       "read",
	"GET /api/v1/events":                                          "read",
	"POST /api/v1/datasources":                                    "write",
	"GET /api/v1/datasources":                                     "read",
	"GET /api/v1/datasources/:id":                                 "read",
	"PUT /api/v1/datasources/:id":                                 "write",
	"DELETE /api/v1/datasources/:id":                              "write",
	"POST /api/v1/datasources/:id/authorize":                      "write",
	"POST /api/v1/datasources/:id/authorize/start":                "write",
	"GET /api/v1/datasources/:id/authorize/start":                 "write",
	"GET /api/v1/datasources/:id/status":                          "read",
	"GET /api/v1/datasources/:id/timeline":                        "read",
	"GET /api/v1/datasources/:id/connections/:endUserId/timeline": "connect",
	"POST /api/v1/datasources/:id/refresh":                        "write",
	"POST /api/v1/datasources/:id/revoke":                         "write",
	"POST /api/v1/datasources/:id/token":                          "token",
	"GET /api/v1/datasources/:id/connections":                     "connect",
	"GET /api/v1/datasources/:id/connections/:endUserId":          "connect",
	"DELETE /api/v1/datasources/:id/connections/:endUserId":       "connect",
	"POST /api/v1/datasources/:id/connections/:endUserId/refresh": "connect",
	"POST /api/v1/datasources/:id/connections/:endUserId/revoke":  "connect",
	"POST /api/v1/datasources/:id/connections/:endUserId/check":   "connect",
	"POST /api/v1/connect/sessions":                               "connect",
	"POST /api/v1/api-keys":                                       "admin",
	"GET /api/v1/api-keys":                                        "admin",
	"DELETE /api/v1/api-keys/:keyId":                              "admin",
	"* /api/v1/datasources/:id/proxy":                             "proxy",
	"* /api/v1/datasources/:id/proxy/*":                           "proxy",
	"GET /metrics":                                                "read",
	"GET /api/v1/datasources/authorize":                           "public",
	"GET /api/v1/openapi.json":                                    "public",
	"POST /api/v1/session":                                        "public",
	"GET /connect/:token":                                         "public",
	"POST /connect/:token":                                        "public",
	"GET /healthz":                                                "public",
	"GET /readyz":                                                 "public",
	"POST /api/v1/agent-sessions":                                 "mcp",
	"GET /api/v1/agent-sessions":                                  "mcp",
	"DELETE /api/v1/agent-sessions/:sessionId":                    "mcp",
	"* /mcp": "mcp",
}

// TestAPIKeyPermissionMatrix: every route, called with a key holding each
// single permission, is refused with a 403 naming the permission exactly
// when the key lacks the route's; admin keys pass everywhere.
func TestAPIKeyPermissionMatrix(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	perms := []string{"read", "write", "proxy", "token", "connect", "mcp", "admin"}
	keys := map[string]string{}
	for _, p := range perms {
		keys[p] = h.newKey("only-"+p, []string{p}).Key
	}
	seen := map[string]bool{}
	for _, r := range h.server.App().GetRoutes(true) {
		if r.Method == fiber.MethodHead || r.Method == fiber.MethodConnect || r.Method == fiber.MethodTrace ||
			!strings.HasPrefix(r.Path, "/api/v1/") && r.Path != "/metrics" && r.Path != "/mcp" && !strings.HasPrefix(r.Path, "/connect/") && r.Path != "/healthz" && r.Path != "/readyz" {
			continue
		}
		if r.Path == "/api/v1/*" {
			continue // the 404/405 catch-all
		}
		route := r.Method + " " + r.Path
		want, ok := routePermissions[route]
		if !ok {
			want, ok = routePermissions["* "+r.Path]
		}
		if !ok {
			t.Errorf("route %s has no permission in the contract table", route)
			continue
		}
		seen[route] = true
		if want == "public" {
			continue
		}
		path := strings.NewReplacer(":id", "ds_nope", ":endUserId", "u1", ":keyId", "key_0000000000000000", ":sessionId", "as_0000000000000000", ":token", "x", "*", "x").Replace(r.Path)
		for _, p := range perms {
			code, b := h.as(keys[p], r.Method, path, nil, "X-Grantd-CSRF", "1")
			allowed := want == "" || p == want || p == "admin"
			var pr forbiddenProblem
			json.Unmarshal(b, &pr) // /metrics answers text
			refused := code == 403 && strings.HasSuffix(pr.Type, "/forbidden")
			switch {
			case allowed && refused:
				t.Errorf("%s with a %q key: refused %s", route, p, b)
			case !allowed && !refused:
				t.Errorf("%s with a %q key: %d %s; want 403", route, p, code, b)
			case !allowed && (pr.Permission != want || !strings.Contains(pr.Detail, `"`+want+`"`) || !strings.Contains(pr.Detail, "only-"+p)):
				t.Errorf("%s with a %q key: the 403 does not name the key and the missing %q: %s", route, p, want, b)
			}
		}
	}
	for route := range routePermissions {
		if !seen[route] && !strings.HasPrefix(route, "* ") && route != "GET /metrics" {
			t.Errorf("the contract table names %s, which the router does not have", route)
		}
	}
}

// TestAPIKeyLifecycle: made with the admin token, shown once, listed
// without the key, named in the audit trail and the access log, refused
// at once when revoked; wrong keys count toward the failure limit.
func TestAPIKeyLifecycle(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(ccBody(p, "Vectara", "svc-secret-9f8e7d"))
	k := h.newKey("app backend", []string{"proxy", "read"})
	if !strings.HasPrefix(k.Key, "gk_") || len(k.Key) < 3+16+1+43 || !strings.HasPrefix(k.ID, "key_") || !strings.HasPrefix(k.CreatedBy, "token:") {
		t.Fatalf("created %+v", k)
	}
	if code, b := h.as(k.Key, "GET", "/api/v1/datasources/"+d.ID+"/proxy/whoami", nil); code != 200 {
		t.Fatalf("proxy with the key: %d %s", code, b)
	}
	code, b, _ := h.do("GET", "/api/v1/api-keys", nil)
	if code != 200 || strings.Contains(string(b), k.Key) || strings.Contains(string(b), `"key"`) {
		t.Fatalf("list: %d %s", code, b)
	}
	var list struct{ APIKeys []keyAnswer }
	json.Unmarshal(b, &list)
	if len(list.APIKeys) != 1 || list.APIKeys[0].ID != k.ID || list.APIKeys[0].LastUsedAt == nil {
		t.Fatalf("listed: %s", b)
	}
	// A key is not an admin: it cannot make keys.
	if code, _ := h.as(k.Key, "POST", "/api/v1/api-keys", map[string]any{"name": "x", "permissions": []string{"admin"}}); code != 403 {
		t.Fatalf("a proxy key making an admin key: %d", code)
	}
	// Bad input is named.
	for _, bad := range []map[string]any{
		{"name": "", "permissions": []string{"read"}},
		{"name": "x", "permissions": []string{"fly"}},
		{"name": "x", "permissions": []string{}},
		{"name": "x", "permissions": []string{"read"}, "extra": 1},
	} {
		if code, b, _ := h.do("POST", "/api/v1/api-keys", bad); code != 400 {
			t.Errorf("key %v: %d %s", bad, code, b)
		}
	}

	// The audit trail and the access log name the key by id and name.
	h.events("?limit=50", func(evs []eventJSON) bool {
		for _, e := range evs {
			if e.Type == "api_key.created" && strings.Contains(e.Detail, k.ID+" (app backend)") && strings.HasPrefix(e.Actor, "token:") {
				return true
			}
		}
		return false
	})
	if logs := h.logs.String(); !strings.Contains(logs, "by=\"key:"+k.ID+" (app backend)\"") {
		t.Fatalf("the access log does not name the key:\n%s", logs)
	}

	if code, _, _ := h.do("DELETE", "/api/v1/api-keys/"+k.ID, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, _ := h.do("DELETE", "/api/v1/api-keys/"+k.ID, nil); code != 404 {
		t.Fatalf("revoke again: %d", code)
	}
	// Refused at once, here and on another replica of the same store.
	if code, b := h.as(k.Key, "GET", "/api/v1/datasources/"+d.ID+"/proxy/whoami", nil); code != 401 {
		t.Fatalf("a revoked key: %d %s", code, b)
	}
	r := h.replica()
	if code, _, _ := r.doWith(http.DefaultClient, "GET", "/api/v1/datasources", nil, "Authorization", "Bearer "+k.Key); code != 401 {
		t.Fatalf("a revoked key on a replica: %d", code)
	}

	// Guessing keys is rate limited like guessing the admin token.
	guess := k.Key[:len(k.Key)-4] + "AAAA"
	limited := false
	for range 30 {
		if code, _ := h.as(guess, "GET", "/api/v1/datasources", nil); code == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("wrong API keys were never rate limited")
	}
}

// TestAPIKeyDatasourceScope: a key limited to datasources by name sees,
// proxies and changes only those — one created later under a listed name
// too — and is refused the others with a 403 naming the datasource.
func TestAPIKeyDatasourceScope(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	vec := h.create(ccBody(p, "Vectara", "svc-secret-9f8e7d"))
	other := h.create(ccBody(p, "Billing", "svc-secret-1a2b3c"))
	k := h.newKey("vectara app", []string{"read", "write", "proxy", "connect"}, "vectara", "Later").Key

	code, b := h.as(k, "GET", "/api/v1/datasources", nil)
	var list struct{ Datasources []dsView }
	json.Unmarshal(b, &list)
	if code != 200 || len(list.Datasources) != 1 || list.Datasources[0].ID != vec.ID {
		t.Fatalf("list: %d %s", code, b)
	}
	if code, b := h.as(k, "GET", "/api/v1/datasources/"+vec.ID+"/proxy/whoami", nil); code != 200 {
		t.Fatalf("proxy to a covered datasource: %d %s", code, b)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/datasources/" + other.ID},
		{"GET", "/api/v1/datasources/" + other.ID + "/proxy/whoami"},
		{"DELETE", "/api/v1/datasources/" + other.ID},
		{"GET", "/api/v1/events?datasource=" + other.ID},
	} {
		code, b := h.as(k, c.method, c.path, nil)
		if pr := decode[forbiddenProblem](t, b); code != 403 || pr.Datasource != other.ID || !strings.Contains(pr.Detail, other.ID) {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, b)
		}
	}
	// An unknown id is refused like an uncovered one: nothing learned.
	if code, _ := h.as(k, "GET", "/api/v1/datasources/ds_nope", nil); code != 403 {
		t.Errorf("unknown id: %d", code)
	}
	// Events: only the covered datasource's.
	code, b = h.as(k, "GET", "/api/v1/events", nil)
	var evs struct {
		Events []struct{ DatasourceID string }
	}
	json.Unmarshal(b, &evs)
	if code != 200 || len(evs.Events) == 0 {
		t.Fatalf("events: %d %s", code, b)
	}
	for _, e := range evs.Events {
		if e.DatasourceID != vec.ID {
			t.Fatalf("an event of another datasource: %s", b)
		}
	}
	// Creating under a name it does not list, or renaming out of reach: 403.
	if code, b := h.as(k, "POST", "/api/v1/datasources", ccBody(p, "Elsewhere", "svc-secret-5e6f7a")); code != 403 || !strings.Contains(string(b), "Elsewhere") {
		t.Errorf("create Elsewhere: %d %s", code, b)
	}
	rename := ccBody(p, "Renamed", "svc-secret-9f8e7d")
	if code, b := h.as(k, "PUT", "/api/v1/datasources/"+vec.ID, rename); code != 403 {
		t.Errorf("rename out of reach: %d %s", code, b)
	}
	// A datasource created later under a listed name is covered.
	code, b = h.as(k, "POST", "/api/v1/datasources", ccBody(p, "later", "svc-secret-9f8e7d"))
	if code != 201 {
		t.Fatalf("create a listed name: %d %s", code, b)
	}
	later := decode[dsView](t, b)
	if code, b := h.as(k, "GET", "/api/v1/datasources/"+later.ID+"/proxy/whoami", nil); code != 200 {
		t.Fatalf("proxy to the later datasource: %d %s", code, b)
	}
	// Connect sessions name the datasource in the body.
	if code, b := h.as(k, "POST", "/api/v1/connect/sessions", map[string]any{"datasource": "Billing", "endUserId": "u1"}); code != 403 || !strings.Contains(string(b), "Billing") {
		t.Errorf("connect session on Billing: %d %s", code, b)
	}
	if code, b := h.as(k, "POST", "/api/v1/connect/sessions", map[string]any{"datasource": "Nowhere", "endUserId": "u1"}); code != 403 {
		t.Errorf("connect session on an unknown name: %d %s", code, b)
	}
	// A limited admin key cannot make a key that reaches further.
	adm := h.newKey("vectara admin", []string{"admin"}, "Vectara").Key
	for _, ds := range [][]string{nil, {"Billing"}, {"vectara", other.ID}} {
		if code, b := h.as(adm, "POST", "/api/v1/api-keys", map[string]any{"name": "wider", "permissions": []string{"proxy"}, "datasources": ds}); code != 403 {
			t.Errorf("a limited admin key making a key for %v: %d %s", ds, code, b)
		}
	}
	code, b = h.as(adm, "POST", "/api/v1/api-keys", map[string]any{"name": "narrow", "permissions": []string{"proxy"}, "datasources": []string{"VECTARA"}})
	if code != 201 {
		t.Fatalf("a limited admin key making a key within its reach: %d %s", code, b)
	}
	h.addLogSecret(decode[keyAnswer](t, b).Key)
	// The admin token still sees everything.
	if code, b, _ = h.do("GET", "/api/v1/datasources", nil); code != 200 {
		t.Fatalf("admin list: %d %s", code, b)
	}
	json.Unmarshal(b, &list)
	ids := []string{}
	for _, d := range list.Datasources {
		ids = append(ids, d.ID)
	}
	if code != 200 || !slices.Contains(ids, other.ID) {
		t.Fatalf("admin list: %d %s", code, b)
	}
}
