package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/outbound"
)

// Engine is what MCP needs of the token engine; *grants.Engine is one.
type Engine interface {
	// Resolve returns the target of a call (see grants.Target.Send).
	Resolve(ctx context.Context, k datasource.Key) (grants.Target, error)
	// ListDatasources returns every datasource, ordered by name.
	ListDatasources(ctx context.Context) ([]*datasource.Datasource, error)
	// DatasourceByNameOrID returns a datasource by id, or else by name.
	DatasourceByNameOrID(ctx context.Context, nameOrID string) (*datasource.Datasource, error)
	// Status returns the authorization of a shared datasource or of a
	// connection.
	Status(ctx context.Context, k datasource.Key) (datasource.Authorization, error)
	// CreateConnectSession makes a connect link for one end user.
	CreateConnectSession(ctx context.Context, r grants.ConnectRequest) (*grants.ConnectSession, error)
}

var _ Engine = (*grants.Engine)(nil)

// Defaults of Config.
const (
	// MaxText is how much of a text body call_datasource returns; a
	// longer one is cut (at a UTF-8 boundary) and marked truncated.
	MaxText = 64 << 10
	// MaxRequestBody bounds the body call_datasource sends upstream.
	MaxRequestBody = 1 << 20
	// DefaultTimeout bounds one upstream call, body included.
	DefaultTimeout = 30 * time.Second
)

// Config configures New. Engine and PublicURL are required, and at least
// one of Keys and Sessions.
type Config struct {
	Engine Engine
	// PublicURL is where end users reach grantd: connect links are
	// <PublicURL>/connect/<token>.
	PublicURL *url.URL
	// Keys checks API keys; nil accepts none.
	Keys *access.Keys
	// Sessions checks agent session tokens; nil accepts none.
	Sessions *access.AgentSessions
	// Dialer guards outgoing connections; nil refuses private addresses.
	Dialer *outbound.Dialer
	// Logger receives warnings; nothing secret is ever logged.
	Logger *slog.Logger
	// Publish records an audit event; nil records nothing.
	Publish func(*datasource.Event)
	// Metrics counts tool calls; nil counts nothing.
	Metrics *Metrics
	// Version is reported as the server's version.
	Version string

	// Limits; zero means the default.
	MaxText        int           // default MaxText
	MaxRequestBody int           // default MaxRequestBody
	Timeout        time.Duration // default DefaultTimeout
}

// Server is grantd's MCP server. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	sdkLog  *slog.Logger // the SDK's: warnings and errors only
	handler http.Handler
	up      *upstreams
	servers *serverCache
}

// New returns the MCP server of cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &outbound.Dialer{}
	}
	if cfg.MaxText <= 0 {
		cfg.MaxText = MaxText
	}
	if cfg.MaxRequestBody <= 0 {
		cfg.MaxRequestBody = MaxRequestBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	s := &Server{cfg: cfg, log: cfg.Logger, sdkLog: slog.New(quieter{cfg.Logger.Handler(), slog.LevelWarn})}
	s.up = newUpstreams(cfg.Dialer, cfg.Timeout)
	s.servers = newServerCache()
	streamable := sdk.NewStreamableHTTPHandler(s.serverFor, &sdk.StreamableHTTPOptions{
		// Every request stands alone: any replica answers it, and it is
		// what the SDK needs for protocol revision 2026-07-28.
		Stateless: true,
		// One JSON answer per request: nothing here streams, and an
		// answer passes any proxy or adaptor that buffers.
		JSONResponse: true,
		// The SDK's DNS-rebinding guard refuses a loopback connection
		// whose Host is not loopback: that is grantd behind a reverse
		// proxy on the same host. It guards servers that trust whoever
		// can reach them; every request here carries a bearer credential,
		// which a rebinding page does not have.
		DisableLocalhostProtection: true,
		// The arguments of one call_datasource, with room for JSON-RPC.
		MaxRequestBodyBytes: int64(cfg.MaxRequestBody) + 64<<10,
		// A client that goes away cancels its upstream call.
		PropagateRequestCancellation: true,
		Logger:                       s.sdkLog,
	})
	// The caller reaches the tools through the SDK's TokenInfo (the only
	// per-request value it hands a tool handler), so one SDK server serves
	// every caller who may call the same datasources (see serverFor).
	bearer := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		pr, _ := ctx.Value(perRequestKey{}).(*perRequest)
		if pr == nil {
			return nil, auth.ErrInvalidToken // never: authenticate put it there
		}
		return &auth.TokenInfo{Extra: map[string]any{callerKey: pr.caller}}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true}) // the credential's own expiry was checked by authenticate
	s.handler = s.authenticate(bearer(streamable))
	return s
}

// callerKey is where TokenInfo.Extra carries the request's caller.
const callerKey = "grantd.caller"

// forCaller turns a tool handler of one caller into one for any: the
// caller comes from the request (TokenInfo, see New).
func forCaller(h func(*caller) sdk.ToolHandler) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		var c *caller
		if req.Extra != nil && req.Extra.TokenInfo != nil {
			c, _ = req.Extra.TokenInfo.Extra[callerKey].(*caller)
		}
		if c == nil {
			return nil, errors.New("mcp: no caller on the request")
		}
		return h(c)(ctx, req)
	}
}

// Handler returns the net/http handler of the MCP endpoint (mount it at
// /mcp). It authenticates every request itself.
func (s *Server) Handler() http.Handler { return s.handler }

// MCPURL is where MCP clients reach grantd: <public URL>/mcp.
func MCPURL(public *url.URL) string { return strings.TrimRight(public.String(), "/") + "/mcp" }

// perRequest is what one HTTP request's MCP server is chosen by; the SDK
// asks for the server more than once per request, so it is chosen once.
type perRequest struct {
	caller *caller
	once   sync.Once
	srv    *sdk.Server
}

type perRequestKey struct{}

// serverFor returns the MCP server of one request: its tools' descriptions
// list the datasources the caller may call, and it is shared by every
// caller who may call the same ones (the tools find the caller on the
// request). Building a server per request — the SDK marshals and checks
// each tool's schemas as it is added — cost more than the call itself.
func (s *Server) serverFor(r *http.Request) *sdk.Server {
	pr, _ := r.Context().Value(perRequestKey{}).(*perRequest)
	if pr == nil {
		return nil // not authenticated: never reached through Handler
	}
	pr.once.Do(func() {
		visible, err := s.visible(r.Context(), pr.caller)
		if err != nil {
			s.log.Warn("listing datasources for MCP tool descriptions failed", "requestId", pr.caller.requestID, "err", err)
		}
		pr.srv = s.servers.get(visible, s.newServer)
	})
	return pr.srv
}

func (s *Server) newServer(visible []*datasource.Datasource) *sdk.Server {
	srv := sdk.NewServer(&sdk.Implementation{Name: "grantd", Title: "grantd datasources", Version: s.cfg.Version}, &sdk.ServerOptions{
		Instructions: instructions,
		Logger:       s.sdkLog,
	})
	srv.AddTool(marshalled(listTool()), forCaller(s.listDatasources))
	srv.AddTool(marshalled(callTool(visible)), forCaller(s.callDatasource))
	return srv
}

// serverCache keeps an MCP server per set of datasources callers may call:
// call_datasource's description and schema name them. A change to any of
// them (a name, a URL, a description) makes another key; the map is
// bounded.
type serverCache struct {
	mu      sync.Mutex
	servers map[string]*sdk.Server // by the visible datasources' names, URLs and descriptions
}

func newServerCache() *serverCache { return &serverCache{servers: map[string]*sdk.Server{}} }

func (c *serverCache) get(visible []*datasource.Datasource, build func([]*datasource.Datasource) *sdk.Server) *sdk.Server {
	var b strings.Builder
	for _, d := range visible {
		b.WriteString(d.Name + "\x00" + d.URL + "\x00" + d.Description + "\x00")
	}
	key := b.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if srv := c.servers[key]; srv != nil {
		return srv
	}
	if len(c.servers) >= 256 {
		clear(c.servers) // many sets: start over
	}
	srv := build(visible)
	c.servers[key] = srv
	return srv
}

// marshalled returns t with its schemas as JSON: the SDK marshals a
// *jsonschema.Schema again on every tools/call (looking for header
// annotations); a RawMessage costs it a copy. The tools' schemas are
// literals of this package: they always marshal.
func marshalled(t *sdk.Tool) *sdk.Tool {
	c := *t
	in, err := json.Marshal(t.InputSchema)
	if err != nil {
		panic(err)
	}
	c.InputSchema = json.RawMessage(in)
	if t.OutputSchema != nil {
		out, err := json.Marshal(t.OutputSchema)
		if err != nil {
			panic(err)
		}
		c.OutputSchema = json.RawMessage(out)
	}
	return &c
}

// visible returns the datasources c may call, ordered by name.
func (s *Server) visible(ctx context.Context, c *caller) ([]*datasource.Datasource, error) {
	all, err := s.cfg.Engine.ListDatasources(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, d := range all {
		if c.covers(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// connectURL is the link an end user opens: <public URL>/connect/<token>.
func (s *Server) connectURL(token string) string {
	return strings.TrimRight(s.cfg.PublicURL.String(), "/") + "/connect/" + token
}

const instructions = `grantd calls APIs ("datasources") for you with credentials you never see.
Call list_datasources to see which datasources you may use and whether they are connected, then call_datasource to make an HTTP request to one.
Paths are relative to the datasource's base URL. Never ask for or send API tokens: grantd adds them.
When a result says the account is not connected, give the person the connectUrl to open in their browser, wait until they say they are done, then make the same call again.`
