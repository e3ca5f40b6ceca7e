package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/grantd/grantd/api"
	oc "github.com/grantd/grantd/api/internal/openapiclient"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestOpenAPIDocumentIsValid loads the document as generators do and
// validates it against the OpenAPI 3.1 specification.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	loadOpenAPI(t)
}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	if err := doc.Validate(ctx, openapi3.EnableMultiError(), openapi3.EnableExamplesValidation(), openapi3.EnableSchemaDefaultsValidation()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPIClientIsCurrent regenerates the client with the oapi-codegen
// pinned in go.mod and compares it with the committed one, so the client
// the other tests drive is the one the document generates today. It fails
// when the document cannot be generated from, and when an operationId,
// schema or status changed without go generate.
func TestOpenAPIClientIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds oapi-codegen")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run oapi-codegen: %v", err)
	}
	const dir = "internal/openapiclient"
	cmd := exec.Command(gocmd, "tool", "oapi-codegen", "-config", dir+"/oapi-codegen.yaml", "openapi.json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("oapi-codegen cannot generate a client from openapi.json: %v\n%s", err, stderr.Bytes())
	}
	want, err := os.ReadFile(dir + "/client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Fatalf("%s/client.gen.go is not what openapi.json generates: run go generate ./api\nline %d: committed %q\n         generated %q",
			dir, i+1, line(wl), line(gl))
	}
}

// openAPIValidator is an http.RoundTripper that checks every request and
// every answer against the OpenAPI document: the route and the status
// must be documented for the operation, and bodies and headers must match
// their schemas. It records the operations it saw, and writes every answer
// to the harness's response log for its scan for secrets.
type openAPIValidator struct {
	t      *testing.T
	router routers.Router
	next   http.RoundTripper
	record io.Writer

	mu   sync.Mutex      // guards seen
	seen map[string]bool // operationIds
}

// The connect form is an HTML page; its schema is a string.
func init() { openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder) }

func newOpenAPIValidator(t *testing.T, h *harness) *openAPIValidator {
	doc := loadOpenAPI(t)
	doc.Servers = openapi3.Servers{{URL: h.URL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPIValidator{t: t, router: router, next: http.DefaultTransport, record: &h.responses, seen: map[string]bool{}}
}

func (v *openAPIValidator) RoundTrip(req *http.Request) (*http.Response, error) {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.t.Errorf("%s %s is not in the document: %v", req.Method, req.URL.Path, err)
		return v.next.RoundTrip(req)
	}
	op := route.Operation.OperationID
	var body []byte
	if req.Body != nil {
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	invalid, _ := req.Context().Value(invalidRequest{}).(bool)
	opts := &openapi3filter.Options{
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// A PUT may carry the read-only fields of a GET; they are ignored.
		ExcludeReadOnlyValidations: true,
		// The proxy forwards any body, in any content type.
		ExcludeRequestBody:    strings.HasPrefix(op, "proxy"),
		IncludeResponseStatus: true,
		MultiError:            true,
	}
	// The validator may rewrite the body it reads (it fills in defaults),
	// so it gets a copy of the request.
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil && !invalid {
		v.t.Errorf("%s: the request does not match the document: %v", op, err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	v.record.Write(answer)
	for k, vs := range resp.Header {
		v.record.Write([]byte(k + ": " + strings.Join(vs, ",") + "\n"))
	}
	err = openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(answer)), Options: opts,
	})
	if err != nil {
		v.t.Errorf("%s answered %d %s\nwhich the document does not describe: %v", op, resp.StatusCode, answer, err)
	}
	// default stands for the unexpected (500, 503) and, on the proxy, for
	// the upstream's own answers; any other status grantd answers must be
	// listed.
	if route.Operation.Responses.Status(resp.StatusCode) == nil && resp.StatusCode < 500 && !strings.HasPrefix(op, "proxy") {
		v.t.Errorf("%s answered %d, which the document covers only by default", op, resp.StatusCode)
	}
	v.mu.Lock()
	v.seen[op] = true
	v.mu.Unlock()
	return resp, nil
}

// unseen returns the document's operations the validator has not seen.
func (v *openAPIValidator) unseen(doc *openapi3.T) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if !v.seen[op.OperationID] {
				out = append(out, op.OperationID)
			}
		}
	}
	sort.Strings(out)
	return out
}

// invalidRequest marks the context of a request a test sends invalid on
// purpose: the validator checks only its answer.
type invalidRequest struct{}

func ptr[T any](v T) *T { return &v }

// TestOpenAPIClient drives a real server with the client generated from
// the document, through every operation, and checks every request and
// answer against the document. Together with TestOpenAPIClientIsCurrent it
// shows that the document generates a client that compiles and works, and
// that it describes what the server really does.
func TestOpenAPIClient(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	v := newOpenAPIValidator(t, h)
	bearer := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+adminToken)
		return nil
	}
	noRedirects := &http.Client{Transport: v, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c, err := oc.NewClientWithResponses(h.URL, oc.WithHTTPClient(noRedirects), oc.WithRequestEditorFn(bearer))
	if err != nil {
		t.Fatal(err)
	}
	anon, err := oc.NewClientWithResponses(h.URL, oc.WithHTTPClient(noRedirects))
	if err != nil {
		t.Fatal(err)
	}
	must := func(r interface{ StatusCode() int }, err error, want int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.StatusCode(); got != want {
			body := reflect.ValueOf(r).Elem().FieldByName("Body").Bytes()
			t.Fatalf("%T: status %d, want %d: %s", r, got, want, body)
		}
	}

	// Create, read back, list.
	in := oc.DatasourceInput{Name: "Vectara", Url: p.URL + "/api/", Auth: oc.OAuth2{
		GrantType: ptr(oc.ClientCredentials), AccessTokenUrl: ptr(p.TokenURL()), ClientId: ptr("svc"),
		ClientSecret: ptr("svc-secret-9f8e7d"), Scope: ptr("api/read, api/write"),
	}}
	created, err := c.CreateDatasourceWithResponse(ctx, in)
	must(created, err, 201)
	d := created.JSON201
	if d.Authorization.Status != oc.AuthorizationStatusAuthorized || d.Auth.ClientSecretSet == nil || !*d.Auth.ClientSecretSet ||
		d.Auth.ClientSecret != nil || d.Authorization.GrantedScope != "api/read api/write" {
		t.Fatalf("created: %+v", d)
	}
	if loc := created.HTTPResponse.Header.Get("Location"); loc != "/api/v1/datasources/"+d.Id {
		t.Errorf("Location %q", loc)
	}
	got, err := c.GetDatasourceWithResponse(ctx, d.Id)
	must(got, err, 200)
	if got.JSON200.Name != "Vectara" || got.JSON200.Url != in.Url || got.JSON200.Auth.ClientId == nil || *got.JSON200.Auth.ClientId != "svc" || !got.JSON200.CreatedAt.Equal(d.CreatedAt) {
		t.Fatalf("read back: %+v", got.JSON200)
	}
	list, err := c.ListDatasourcesWithResponse(ctx)
	must(list, err, 200)
	if len(list.JSON200.Datasources) != 1 || list.JSON200.Datasources[0].Id != d.Id {
		t.Fatalf("list: %+v", list.JSON200)
	}

	// GET, edit, PUT back: the read-only fields ride along, the secret
	// absent from the GET is kept.
	var edit oc.DatasourceInput
	b, _ := json.Marshal(got.JSON200)
	if err := json.Unmarshal(b, &edit); err != nil {
		t.Fatal(err)
	}
	edit.Name = "Vectara (prod)"
	edit.Auth.ExposeToken = ptr(true)
	put, err := c.ReplaceDatasourceWithResponse(ctx, d.Id, edit)
	must(put, err, 200)
	if put.JSON200.Name != "Vectara (prod)" || !*put.JSON200.Auth.ClientSecretSet || put.JSON200.Authorization.Status != oc.AuthorizationStatusAuthorized {
		t.Fatalf("after PUT: %+v", put.JSON200)
	}

	// Status, refresh, the token endpoint, revoke.
	st, err := c.GetDatasourceStatusWithResponse(ctx, d.Id)
	must(st, err, 200)
	ref, err := c.RefreshDatasourceWithResponse(ctx, d.Id)
	must(ref, err, 200)
	if ref.JSON200.Status != oc.AuthorizationStatusAuthorized || ref.JSON200.ExpiresAt == nil {
		t.Fatalf("refresh: %+v", ref.JSON200)
	}
	tok, err := c.GetDatasourceTokenWithResponse(ctx, d.Id, nil)
	must(tok, err, 200)
	if tok.JSON200.AccessToken == "" || tok.JSON200.ExpiresIn == nil || *tok.JSON200.ExpiresIn <= 0 {
		t.Fatalf("token: %+v", tok.JSON200)
	}

	// The proxy, every method, with a path and without.
	type proxied = func() (*http.Response, []byte, error)
	jsonBody := func() io.Reader { return strings.NewReader(`{"q":"hello"}`) }
	calls := map[string]proxied{
		"GET": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceGetWithResponse(ctx, d.Id, "me", nil)
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"HEAD": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceHeadWithResponse(ctx, d.Id, "me", nil)
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"OPTIONS": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceOptionsWithResponse(ctx, d.Id, "me", nil)
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"POST": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourcePostWithBodyWithResponse(ctx, d.Id, "me", nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"PUT": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourcePutWithBodyWithResponse(ctx, d.Id, "me", nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"PATCH": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourcePatchWithBodyWithResponse(ctx, d.Id, "me", nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"DELETE": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceDeleteWithBodyWithResponse(ctx, d.Id, "me", nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"GET /": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceRootGetWithResponse(ctx, d.Id, nil)
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"HEAD /": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceRootHeadWithResponse(ctx, d.Id, nil)
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"OPTIONS /": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceRootOptionsWithResponse(ctx, d.Id, nil)
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"POST /": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceRootPostWithBodyWithResponse(ctx, d.Id, nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"PUT /": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceRootPutWithBodyWithResponse(ctx, d.Id, nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"PATCH /": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceRootPatchWithBodyWithResponse(ctx, d.Id, nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
		"DELETE /": func() (*http.Response, []byte, error) {
			r, err := c.ProxyDatasourceRootDeleteWithBodyWithResponse(ctx, d.Id, nil, "application/json", jsonBody())
			if err != nil {
				return nil, nil, err
			}
			return r.HTTPResponse, r.Body, nil
		},
	}
	for name, call := range calls {
		hr, body, err := call()
		if err != nil {
			t.Fatalf("proxy %s: %v", name, err)
		}
		method, root := strings.CutSuffix(name, " /")
		wantPath := "/api/me"
		if root {
			wantPath = "/api/"
		}
		if hr.StatusCode != 200 {
			t.Errorf("proxy %s: %d %s", name, hr.StatusCode, body)
			continue
		}
		if method == "HEAD" {
			continue
		}
		a := decode[grantstest.APIAnswer](t, body)
		if a.Method != method || a.Path != wantPath || a.ClientID != "svc" {
			t.Errorf("proxy %s: the upstream saw %+v", name, a)
		}
		if hr.Request.Method != "GET" && hr.Request.Method != "OPTIONS" && a.Body != `{"q":"hello"}` {
			t.Errorf("proxy %s: the upstream got the body %q", name, a.Body)
		}
	}
	// The timeline shows the token's history and the calls just made.
	tl, err := c.GetDatasourceTimelineWithResponse(ctx, d.Id)
	must(tl, err, 200)
	if m := tl.JSON200.Minutes; len(m) != 60 || m[59].Calls < len(calls) || tl.JSON200.ExpiresAt == nil {
		t.Errorf("timeline: %s", tl.Body)
	}
	if ev := tl.JSON200.Tokens; len(ev) < 2 || ev[0].Kind != oc.Obtained || ev[len(ev)-1].Kind != oc.Refreshed {
		t.Errorf("timeline tokens: %+v", ev)
	}
	// As the document says, a path parameter cannot carry "/": the
	// generated client escapes it and the proxy refuses the escape.
	plain, _ := oc.NewClientWithResponses(h.URL, oc.WithRequestEditorFn(bearer))
	deep, err := plain.ProxyDatasourceGetWithResponse(ctx, d.Id, "v2/me", nil)
	must(deep, err, 400)
	if deep.ApplicationproblemJSON400.Type != "https://grantd.dev/problems/proxy-path-rejected" {
		t.Errorf("a multi-segment path through the generated client: %+v", deep.ApplicationproblemJSON400)
	}

	rev, err := c.RevokeDatasourceWithResponse(ctx, d.Id)
	must(rev, err, 200)
	if rev.JSON200.HasRefreshToken || rev.JSON200.ExpiresAt != nil {
		t.Errorf("revoke: %+v", rev.JSON200)
	}

	// Problems: 400 with every bad field, 401, 403, 404, 409, 413.
	invalid := context.WithValue(ctx, invalidRequest{}, true)
	bad, err := c.CreateDatasourceWithResponse(invalid, oc.DatasourceInput{Name: "bad", Url: "ftp://x", Auth: oc.OAuth2{GrantType: ptr(oc.ClientCredentials), AccessTokenUrl: ptr("nope")}})
	must(bad, err, 400)
	var fields []string
	for _, fe := range *bad.ApplicationproblemJSON400.Errors {
		fields = append(fields, fe.Field)
	}
	sort.Strings(fields)
	if strings.Join(fields, " ") != "auth.accessTokenUrl auth.clientId auth.clientSecret url" {
		t.Errorf("invalid input: errors name %v", fields)
	}
	again := edit
	again.Auth.ClientSecret = ptr("svc-secret-9f8e7d")
	dup, err := c.CreateDatasourceWithResponse(ctx, again)
	must(dup, err, 409)
	huge, err := c.CreateDatasourceWithBodyWithResponse(invalid, "application/json", strings.NewReader(`{"name":"`+strings.Repeat("x", 300<<10)+`"}`))
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		// grantd answers 413 from Content-Length without reading the body
		// and closes; the unread body makes the kernel reset the
		// connection, which can reach the client before the answer does.
		// What must hold either way: nothing was created.
		t.Logf("413 arrived as a connection reset: %v", err)
	} else {
		must(huge, err, 413)
	}
	if l, err := c.ListDatasourcesWithResponse(ctx); err != nil || l.JSON200 == nil {
		t.Fatalf("list after the huge body: %v", err)
	} else {
		for _, d := range l.JSON200.Datasources {
			if len(d.Name) > 1000 {
				t.Errorf("the body over the limit created a datasource")
			}
		}
	}
	unauth, err := anon.ListDatasourcesWithResponse(ctx)
	must(unauth, err, 401)
	tokenOff := edit
	tokenOff.Auth.ExposeToken = ptr(false)
	_, err = c.ReplaceDatasourceWithResponse(ctx, d.Id, tokenOff)
	if err != nil {
		t.Fatal(err)
	}
	notExposed, err := c.GetDatasourceTokenWithResponse(ctx, d.Id, nil)
	must(notExposed, err, 403)
	if notExposed.ApplicationproblemJSON403.Type != "https://grantd.dev/problems/token-not-exposed" {
		t.Errorf("token without exposeToken: %+v", notExposed.ApplicationproblemJSON403)
	}
	notInteractive, err := c.AuthorizeDatasourceWithResponse(ctx, d.Id, oc.AuthorizeRequest{})
	must(notInteractive, err, 400)

	// The UI session: sign in, who am I, a cookie-authenticated change
	// without the CSRF header, sign out.
	sess, err := anon.CreateSessionWithResponse(ctx, oc.SessionRequest{Token: adminToken})
	must(sess, err, 201)
	cookie := strings.SplitN(sess.HTTPResponse.Header.Get("Set-Cookie"), ";", 2)[0]
	withCookie := func(_ context.Context, req *http.Request) error { req.Header.Set("Cookie", cookie); return nil }
	who, err := anon.GetSessionWithResponse(ctx, withCookie)
	must(who, err, 200)
	if who.JSON200.Via != oc.SessionViaSession {
		t.Errorf("session: %+v", who.JSON200)
	}
	csrf, err := anon.DeleteDatasourceWithResponse(ctx, d.Id, withCookie)
	must(csrf, err, 403)
	out, err := c.DeleteSessionWithResponse(ctx)
	must(out, err, 204)

	// The authorization-code flow: through the API, then in a browser.
	created, err = c.CreateDatasourceWithResponse(ctx, oc.DatasourceInput{Name: "GitHub-ish", Url: p.URL + "/api", Auth: oc.OAuth2{
		GrantType: ptr(oc.AuthorizationCode), AccessTokenUrl: ptr(p.TokenURL()), AuthorizationUrl: ptr(p.AuthURL()), ClientId: ptr("web"),
		ClientSecret: ptr("web-secret-1a2b3c"), Scope: ptr("openid profile"), HeaderPrefix: ptr("Bearer"),
	}})
	must(created, err, 201)
	ac := created.JSON201
	if ac.Authorization.Status != oc.AuthorizationStatusUnauthorized || ac.Authorization.ExpiresAt != nil {
		t.Fatalf("new authorization-code datasource: %+v", ac.Authorization)
	}
	notYet, err := c.ProxyDatasourceGetWithResponse(ctx, ac.Id, "me", nil)
	must(notYet, err, 424)
	az, err := c.AuthorizeDatasourceWithResponse(ctx, ac.Id, oc.AuthorizeRequest{ReturnTo: ptr("/app/done")})
	must(az, err, 200)
	resp, err := browser().PostForm(az.JSON200.AuthorizeUrl, url.Values{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := mustURL(resp.Header.Get("Location")).Query()
	h.addSecret(cb.Get("code"))
	h.addLogSecret(cb.Get("state"))
	params := &oc.AuthorizeCallbackParams{Code: ptr(cb.Get("code")), State: ptr(cb.Get("state"))}
	back, err := anon.AuthorizeCallbackWithResponse(ctx, params)
	must(back, err, 302)
	if loc := back.HTTPResponse.Header.Get("Location"); !strings.HasPrefix(loc, "/app/done?") || mustURL(loc).Query().Get("result") != "authorized" {
		t.Fatalf("callback: %q", loc)
	}
	replayed, err := anon.AuthorizeCallbackWithResponse(ctx, params)
	must(replayed, err, 400)
	if replayed.ApplicationproblemJSON400.Type != "https://grantd.dev/problems/invalid-state" {
		t.Errorf("replayed callback: %+v", replayed.ApplicationproblemJSON400)
	}
	minted, err := c.CreateBrowserAuthorizationStartWithResponse(ctx, ac.Id, oc.AuthorizeRequest{ReturnTo: ptr("/app/done")})
	must(minted, err, 200)
	startToken := mustURL(minted.JSON200.StartUrl).Query().Get("start")
	start, err := c.StartBrowserAuthorizationWithResponse(ctx, ac.Id, &oc.StartBrowserAuthorizationParams{Start: startToken})
	must(start, err, 302)
	spent, err := c.StartBrowserAuthorizationWithResponse(ctx, ac.Id, &oc.StartBrowserAuthorizationParams{Start: startToken})
	must(spent, err, 400)
	if spent.ApplicationproblemJSON400 == nil || spent.ApplicationproblemJSON400.Type != "https://grantd.dev/problems/invalid-start-token" {
		t.Errorf("a start token twice: %s", spent.Body)
	}
	if !strings.HasPrefix(start.HTTPResponse.Header.Get("Location"), p.AuthURL()) || !strings.Contains(start.HTTPResponse.Header.Get("Set-Cookie"), "grantd_flow=") {
		t.Errorf("browser start: %v", start.HTTPResponse.Header)
	}

	perUserThroughOpenAPIClient(t, h, p, c, anon, d.Id, must)
	staticThroughOpenAPIClient(t, h, c, anon, must)
	agentSessionsThroughOpenAPIClient(t, h, c, d.Id, must)

	// Events, configuration, health, readiness, metrics, this document.
	events, err := c.ListEventsWithResponse(ctx, &oc.ListEventsParams{Datasource: &d.Id, Limit: ptr(50)})
	must(events, err, 200)
	if n := len(events.JSON200.Events); n == 0 || events.JSON200.Events[n-1].Type != oc.DatasourceCreated {
		t.Errorf("events: %+v", events.JSON200.Events)
	}
	badLimit, err := c.ListEventsWithResponse(invalid, &oc.ListEventsParams{Limit: ptr(0)})
	must(badLimit, err, 400)
	cfg, err := c.GetConfigWithResponse(ctx)
	must(cfg, err, 200)
	if cfg.JSON200.RedirectUri != h.redirectURI() {
		t.Errorf("config: %+v", cfg.JSON200)
	}
	provs, err := c.ListProvidersWithResponse(ctx)
	must(provs, err, 200)
	var sf *oc.Provider
	for i, p := range provs.JSON200.Providers {
		if p.Name == "salesforce" {
			sf = &provs.JSON200.Providers[i]
		}
	}
	if sf == nil || sf.Url == nil || *sf.Url != "https://{token.instance_url}" || sf.TokenResponse == nil || sf.TokenResponse.Keep == nil {
		t.Errorf("providers: salesforce is %+v", sf)
	}
	health, err := anon.GetHealthWithResponse(ctx)
	must(health, err, 200)
	ready, err := anon.GetReadinessWithResponse(ctx)
	must(ready, err, 200)
	metrics, err := c.GetMetricsWithResponse(ctx)
	must(metrics, err, 200)
	doc, err := anon.GetOpenApiWithResponse(ctx)
	must(doc, err, 200)

	apiKeysThroughOpenAPIClient(t, h, c, noRedirects, d.Id, must)

	// Delete, then it is gone.
	del, err := c.DeleteDatasourceWithResponse(ctx, d.Id)
	must(del, err, 204)
	gone, err := c.GetDatasourceWithResponse(ctx, d.Id)
	must(gone, err, 404)
	if gone.ApplicationproblemJSON404.Type != "https://grantd.dev/problems/not-found" || gone.ApplicationproblemJSON404.RequestId == nil {
		t.Errorf("404: %+v", gone.ApplicationproblemJSON404)
	}

	if unseen := v.unseen(loadOpenAPI(t)); len(unseen) > 0 {
		t.Errorf("operations the generated client did not exercise: %v", unseen)
	}
}

// perUserThroughOpenAPIClient drives the per-user operations with the
// generated client: connect links made, opened and completed for two end
// users (accounts alice and bob at the provider), the proxy and the token
// endpoint for each end user and without one, and the connections API
// from listing to deletion. shared is a shared datasource's id.
func perUserThroughOpenAPIClient(t *testing.T, h *harness, p *grantstest.Provider, c, anon *oc.ClientWithResponses, shared string,
	must func(r interface{ StatusCode() int }, err error, want int)) {
	t.Helper()
	invalid := context.WithValue(ctx, invalidRequest{}, true)
	created, err := c.CreateDatasourceWithResponse(ctx, oc.DatasourceInput{
		Name: "Sheets", Url: p.URL + "/api", Description: ptr("spreadsheets of the signed-in user"),
		ConnectionMode:   ptr(oc.DatasourceInputConnectionModePerUser),
		ConnectionConfig: &map[string]string{"tenant": "acme"},
		HealthCheck:      &oc.HealthCheck{Method: ptr(oc.GET), Path: "/whoami", ExpectStatus: &[]int{200}, IntervalSeconds: ptr(3600)},
		Auth: oc.OAuth2{GrantType: ptr(oc.AuthorizationCode), AccessTokenUrl: ptr(p.TokenURL()), AuthorizationUrl: ptr(p.AuthURL()), ClientId: ptr("web"),
			ClientSecret: ptr("web-secret-1a2b3c"), Scope: ptr("openid profile"), ExposeToken: ptr(true)},
	})
	must(created, err, 201)
	ds := created.JSON201
	if ds.ConnectionMode != oc.DatasourceConnectionModePerUser || ds.ConnectionConfig["tenant"] != "acme" || ds.HealthCheck == nil ||
		ds.HealthCheck.Path != "/whoami" || ds.Description != "spreadsheets of the signed-in user" {
		t.Fatalf("per-user datasource: %+v", ds)
	}

	// An end user connects: a link for them, opened in their browser, the
	// provider's login, the callback with the browser's binding cookie.
	connect := func(endUser, account string) {
		t.Helper()
		cs, err := c.CreateConnectSessionWithResponse(ctx, oc.ConnectSessionRequest{Datasource: "sheets", EndUserId: endUser,
			EndUser: &oc.EndUser{DisplayName: ptr(strings.ToUpper(account)), Email: ptr(account + "@example.com")}, ReturnTo: ptr("/app/done")})
		must(cs, err, 201)
		h.addLogSecret(cs.JSON201.Token)
		if cs.JSON201.ConnectUrl != h.URL+"/connect/"+cs.JSON201.Token || !cs.JSON201.ExpiresAt.After(h.clock.Now()) {
			t.Fatalf("connect session: %+v", cs.JSON201)
		}
		opened, err := anon.OpenConnectLinkWithResponse(ctx, cs.JSON201.Token)
		must(opened, err, 302)
		var binding string
		for _, ck := range opened.HTTPResponse.Cookies() {
			if ck.Name == "grantd_flow" {
				binding = ck.Value
			}
		}
		authorize := opened.HTTPResponse.Header.Get("Location")
		if binding == "" || !strings.HasPrefix(authorize, p.AuthURL()+"?") {
			t.Fatalf("opening the connect link: %v", opened.HTTPResponse.Header)
		}
		h.addLogSecret(mustURL(authorize).Query().Get("state"))
		resp, err := browser().PostForm(authorize, url.Values{"username": {account}, "password": {grantstest.Users[account]}, "consent": {"allow"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cb := mustURL(resp.Header.Get("Location")).Query()
		h.addSecret(cb.Get("code"))
		back, err := anon.AuthorizeCallbackWithResponse(ctx, &oc.AuthorizeCallbackParams{Code: ptr(cb.Get("code")), State: ptr(cb.Get("state")), GrantdFlow: &binding})
		must(back, err, 302)
		q := mustURL(back.HTTPResponse.Header.Get("Location")).Query()
		if q.Get("result") != "authorized" || q.Get("endUserId") != endUser || q.Get("datasource") != ds.Id {
			t.Fatalf("back from connecting %s: %s", endUser, back.HTTPResponse.Header.Get("Location"))
		}
		// A link works once.
		again, err := anon.OpenConnectLinkWithResponse(ctx, cs.JSON201.Token)
		must(again, err, 400)
		if again.ApplicationproblemJSON400.Type != "https://grantd.dev/problems/invalid-state" {
			t.Errorf("a used connect link: %s", again.Body)
		}
	}
	connect("user-alice", "alice")
	connect("user-bob", "bob")
	unknown, err := anon.OpenConnectLinkWithResponse(ctx, "no-such-link")
	must(unknown, err, 400)

	// Calls for an end user act with that user's connection.
	as := func(endUser string) *oc.EndUserHeader { u := oc.EndUserHeader(endUser); return &u }
	for _, u := range []string{"alice", "bob"} {
		r, err := c.ProxyDatasourceGetWithResponse(ctx, ds.Id, "whoami", &oc.ProxyDatasourceGetParams{GrantdEndUser: as("user-" + u)})
		must(r, err, 200)
		if a := decode[grantstest.APIAnswer](t, r.Body); a.Subject != u {
			t.Errorf("proxy for user-%s reached the upstream as %q", u, a.Subject)
		}
		tok, err := c.GetDatasourceTokenWithResponse(ctx, ds.Id, &oc.GetDatasourceTokenParams{GrantdEndUser: as("user-" + u)})
		must(tok, err, 200)
		h.addLogSecret(tok.JSON200.AccessToken)
	}
	// No end user: 400 naming the header; one that is not an id: 400; one
	// with no connection: 424 with a fresh connect link.
	noUser, err := c.ProxyDatasourceGetWithResponse(ctx, ds.Id, "whoami", nil)
	must(noUser, err, 400)
	if e := noUser.ApplicationproblemJSON400.Errors; e == nil || len(*e) != 1 || (*e)[0].Field != "Grantd-End-User" {
		t.Errorf("proxy without an end user: %s", noUser.Body)
	}
	badUser, err := c.ProxyDatasourceRootGetWithResponse(invalid, ds.Id, &oc.ProxyDatasourceRootGetParams{GrantdEndUser: as("bad/user")})
	must(badUser, err, 400)
	noTokenUser, err := c.GetDatasourceTokenWithResponse(ctx, ds.Id, nil)
	must(noTokenUser, err, 400)
	dave, err := c.ProxyDatasourceGetWithResponse(ctx, ds.Id, "whoami", &oc.ProxyDatasourceGetParams{GrantdEndUser: as("user-dave")})
	must(dave, err, 424)
	if u := dave.ApplicationproblemJSON424.ConnectUrl; u == nil || !strings.HasPrefix(*u, h.URL+"/connect/") {
		t.Errorf("424 for an end user with no connection: %s", dave.Body)
	} else {
		h.addLogSecret(strings.TrimPrefix(*u, h.URL+"/connect/"))
	}
	daveToken, err := c.GetDatasourceTokenWithResponse(ctx, ds.Id, &oc.GetDatasourceTokenParams{GrantdEndUser: as("user-dave")})
	must(daveToken, err, 424)
	if u := daveToken.ApplicationproblemJSON424.ConnectUrl; u == nil || !strings.HasPrefix(*u, h.URL+"/connect/") {
		t.Errorf("token endpoint, 424 for an end user with no connection: %s", daveToken.Body)
	} else {
		h.addLogSecret(strings.TrimPrefix(*u, h.URL+"/connect/"))
	}

	// The connections, a page at a time, then filtered.
	page, err := c.ListConnectionsWithResponse(ctx, ds.Id, &oc.ListConnectionsParams{Limit: ptr(1)})
	must(page, err, 200)
	if l := page.JSON200; len(l.Connections) != 1 || l.Connections[0].EndUserId != "user-alice" || l.NextCursor != "user-alice" ||
		l.Connections[0].EndUser.DisplayName == nil || *l.Connections[0].EndUser.DisplayName != "ALICE" {
		t.Fatalf("first page: %s", page.Body)
	}
	page, err = c.ListConnectionsWithResponse(ctx, ds.Id, &oc.ListConnectionsParams{Limit: ptr(1), Cursor: &page.JSON200.NextCursor})
	must(page, err, 200)
	if l := page.JSON200; len(l.Connections) != 1 || l.Connections[0].EndUserId != "user-bob" {
		t.Fatalf("second page: %s", page.Body)
	}
	if next := page.JSON200.NextCursor; next != "" {
		last, err := c.ListConnectionsWithResponse(ctx, ds.Id, &oc.ListConnectionsParams{Limit: ptr(1), Cursor: &next})
		must(last, err, 200)
		if len(last.JSON200.Connections) != 0 || last.JSON200.NextCursor != "" {
			t.Fatalf("after the last page: %s", last.Body)
		}
	}
	authorized, err := c.ListConnectionsWithResponse(ctx, ds.Id, &oc.ListConnectionsParams{Status: ptr(oc.ListConnectionsParamsStatusAuthorized)})
	must(authorized, err, 200)
	if n := len(authorized.JSON200.Connections); n != 2 {
		t.Errorf("authorized connections: %d, want 2", n)
	}
	badStatus, err := c.ListConnectionsWithResponse(invalid, ds.Id, &oc.ListConnectionsParams{Status: ptr(oc.ListConnectionsParamsStatus("bogus"))})
	must(badStatus, err, 400)
	notPerUser, err := c.ListConnectionsWithResponse(ctx, shared, nil)
	must(notPerUser, err, 400)
	if notPerUser.ApplicationproblemJSON400.Type != "https://grantd.dev/problems/not-per-user" {
		t.Errorf("connections of a shared datasource: %s", notPerUser.Body)
	}
	noDatasource, err := c.ListConnectionsWithResponse(ctx, "ds_nope", nil)
	must(noDatasource, err, 404)
	list, err := c.ListDatasourcesWithResponse(ctx)
	must(list, err, 200)
	t.Run("listed with its connection counts", func(t *testing.T) {
		for _, l := range list.JSON200.Datasources {
			if l.Id != ds.Id {
				continue
			}
			if l.Connections == nil || (*l.Connections)["authorized"] != 2 {
				t.Errorf("the list's connection counts: %+v", l.Connections)
			}
			return
		}
		t.Errorf("the per-user datasource is missing from the list: %s", list.Body)
	})

	// One connection: read, refresh, check, revoke, delete.
	one, err := c.GetConnectionWithResponse(ctx, ds.Id, "user-bob")
	must(one, err, 200)
	if one.JSON200.Authorization.Status != oc.AuthorizationStatusAuthorized || one.JSON200.EndUser.Email == nil || *one.JSON200.EndUser.Email != "bob@example.com" {
		t.Errorf("user-bob's connection: %s", one.Body)
	}
	// An end user with no connection is told apart from an unknown
	// datasource, for every operation on one connection.
	noConnection := func(r interface{ StatusCode() int }, err error) {
		t.Helper()
		must(r, err, 404)
		body := reflect.ValueOf(r).Elem().FieldByName("Body").Bytes()
		if p := decode[api.Problem](t, body); p.Detail != "no connection for this end user" {
			t.Errorf("%T for an end user with no connection: %s", r, body)
		}
	}
	ctl, err := c.GetConnectionTimelineWithResponse(ctx, ds.Id, "user-bob")
	must(ctl, err, 200)
	if ev := ctl.JSON200.Tokens; len(ev) == 0 || ev[0].Kind != oc.Obtained || ev[0].ExpiresAt == nil {
		t.Errorf("user-bob's timeline: %s", ctl.Body)
	}
	noConnection(c.GetConnectionTimelineWithResponse(ctx, ds.Id, "user-dave"))
	noConnection(c.GetConnectionWithResponse(ctx, ds.Id, "user-dave"))
	noConnection(c.RefreshConnectionWithResponse(ctx, ds.Id, "user-dave"))
	noConnection(c.CheckConnectionWithResponse(ctx, ds.Id, "user-dave"))
	noConnection(c.RevokeConnectionWithResponse(ctx, ds.Id, "user-dave"))
	noConnection(c.DeleteConnectionWithResponse(ctx, ds.Id, "user-dave"))
	noDS, err := c.GetConnectionWithResponse(ctx, "ds_nope", "user-alice")
	must(noDS, err, 404)
	if p := noDS.ApplicationproblemJSON404; p.Detail == nil || *p.Detail != "no such datasource" {
		t.Errorf("a connection of an unknown datasource: %s", noDS.Body)
	}
	badID, err := c.GetConnectionWithResponse(invalid, ds.Id, "user%dave")
	must(badID, err, 400)
	ref, err := c.RefreshConnectionWithResponse(ctx, ds.Id, "user-bob")
	must(ref, err, 200)
	if ref.JSON200.Authorization.Status != oc.AuthorizationStatusAuthorized || !ref.JSON200.Authorization.LastRefreshedAt.After(one.JSON200.Authorization.LastRefreshedAt.Add(-time.Second)) {
		t.Errorf("refresh: %s", ref.Body)
	}
	chk, err := c.CheckConnectionWithResponse(ctx, ds.Id, "user-bob")
	must(chk, err, 200)
	if hl := chk.JSON200.Health; hl == nil || !hl.Ok || hl.Status != 200 {
		t.Errorf("check: %s", chk.Body)
	}
	rev, err := c.RevokeConnectionWithResponse(ctx, ds.Id, "user-bob")
	must(rev, err, 200)
	if rev.JSON200.Status != oc.RevokeResultStatusUnauthorized || rev.JSON200.HasRefreshToken {
		t.Errorf("revoke: %s", rev.Body)
	}
	del, err := c.DeleteConnectionWithResponse(ctx, ds.Id, "user-bob")
	must(del, err, 204)
	gone, err := c.DeleteConnectionWithResponse(ctx, ds.Id, "user-bob")
	must(gone, err, 404)
	after, err := c.ProxyDatasourceGetWithResponse(ctx, ds.Id, "whoami", &oc.ProxyDatasourceGetParams{GrantdEndUser: as("user-bob")})
	must(after, err, 424)
	h.addLogSecret(strings.TrimPrefix(*after.ApplicationproblemJSON424.ConnectUrl, h.URL+"/connect/"))

	// Connect sessions that are refused.
	elsewhere, err := c.CreateConnectSessionWithResponse(ctx, oc.ConnectSessionRequest{Datasource: ds.Id, EndUserId: "user-carol", ReturnTo: ptr("https://elsewhere.example/")})
	must(elsewhere, err, 400)
	if e := elsewhere.ApplicationproblemJSON400.Errors; e == nil || (*e)[0].Field != "returnTo" {
		t.Errorf("an absolute returnTo on an origin not allowed: %s", elsewhere.Body)
	}
	noSuch, err := c.CreateConnectSessionWithResponse(ctx, oc.ConnectSessionRequest{Datasource: "Nope", EndUserId: "user-carol"})
	must(noSuch, err, 404)
	sharedLink, err := c.CreateConnectSessionWithResponse(ctx, oc.ConnectSessionRequest{Datasource: shared, EndUserId: "user-carol"})
	must(sharedLink, err, 400)

	// The connection events, in the event log's schema.
	deadline := time.Now().Add(5 * time.Second)
	for {
		events, err := c.ListEventsWithResponse(ctx, &oc.ListEventsParams{Datasource: &ds.Id})
		must(events, err, 200)
		seen := map[oc.EventType]bool{}
		for _, e := range events.JSON200.Events {
			seen[e.Type] = true
		}
		if seen[oc.ConnectionCreated] && seen[oc.ConnectionDeleted] && seen[oc.ConnectionConnectStarted] {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("connection events: %s", events.Body)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// apiKeysThroughOpenAPIClient drives the API-key operations with the
// generated client: a key made for one datasource by name, shown once and
// never listed, used as a Bearer credential for what it may do, refused
// with a 403 naming what it lacks, then revoked and refused with a 401.
// shared is the id of the shared datasource "Vectara (prod)"; another
// datasource ("Sheets") exists beside it.
func apiKeysThroughOpenAPIClient(t *testing.T, h *harness, admin *oc.ClientWithResponses, hc *http.Client, shared string,
	must func(r interface{ StatusCode() int }, err error, want int)) {
	t.Helper()
	invalid := context.WithValue(ctx, invalidRequest{}, true)
	all, err := admin.ListDatasourcesWithResponse(ctx)
	must(all, err, 200)
	var other string
	for _, d := range all.JSON200.Datasources {
		if d.Id != shared {
			other = d.Id
		}
	}
	if other == "" {
		t.Fatalf("want a second datasource beside %s: %s", shared, all.Body)
	}

	created, err := admin.CreateApiKeyWithResponse(ctx, oc.APIKeyRequest{Name: "app backend",
		Permissions: []oc.Permission{oc.PermissionProxy, oc.PermissionRead}, Datasources: &[]string{"vectara (PROD)"}})
	must(created, err, 201)
	k := created.JSON201
	h.addLogSecret(k.Key) // in this answer only, never in a log
	if !strings.HasPrefix(k.Key, "gk_"+strings.TrimPrefix(k.Id, "key_")+"_") || k.Name != "app backend" || k.LastUsedAt != nil ||
		!reflect.DeepEqual(k.Permissions, []oc.Permission{oc.PermissionProxy, oc.PermissionRead}) ||
		!reflect.DeepEqual(k.Datasources, []string{"vectara (PROD)"}) || !strings.HasPrefix(k.CreatedBy, "token:") {
		t.Fatalf("created: %s", created.Body)
	}
	if cc := created.HTTPResponse.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the answer with the key: Cache-Control %q", cc)
	}

	// The key is a Bearer credential like the admin token, for what it may do.
	withKey := func(key string) *oc.ClientWithResponses {
		kc, err := oc.NewClientWithResponses(h.URL, oc.WithHTTPClient(hc), oc.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		return kc
	}
	kc := withKey(k.Key)
	se, err := kc.GetSessionWithResponse(ctx)
	must(se, err, 200)
	if se.JSON200.Via != oc.SessionViaKey {
		t.Errorf("session through a key: %s", se.Body)
	}
	mine, err := kc.ListDatasourcesWithResponse(ctx)
	must(mine, err, 200)
	if l := mine.JSON200.Datasources; len(l) != 1 || l[0].Id != shared {
		t.Errorf("a key limited to one datasource lists %s", mine.Body)
	}
	proxied, err := kc.ProxyDatasourceGetWithResponse(ctx, shared, "me", nil)
	must(proxied, err, 200)

	// A permission it lacks, and a datasource it does not cover: 403, and
	// the generated client's types carry what is missing.
	refresh, err := kc.RefreshDatasourceWithResponse(ctx, shared)
	must(refresh, err, 403)
	if p := refresh.ApplicationproblemJSON403; p == nil || p.Type != "https://grantd.dev/problems/forbidden" ||
		p.Permission == nil || *p.Permission != oc.PermissionWrite || p.Datasource != nil || p.Detail == nil || !strings.Contains(*p.Detail, k.Id) {
		t.Errorf("refresh with a proxy,read key: %s", refresh.Body)
	}
	elsewhere, err := kc.GetDatasourceWithResponse(ctx, other)
	must(elsewhere, err, 403)
	if p := elsewhere.ApplicationproblemJSON403; p == nil || p.Type != "https://grantd.dev/problems/forbidden" ||
		p.Datasource == nil || *p.Datasource != other || p.Permission != nil {
		t.Errorf("a datasource the key does not cover: %s", elsewhere.Body)
	}
	keys, err := kc.ListApiKeysWithResponse(ctx)
	must(keys, err, 403)
	if p := keys.ApplicationproblemJSON403; p == nil || p.Permission == nil || *p.Permission != oc.PermissionAdmin {
		t.Errorf("a key listing keys: %s", keys.Body)
	}

	// Listed without the key; lastUsedAt shows the use.
	list, err := admin.ListApiKeysWithResponse(ctx)
	must(list, err, 200)
	if l := list.JSON200.ApiKeys; len(l) != 1 || l[0].Id != k.Id || l[0].LastUsedAt == nil || strings.Contains(string(list.Body), k.Key) {
		t.Errorf("list: %s", list.Body)
	}
	bad, err := admin.CreateApiKeyWithResponse(invalid, oc.APIKeyRequest{Name: "x", Permissions: []oc.Permission{"fly"}})
	must(bad, err, 400)
	if e := bad.ApplicationproblemJSON400.Errors; e == nil || len(*e) != 1 || (*e)[0].Field != "permissions" {
		t.Errorf("an unknown permission: %s", bad.Body)
	}

	// Revoked: refused at once; a second revoke finds nothing.
	del, err := admin.DeleteApiKeyWithResponse(ctx, k.Id)
	must(del, err, 204)
	again, err := admin.DeleteApiKeyWithResponse(ctx, k.Id)
	must(again, err, 404)
	after, err := kc.ListDatasourcesWithResponse(ctx)
	must(after, err, 401)
	if p := after.ApplicationproblemJSON401; p == nil || p.Type != "https://grantd.dev/problems/unauthorized" {
		t.Errorf("a revoked key: %s", after.Body)
	}

	// Both are in the audit trail, naming the key (the hub writes events
	// after the answer: wait for the revocation's, then read them again
	// through the generated client).
	h.events("?limit=20", func(es []eventJSON) bool {
		return slices.ContainsFunc(es, func(e eventJSON) bool { return e.Type == "api_key.revoked" && strings.Contains(e.Detail, k.Id) })
	})
	events, err := admin.ListEventsWithResponse(ctx, &oc.ListEventsParams{Limit: ptr(20)})
	must(events, err, 200)
	seen := map[oc.EventType]bool{}
	for _, e := range events.JSON200.Events {
		if e.Detail != nil && strings.Contains(*e.Detail, k.Id) {
			seen[e.Type] = true
		}
	}
	if !seen[oc.ApiKeyCreated] || !seen[oc.ApiKeyRevoked] {
		t.Errorf("api_key events: %s", events.Body)
	}
}

// staticThroughOpenAPIClient drives a per-user API-key datasource with the
// generated client: created, its token route refused (no exposeToken), a connect link
// opened to grantd's form and the form submitted with the browser's
// cookie, then a call through the proxy for that end user.
func staticThroughOpenAPIClient(t *testing.T, h *harness, c, anon *oc.ClientWithResponses, must func(r interface{ StatusCode() int }, err error, want int)) {
	t.Helper()
	const key = "ak-openapi-5e1b9c0d-KEY"
	h.addSecret(key)
	u := newAuthUpstream(t, h)
	u.apiKey = key
	created, err := c.CreateDatasourceWithResponse(ctx, oc.DatasourceInput{Name: "Keyed", Url: u.URL,
		ConnectionMode: ptr(oc.DatasourceInputConnectionModePerUser),
		Auth:           oc.OAuth2{Type: ptr(oc.OAuth2TypeApiKey), HeaderName: ptr("X-Api-Key"), HeaderPrefix: ptr("")}})
	must(created, err, 201)
	ds := created.JSON201
	if ds.Auth.Type == nil || *ds.Auth.Type != oc.OAuth2TypeApiKey || ds.Auth.ApiKeySet == nil || *ds.Auth.ApiKeySet || ds.Auth.GrantType != nil {
		t.Errorf("per-user API key datasource: %+v", ds.Auth)
	}
	tok, err := c.GetDatasourceTokenWithResponse(ctx, ds.Id, nil)
	must(tok, err, 403) // an API key is handed out only with exposeToken
	if tok.ApplicationproblemJSON403.Type != "https://grantd.dev/problems/token-not-exposed" {
		t.Errorf("token of an API key datasource without exposeToken: %s", tok.Body)
	}
	cs, err := c.CreateConnectSessionWithResponse(ctx, oc.ConnectSessionRequest{Datasource: ds.Id, EndUserId: "carol", ReturnTo: ptr("/app/done")})
	must(cs, err, 201)
	h.addLogSecret(cs.JSON201.Token)
	opened, err := anon.OpenConnectLinkWithResponse(ctx, cs.JSON201.Token)
	must(opened, err, 200)
	var cookie *http.Cookie
	for _, ck := range opened.HTTPResponse.Cookies() {
		if ck.Name == "grantd_connect" {
			cookie = ck
		}
	}
	if cookie == nil || !strings.Contains(string(opened.Body), `name="apiKey"`) {
		t.Fatalf("the connect form: %v %s", opened.HTTPResponse.Header, opened.Body)
	}
	withCookie := func(_ context.Context, r *http.Request) error { r.AddCookie(cookie); return nil }
	sent, err := anon.SubmitConnectFormWithFormdataBodyWithResponse(ctx, cs.JSON201.Token, oc.SubmitConnectFormFormdataRequestBody{ApiKey: ptr(key)}, withCookie)
	must(sent, err, 303)
	if q := mustURL(sent.HTTPResponse.Header.Get("Location")).Query(); q.Get("result") != "authorized" || q.Get("endUserId") != "carol" {
		t.Errorf("after the form: %s", sent.HTTPResponse.Header.Get("Location"))
	}
	again, err := anon.SubmitConnectFormWithFormdataBodyWithResponse(ctx, cs.JSON201.Token, oc.SubmitConnectFormFormdataRequestBody{ApiKey: ptr(key)}, withCookie)
	must(again, err, 400)
	carol := oc.EndUserHeader("carol")
	r, err := c.ProxyDatasourceGetWithResponse(ctx, ds.Id, "key", &oc.ProxyDatasourceGetParams{GrantdEndUser: &carol})
	must(r, err, 200)
}

// agentSessionsThroughOpenAPIClient makes an agent session, lists it,
// opens MCP with its token (an initialize, then GET and DELETE, which the
// stateless endpoint answers 405), and revokes it.
func agentSessionsThroughOpenAPIClient(t *testing.T, h *harness, c *oc.ClientWithResponses, dsID string,
	must func(interface{ StatusCode() int }, error, int)) {
	t.Helper()
	made, err := c.CreateAgentSessionWithResponse(ctx, oc.AgentSessionRequest{EndUserId: "agent-user", Datasources: []string{dsID}, TtlSeconds: ptr(600)})
	must(made, err, 201)
	s := made.JSON201
	h.addLogSecret(s.Token) // answered this once, never logged
	if s.McpUrl != h.URL+"/mcp" || len(s.Datasources) != 1 || s.Datasources[0].Id != dsID {
		t.Errorf("agent session %+v", s)
	}
	bad, err := c.CreateAgentSessionWithResponse(ctx, oc.AgentSessionRequest{EndUserId: "agent-user", Datasources: []string{"no-such-datasource"}})
	must(bad, err, 400)
	list, err := c.ListAgentSessionsWithResponse(ctx, &oc.ListAgentSessionsParams{EndUserId: ptr("agent-user")})
	must(list, err, 200)
	if len(list.JSON200.AgentSessions) != 1 || list.JSON200.AgentSessions[0].Id != s.Id {
		t.Errorf("agent sessions %+v", list.JSON200)
	}
	agent := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("Accept", "application/json, text/event-stream")
		return nil
	}
	init, err := c.McpPostWithResponse(ctx, oc.McpPostJSONRequestBody{"jsonrpc": "2.0", "id": 1, "method": "initialize",
		"params": map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}}}, agent)
	must(init, err, 200)
	if !strings.Contains(string(init.Body), `"grantd"`) {
		t.Errorf("initialize: %s", init.Body)
	}
	get, err := c.McpGetWithResponse(ctx, agent)
	must(get, err, 405)
	del, err := c.McpDeleteWithResponse(ctx, agent)
	must(del, err, 405)
	admin, err := c.McpGetWithResponse(ctx)
	must(admin, err, 403)
	gone, err := c.RevokeAgentSessionWithResponse(ctx, s.Id)
	must(gone, err, 204)
	again, err := c.RevokeAgentSessionWithResponse(ctx, s.Id)
	must(again, err, 404)
	refused, err := c.McpGetWithResponse(ctx, agent)
	must(refused, err, 401)
}
