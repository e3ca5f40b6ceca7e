package api

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/access"
)

// mcpBodyLimit bounds a request to /mcp: one call_datasource's arguments
// (mcp.MaxRequestBody, 1 MiB) with room for JSON-RPC and escaping.
const mcpBodyLimit = 2 << 20

// authenticateAgent lets a request to /mcp through with an API key (need
// then checks its mcp permission) or an agent session token, and names
// the caller for the access log. The admin token and the UI session are
// refused: an MCP client gets a credential of its own, limited and
// revocable. Wrong credentials count toward the address's failure limit,
// as on every route. Package mcp checks the credential again and decides
// what the caller may call: this gate keeps /mcp's answers, limits and
// logs those of the rest of the API.
func (s *Server) authenticateAgent(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="grantd"`)
		return probUnauthorized.with("MCP needs 'Authorization: Bearer <API key with the mcp permission, or agent session token>'")
	}
	addr := addressKey(c.IP())
	if ok, wait := s.failures.admit(addr); !ok {
		return tooManyAttempts(c, wait)
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	bearer := ok && strings.EqualFold(scheme, "Bearer")
	switch {
	case bearer && access.IsKey(tok):
		if k, ok := s.checkKey(tok); ok {
			c.Locals(localAuth, "key")
			c.Locals(localKey, k)
			c.Locals(localActor, access.Actor(k))
			return c.Next()
		}
		s.failures.fail(addr)
		s.log.Warn("unknown or revoked API key", "requestId", requestID(c), "remote", c.IP())
		return probUnauthorized.with("the API key is unknown or revoked")
	case bearer && access.IsAgentToken(tok) && s.cfg.AgentSessions != nil:
		a, err := s.cfg.AgentSessions.Check(c.UserContext(), tok)
		switch {
		case err == nil:
			c.Locals(localAuth, "agent")
			c.Locals(localActor, access.AgentActor(a))
			return c.Next()
		case errors.Is(err, access.ErrAgentSessionExpired):
			return probUnauthorized.with("the agent session has expired: ask for a new one")
		case errors.Is(err, access.ErrNoSuchAgentSession):
			s.failures.fail(addr)
			s.log.Warn("unknown or revoked agent session", "requestId", requestID(c), "remote", c.IP())
			return probUnauthorized.with("the agent session is unknown or revoked")
		default:
			return err
		}
	case bearer && s.adminToken(tok):
		return probForbidden.with("the admin token does not open /mcp: give the MCP client an API key with the mcp permission, or an agent session (POST /api/v1/agent-sessions)")
	}
	s.failures.fail(addr)
	s.log.Warn("wrong credential at /mcp", "requestId", requestID(c), "remote", c.IP())
	return probUnauthorized.with("MCP takes an API key with the mcp permission or an agent session token")
}

// serveMCP hands the request to the MCP handler (package mcp, net/http)
// through fasthttp's adaptor, inside this app: the request id, the
// access log, the metrics and the failure limiter apply as on every
// route. The request id travels as X-Request-Id, so the handler logs and
// forwards the same one. The body is read here, bounded: the adaptor
// would buffer any size.
func (s *Server) serveMCP(c *fiber.Ctx) error {
	if s.mcp == nil {
		return probNotFound.with("this grantd serves no MCP endpoint")
	}
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set(fiber.HeaderCacheControl, "no-store")
	if n := c.Request().Header.ContentLength(); n > mcpBodyLimit {
		return probTooLarge.with("an MCP request is at most 2 MiB")
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		var b bytes.Buffer
		n, err := io.Copy(&b, io.LimitReader(stream, mcpBodyLimit+1))
		if err != nil {
			return probInvalid.with("reading the request body failed")
		}
		if n > mcpBodyLimit {
			return probTooLarge.with("an MCP request is at most 2 MiB")
		}
		c.Request().SetBodyRaw(b.Bytes())
	}
	c.Request().Header.Set(fiber.HeaderXRequestID, requestID(c))
	s.mcp(c.Context())
	return nil
}
