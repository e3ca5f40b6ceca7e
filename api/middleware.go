package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/access"
)

const localRequestID = "grantd.requestId"

// requestIDs gives every request an id, returned as X-Request-Id and put
// in its log line and problems. A well-formed incoming X-Request-Id (from
// a load balancer) is kept.
func (s *Server) requestIDs(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = nextRequestID()
	}
	c.Locals(localRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

// Request ids are a random per-process prefix and a counter: unique, cheap,
// and not meant to be secret.
var (
	requestPrefix  = func() string { b := make([]byte, 6); rand.Read(b); return hex.EncodeToString(b) }()
	requestCounter atomic.Uint64
)

func nextRequestID() string {
	return requestPrefix + "-" + strconv.FormatUint(requestCounter.Add(1), 36)
}

func validRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// accessLog writes one structured line per request. It logs the path
// without the query: queries carry authorization codes, states and, with
// query placement, tokens. Headers and bodies are never logged.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Let the error handler write the answer before logging its status.
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			c.Status(fiber.StatusInternalServerError)
		}
		err = nil
	}
	level := slog.LevelInfo
	status := c.Response().StatusCode()
	if status >= 500 {
		level = slog.LevelWarn
	}
	if c.Path() == "/healthz" || c.Path() == "/readyz" || c.Path() == "/metrics" {
		level = slog.LevelDebug
	}
	if !s.log.Enabled(c.UserContext(), level) {
		return err
	}
	attrs := []slog.Attr{
		slog.String("requestId", requestID(c)),
		slog.String("method", c.Method()),
		slog.String("path", safePath(c)),
		slog.String("route", c.Route().Path),
		slog.Int("status", status),
		slog.Duration("took", time.Since(start)),
		slog.String("remote", c.IP()),
	}
	if by, _ := c.Locals(localActor).(string); by != "" {
		attrs = append(attrs, slog.String("by", by)) // who: a key's id and name, a token's or session's fingerprint
	}
	s.log.LogAttrs(c.UserContext(), level, "http request", attrs...)
	return err
}

// safePath is the request path without query, truncated; a connect
// link's token (a credential in the path) is left out, and so is an API
// key pasted where its id belongs (DELETE /api/v1/api-keys/gk_…).
func safePath(c *fiber.Ctx) string {
	p := string(c.Request().URI().PathOriginal())
	if strings.HasPrefix(p, "/connect/") {
		return "/connect/[token]"
	}
	if strings.Contains(p, access.KeyPrefix) {
		seg := strings.Split(p, "/")
		for i, s := range seg {
			if strings.HasPrefix(s, access.KeyPrefix) {
				seg[i] = "[key]"
			}
		}
		p = strings.Join(seg, "/")
	}
	if len(p) > 512 {
		p = p[:512] + "…"
	}
	return p
}
