// Package api is grantd's HTTP interface on Fiber: the REST API
// described by openapi.json (served at /api/v1/openapi.json), the authorization-code redirect flow with its callback, the
// authenticating proxy, the UI session, metrics, health and the OpenAPI
// document. It is one consumer of packages datasource and grants.
//
// # Errors
//
// Every error answer is RFC 9457 problem+json (an HTML page for browsers
// navigating to the callback); problemFor is the one table from errors to
// statuses. Unexpected errors answer "internal error" with a request id,
// never internals or secrets.
//
// # Authentication
//
// Every /api/v1 route but the callback wants the admin token as a Bearer
// header (compared as SHA-256 digests in constant time) or the UI session
// cookie from POST /api/v1/session (SameSite=Strict). Cookie-authenticated
// requests that change something must also carry the header X-Grantd-CSRF
// (any value): other sites cannot send it without a CORS preflight grantd
// never allows. On the proxy and the token endpoint, which act with a
// datasource's credentials, the header is needed on every method and a
// browser navigation is refused (see actsAsDatasource); their answers are
// sandboxed.
package api

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/outbound"
	"github.com/grantd/grantd/timeline"
)

// Config configures New. Engine, PublicURL and AdminTokenHash are
// required.
type Config struct {
	Engine Engine
	// PublicURL is where users and providers reach grantd; the callback's
	// redirect URI is built from it, never from request headers.
	PublicURL *url.URL
	// AdminTokenHash is the SHA-256 of the admin token.
	AdminTokenHash [sha256.Size]byte
	// Timeline records proxied calls per datasource and connection, and
	// answers the timeline routes; nil records nothing (the routes answer
	// empty timelines).
	Timeline *timeline.Recorder
	// Keys checks and manages API keys; nil accepts none (and the
	// /api/v1/api-keys routes answer 404).
	Keys *access.Keys
	// AgentSessions makes and checks agent sessions, the credentials of
	// MCP clients; nil accepts none (and /api/v1/agent-sessions answers
	// 404).
	AgentSessions *access.AgentSessions
	// MCP is the Model Context Protocol endpoint (package mcp's Handler),
	// served at /mcp behind authenticateAgent; nil serves none (404).
	MCP http.Handler
	// SessionKey signs UI session cookies (32 random bytes, kept secret).
	SessionKey []byte
	// Dialer guards the proxy's outgoing connections.
	Dialer *outbound.Dialer
	// UI is the web UI's files, served at /; nil serves none.
	UI fs.FS
	// Logger receives access logs; nothing secret is ever logged.
	Logger *slog.Logger
	// Meta keeps the list of signed-out sessions, so a sign-out holds
	// across restarts and, on a shared store (etcd), across replicas (see
	// revocations); nil keeps it in this process only.
	Meta datasource.Meta
	// Events lists the event log (GET /api/v1/events); nil when the store
	// keeps none.
	Events EventLister
	// Publish records an audit event (and queues its webhooks); nil
	// records nothing.
	Publish func(*datasource.Event)
	// Metrics registers grantd's metrics; nil disables /metrics.
	Metrics *Metrics
	// MetricsPublic serves /metrics without authentication.
	MetricsPublic bool
	// Ready reports whether the server can serve (store open, keys loaded).
	Ready func(context.Context) error
	// AllowedReturnOrigins are the origins (https://app.example.com) a
	// connect session's returnTo may be an absolute URL on; any other
	// returnTo is a relative path on grantd.
	AllowedReturnOrigins []string
	// Version is reported by /healthz.
	Version string
	// Now is the clock for expires_in; default time.Now.
	Now func() time.Time

	// Limits; zero means the default.
	JSONBodyLimit      int           // default 256 KiB
	ProxyBodyLimit     int64         // default 32 MiB
	ProxyResponseLimit int64         // default 1 GiB
	ProxyTimeout       time.Duration // default 30s
	ProxyReplayLimit   int           // bodies up to this are buffered and replayable; default 1 MiB
	SessionTTL         time.Duration // default 12h
}

// Server is the HTTP server.
type Server struct {
	cfg         Config
	app         *fiber.App
	log         *slog.Logger
	proxy       *proxy
	allow       allowTable // the methods of each route, for 405
	secure      bool       // cookies get Secure
	redirectURI string
	openAPIDoc  []byte // with the public URL as its server
	revoked     *revocations
	failures    *failureLimiter         // wrong admin tokens per client address
	mcp         fasthttp.RequestHandler // cfg.MCP adapted, nil without one
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.JSONBodyLimit == 0 {
		cfg.JSONBodyLimit = 256 << 10
	}
	if cfg.ProxyBodyLimit == 0 {
		cfg.ProxyBodyLimit = 32 << 20
	}
	if cfg.ProxyResponseLimit == 0 {
		cfg.ProxyResponseLimit = 1 << 30
	}
	if cfg.ProxyTimeout == 0 {
		cfg.ProxyTimeout = 30 * time.Second
	}
	if cfg.ProxyReplayLimit == 0 {
		cfg.ProxyReplayLimit = 1 << 20
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &outbound.Dialer{}
	}
	s := &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		secure:      cfg.PublicURL.Scheme == "https",
		redirectURI: RedirectURI(cfg.PublicURL),
		openAPIDoc:  openAPIFor(cfg.PublicURL),
		revoked:     newRevocations(cfg.Meta, cfg.Now, cfg.Logger),
		failures:    newFailureLimiter(cfg.Now),
	}
	s.proxy = newProxy(s)
	if cfg.MCP != nil {
		s.mcp = fasthttpadaptor.NewFastHTTPHandler(cfg.MCP)
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "grantd",
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		// Bodies up to this are read before the handler runs; larger ones
		// stream (the proxy) or are refused by the JSON routes.
		BodyLimit:         cfg.ProxyReplayLimit,
		StreamRequestBody: true,
		ReadTimeout:       time.Minute,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ReadBufferSize:    16 << 10,
		// Fiber's strings (c.Params, c.Query, c.Get…) normally point into
		// fasthttp's request buffer, which the next request reuses. The
		// engine keeps ids as map keys and in records, so every value must
		// be a real copy: a SIGKILL test caught token records written under
		// the wrong datasource without it.
		Immutable: true,
		// The raw path is kept: the proxy checks it for escapes itself.
		UnescapePath:  false,
		StrictRouting: false,
		CaseSensitive: true,
	})
	s.routes()
	return s
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// RedirectURI is the callback URL providers redirect to:
// <public URL>/api/v1/datasources/authorize.
func RedirectURI(public *url.URL) string {
	return strings.TrimRight(public.String(), "/") + "/api/v1/datasources/authorize"
}

// App returns the Fiber app, for tests and embedding.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for requests in flight
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) routes() {
	app := s.app
	app.Use(s.requestIDs, s.accessLog)
	if m := s.cfg.Metrics; m != nil {
		app.Use(m.middleware)
	}
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	if s.cfg.Metrics != nil {
		if s.cfg.MetricsPublic {
			app.Get("/metrics", s.cfg.Metrics.handler())
		} else {
			app.Get("/metrics", s.authenticate, s.need(datasource.PermRead), s.cfg.Metrics.handler())
		}
	}

	v1 := app.Group("/api/v1")
	// The callback is the one unauthenticated API route: the provider
	// sends the person's browser here. The state is its credential.
	v1.Get("/datasources/authorize", oneTimeGet, s.callback)
	// A connect link is opened by an end user's browser; its one-time
	// token is its credential, like the state is the callback's.
	app.Get("/connect/:token", oneTimeGet, s.openConnect)
	app.Post("/connect/:token", s.submitConnectForm)
	v1.Get("/openapi.json", s.openapi)
	v1.Post("/session", s.createSession)

	auth := v1.Group("", s.authenticate)
	read, write := s.need(datasource.PermRead), s.need(datasource.PermWrite)
	connect, admin := s.need(datasource.PermConnect), s.need(datasource.PermAdmin)
	// Any credential may read and end its own session.
	auth.Get("/session", s.getSession)
	auth.Delete("/session", s.deleteSession)
	auth.Get("/config", read, s.getConfig)
	auth.Get("/providers", read, s.listProviders)
	auth.Get("/events", read, s.listEvents)
	auth.Post("/datasources", write, s.createDatasource)
	auth.Get("/datasources", read, s.listDatasources)
	auth.Get("/datasources/:id", read, s.getDatasource)
	auth.Put("/datasources/:id", write, s.putDatasource)
	auth.Delete("/datasources/:id", write, s.deleteDatasource)
	auth.Post("/datasources/:id/authorize", write, s.authorize)
	auth.Post("/datasources/:id/authorize/start", write, s.mintStart)
	auth.Get("/datasources/:id/authorize/start", oneTimeGet, write, s.authorizeStart)
	auth.Get("/datasources/:id/status", read, s.status)
	auth.Post("/datasources/:id/refresh", write, s.refresh)
	auth.Post("/datasources/:id/revoke", write, s.revoke)
	auth.Post("/datasources/:id/token", s.need(datasource.PermToken), s.actsAsDatasource, s.token)
	auth.Get("/datasources/:id/connections", connect, s.listConnections)
	auth.Get("/datasources/:id/connections/:endUserId", connect, s.getConnection)
	auth.Delete("/datasources/:id/connections/:endUserId", connect, s.deleteConnection)
	auth.Post("/datasources/:id/connections/:endUserId/refresh", connect, s.refreshConnection)
	auth.Post("/datasources/:id/connections/:endUserId/revoke", connect, s.revokeConnection)
	auth.Post("/datasources/:id/connections/:endUserId/check", connect, s.checkConnection)
	auth.Post("/connect/sessions", connect, s.createConnectSession)
	auth.Post("/api-keys", admin, s.createAPIKey)
	auth.Get("/api-keys", admin, s.listAPIKeys)
	auth.Delete("/api-keys/:keyId", admin, s.deleteAPIKey)
	mcp := s.need(datasource.PermMCP)
	auth.Post("/agent-sessions", mcp, s.createAgentSession)
	auth.Get("/agent-sessions", mcp, s.listAgentSessions)
	auth.Delete("/agent-sessions/:sessionId", mcp, s.deleteAgentSession)
	proxy := s.need(datasource.PermProxy)
	auth.Get("/datasources/:id/timeline", read, s.datasourceTimeline)
	auth.Get("/datasources/:id/connections/:endUserId/timeline", connect, s.connectionTimeline)
	auth.All("/datasources/:id/proxy", proxy, s.actsAsDatasource, s.timed, s.proxy.handle)
	auth.All("/datasources/:id/proxy/*", proxy, s.actsAsDatasource, s.timed, s.proxy.handle)
	v1.All("/*", s.noRoute)
	// MCP for agents: an API key with mcp or an agent session, nothing
	// else (see authenticateAgent); the handler is package mcp's.
	// Streamable HTTP uses POST (and GET, DELETE, which the stateless
	// handler answers 405).
	for _, m := range []string{fiber.MethodPost, fiber.MethodGet, fiber.MethodDelete} {
		app.Add(m, "/mcp", s.authenticateAgent, mcp, s.serveMCP)
	}

	if s.cfg.UI != nil {
		s.uiRoutes()
	}
	app.Use(s.noRoute)
	s.allow = newAllowTable(app.GetRoutes(true))
}

// oneTimeGet answers a HEAD of a route whose GET spends a one-time token
// (a connect link, a start URL, an authorization state) without spending
// it: Fiber routes HEAD to the GET handler, and link-preview bots and
// `curl -I` send HEADs that must not use up a person's link.
func oneTimeGet(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodHead {
		return c.Next()
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	p := problemFor(err)
	if p.Status >= 500 && p.Type == probInternal.Type {
		s.log.Error("request failed", "requestId", requestID(c), "method", c.Method(), "route", c.Route().Path, "err", err)
	}
	return sendProblem(c, p)
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(Health{Status: "ok", Version: s.cfg.Version})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(c.UserContext()); err != nil {
			// The cause goes to the log only: /readyz answers anyone.
			s.log.Warn("not ready", "requestId", requestID(c), "err", err)
			return sendProblem(c, probUnavailable.with("not ready; the request id correlates the cause in the server log"))
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

func (s *Server) getConfig(c *fiber.Ctx) error {
	return c.JSON(ServerInfo{RedirectURI: s.redirectURI, PublicURL: s.cfg.PublicURL.String(), Version: s.cfg.Version})
}
