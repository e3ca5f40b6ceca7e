package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/grantd/grantd/api"
)

// routeParam is a parameter of a Fiber route (:id, :endUserId), which the
// document spells {id}.
var routeParam = regexp.MustCompile(`:([A-Za-z]+)`)

// openAPIOperations are the keys of a path item that are operations.
var openAPIOperations = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

// TestOpenAPIMatchesRoutes checks the OpenAPI document against the routes
// the server registers, both ways, and that every operation has a unique
// camelCase operationId: generated clients name their methods after it,
// so an operation without one gets a name made up from its path. The
// served document's server defaults to the public URL.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	code, b, _ := h.doWith(http.DefaultClient, "GET", "/api/v1/openapi.json", nil)
	if code != 200 {
		t.Fatalf("openapi: %d", code)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Servers []struct {
			URL       string
			Variables map[string]struct{ Default string }
		} `json:"servers"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	// The served document's server is this grantd's public URL.
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "{publicUrl}" || doc.Servers[0].Variables["publicUrl"].Default != h.URL {
		t.Errorf("servers: %+v, want {publicUrl} defaulting to %s", doc.Servers, h.URL)
	}
	documented := map[string]bool{}
	operationIDs := map[string]string{}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	for path, ops := range doc.Paths {
		for m, raw := range ops {
			if !openAPIOperations[m] {
				continue
			}
			key := strings.ToUpper(m) + " " + path
			documented[key] = true
			var op struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s: %v", key, err)
			}
			switch prev, dup := operationIDs[op.OperationID]; {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", key)
			case !camel.MatchString(op.OperationID):
				t.Errorf("%s: operationId %q is not camelCase", key, op.OperationID)
			case dup:
				t.Errorf("%s: operationId %q is also %s's", key, op.OperationID, prev)
			}
			operationIDs[op.OperationID] = key
		}
	}
	registered := map[string]bool{}
	for _, r := range h.server.App().GetRoutes(true) {
		if r.Path == "/" || r.Path == "/*" || r.Path == "/api/v1/*" || r.Method == "CONNECT" || r.Method == "TRACE" {
			continue
		}
		p := routeParam.ReplaceAllString(r.Path, "{$1}")
		p = strings.ReplaceAll(p, "/proxy/*", "/proxy/{path}")
		if r.Method == "HEAD" && !strings.Contains(p, "/proxy") {
			continue // Fiber adds HEAD to every GET
		}
		registered[r.Method+" "+p] = true
	}
	var missing, stale []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 || len(stale) > 0 {
		t.Errorf("routes not documented: %v\ndocumented but not routed: %v", missing, stale)
	}
	if len(api.OpenAPI()) == 0 {
		t.Error("empty document")
	}
}

// TestOpenAPIPermissions checks each operation's x-grantd-permission, the
// permission an API key needs for it, against the contract table the
// permission matrix test drives the router with (routePermissions), and
// that every operation that checks one documents the 403 it answers.
func TestOpenAPIPermissions(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	docParam := regexp.MustCompile(`\{([A-Za-z]+)\}`)
	for path, ops := range doc.Paths {
		route := strings.ReplaceAll(path, "/proxy/{path}", "/proxy/*")
		route = docParam.ReplaceAllString(route, ":$1")
		for m, raw := range ops {
			if !openAPIOperations[m] {
				continue
			}
			var op struct {
				OperationID string                     `json:"operationId"`
				Permission  string                     `json:"x-grantd-permission"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			want, ok := routePermissions[strings.ToUpper(m)+" "+route]
			if !ok {
				want, ok = routePermissions["* "+route]
			}
			if !ok {
				t.Errorf("%s (%s %s) is not in the contract table", op.OperationID, strings.ToUpper(m), route)
				continue
			}
			if want == "public" {
				want = ""
			}
			if op.Permission != want {
				t.Errorf("%s: x-grantd-permission %q, want %q", op.OperationID, op.Permission, want)
			}
			if _, ok := op.Responses["403"]; want != "" && !ok {
				t.Errorf("%s checks %q but documents no 403", op.OperationID, want)
			}
		}
	}
}
