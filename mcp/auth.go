package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/datasource"
)

// Headers a request may carry for grantd (never forwarded upstream).
const (
	// EndUserHeader names the end user an API key calls for; an agent
	// session's own end user wins over it.
	EndUserHeader = "Grantd-End-User"
	// SubjectTokenHeader carries the caller's own token for a
	// token_exchange datasource.
	SubjectTokenHeader = "Grantd-Subject-Token"
	requestIDHeader    = "X-Request-Id"
)

// caller is who an MCP request comes from and whom it acts for.
type caller struct {
	// actor names the key or session in audit events and logs.
	actor   string
	key     *datasource.APIKey       // nil for an agent session
	session *datasource.AgentSession // nil for an API key
	// endUser is whose connections per-user datasources use: the
	// session's, or Grantd-End-User for an API key ("" when absent).
	endUser string
	// subject is the caller's own token for token_exchange datasources.
	subject   string
	requestID string
}

// covers reports whether c may call d.
func (c *caller) covers(d *datasource.Datasource) bool {
	if c.session != nil {
		return c.session.Covers(d.ID)
	}
	return c.key.Covers(d)
}

// authenticate lets a request through with an API key holding the mcp
// permission or a live agent session, and answers 401 (403 for a key
// without mcp) otherwise.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, status, msg := s.identify(r)
		if status != 0 {
			refuse(w, status, msg)
			return
		}
		ctx := context.WithValue(r.Context(), perRequestKey{}, &perRequest{caller: c})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// identify checks the request's bearer credential. It returns the caller,
// or an HTTP status and a message that names no secret.
func (s *Server) identify(r *http.Request) (*caller, int, string) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, http.StatusUnauthorized, "send 'Authorization: Bearer <API key with the mcp permission, or agent session token>'"
	}
	c := &caller{
		subject:   strings.TrimPrefix(strings.TrimSpace(r.Header.Get(SubjectTokenHeader)), "Bearer "),
		requestID: r.Header.Get(requestIDHeader),
	}
	switch {
	case access.IsKey(tok) && s.cfg.Keys != nil:
		k, ok := s.cfg.Keys.Check(tok)
		if !ok {
			return nil, http.StatusUnauthorized, "the API key is unknown or revoked"
		}
		if !k.Allows(datasource.PermMCP) {
			return nil, http.StatusForbidden, "the API key " + k.ID + " (" + k.Name + ") lacks the \"mcp\" permission"
		}
		c.key, c.actor, c.endUser = k, access.Actor(k), strings.TrimSpace(r.Header.Get(EndUserHeader))
	case access.IsAgentToken(tok) && s.cfg.Sessions != nil:
		a, err := s.cfg.Sessions.Check(r.Context(), tok)
		switch {
		case errors.Is(err, access.ErrAgentSessionExpired):
			return nil, http.StatusUnauthorized, "the agent session has expired: ask for a new one"
		case errors.Is(err, access.ErrNoSuchAgentSession):
			return nil, http.StatusUnauthorized, "the agent session is unknown or revoked"
		case err != nil:
			s.log.Warn("checking an agent session failed", "requestId", c.requestID, "err", err)
			return nil, http.StatusServiceUnavailable, "agent sessions cannot be checked right now"
		}
		// The session's end user, whatever Grantd-End-User says: a
		// session is bound to one person.
		c.session, c.actor, c.endUser = a, access.AgentActor(a), a.EndUserID
	default:
		return nil, http.StatusUnauthorized, "MCP takes an API key with the mcp permission or an agent session token (not the admin token)"
	}
	return c, 0, ""
}

// refuse answers an HTTP-level refusal as a JSON-RPC error, which MCP
// clients show to their user.
func refuse(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="grantd"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": -32001, "message": msg},
	})
}
