package api

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/datasource"
)

// DefaultAgentSessionTTL is an agent session's life when the request names
// none.
const DefaultAgentSessionTTL = time.Hour

// AgentSessionRequest is the body of POST /api/v1/agent-sessions.
type AgentSessionRequest struct {
	EndUserID string `json:"endUserId"`
	// Datasources the session may call, by name or id (at least one).
	Datasources []string `json:"datasources"`
	// TTLSeconds is the session's life: 1–86400, default 3600.
	TTLSeconds int `json:"ttlSeconds"`
}

// AgentSessionDatasource names a datasource of a session.
type AgentSessionDatasource struct {
	ID   string `json:"id"`
	Name string `json:"name"` // "" once the datasource is deleted
}

// AgentSessionView is an agent session as the API shows it: never its
// token.
type AgentSessionView struct {
	ID          string                   `json:"id"`
	EndUserID   string                   `json:"endUserId"`
	Datasources []AgentSessionDatasource `json:"datasources"`
	CreatedAt   time.Time                `json:"createdAt"`
	ExpiresAt   time.Time                `json:"expiresAt"`
	CreatedBy   string                   `json:"createdBy"`
}

// AgentSessionCreated is the answer to POST /api/v1/agent-sessions: the
// view and, this once, the token, with the URL an MCP client connects to.
type AgentSessionCreated struct {
	AgentSessionView
	Token  string `json:"token"`
	MCPURL string `json:"mcpUrl"`
}

// AgentSessionList is the answer to GET /api/v1/agent-sessions.
type AgentSessionList struct {
	AgentSessions []AgentSessionView `json:"agentSessions"`
}

func (s *Server) agentSessions() (*access.AgentSessions, error) {
	if s.cfg.AgentSessions == nil {
		return nil, probNotFound.with("this grantd has no agent sessions (no session store configured)")
	}
	return s.cfg.AgentSessions, nil
}

// mcpURL is where MCP clients connect: <public URL>/mcp.
func (s *Server) mcpURL() string { return strings.TrimRight(s.cfg.PublicURL.String(), "/") + "/mcp" }

func (s *Server) createAgentSession(c *fiber.Ctx) error {
	sessions, err := s.agentSessions()
	if err != nil {
		return err
	}
	b, err := s.readJSONBody(c)
	if err != nil {
		return err
	}
	var req AgentSessionRequest
	if err := decodeStrict(b, &req); err != nil {
		return err
	}
	var errs []datasource.FieldError
	if req.TTLSeconds < 0 || req.TTLSeconds > int(datasource.MaxAgentSessionTTL.Seconds()) {
		errs = append(errs, datasource.FieldError{Field: "ttlSeconds", Message: fmt.Sprintf("must be 1–%d (0 means %d)",
			int(datasource.MaxAgentSessionTTL.Seconds()), int(DefaultAgentSessionTTL.Seconds()))})
	}
	if err := datasource.ValidEndUserID(req.EndUserID); err != nil {
		errs = append(errs, datasource.FieldError{Field: "endUserId", Message: datasource.EndUserIDRule})
	}
	if len(req.Datasources) == 0 || len(req.Datasources) > datasource.MaxAgentSessionDatasources {
		errs = append(errs, datasource.FieldError{Field: "datasources", Message: fmt.Sprintf("must name 1–%d datasources (names or ids)", datasource.MaxAgentSessionDatasources)})
	}
	if len(errs) > 0 {
		p := probInvalid.with("the agent session has invalid fields")
		p.Errors = errs
		return p
	}
	// Each datasource must exist and, for a limited key, be one it
	// covers: a key hands on at most what it holds.
	ctx := c.UserContext()
	var ids []string
	var views []AgentSessionDatasource
	for _, name := range req.Datasources {
		d, err := s.cfg.Engine.DatasourceByNameOrID(ctx, strings.TrimSpace(name))
		if k := apiKeyOf(c); k != nil && len(k.Datasources) > 0 && errors.Is(err, datasource.ErrNotFound) {
			return forbidden(k, "datasource "+name, "", name) // as for a datasource it does not cover
		}
		if errors.Is(err, datasource.ErrNotFound) {
			p := probInvalid.with("the agent session names a datasource that does not exist")
			p.Errors = []datasource.FieldError{{Field: "datasources", Message: fmt.Sprintf("no datasource %q", name)}}
			return p
		}
		if err != nil {
			return err
		}
		if err := covers(c, d); err != nil {
			return err
		}
		if !slices.Contains(ids, d.ID) {
			ids = append(ids, d.ID)
			views = append(views, AgentSessionDatasource{ID: d.ID, Name: d.Name})
		}
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if ttl == 0 {
		ttl = DefaultAgentSessionTTL
	}
	actor, _ := c.Locals(localActor).(string)
	as, token, err := sessions.Create(ctx, datasource.AgentSession{EndUserID: req.EndUserID, Datasources: ids}, ttl, actor)
	var v *datasource.ValidationError
	if errors.As(err, &v) {
		p := probInvalid.with("the agent session has invalid fields")
		p.Errors = v.Errors
		return p
	}
	if err != nil {
		return err
	}
	s.log.Info("agent session created", "session", as.ID, "endUser", as.EndUserID, "datasources", ids, "expiresAt", as.ExpiresAt, "by", actor)
	s.auditAgentSession(c, datasource.EventAgentSessionMade, as, views)
	view := agentSessionView(as, views)
	return c.Status(fiber.StatusCreated).JSON(AgentSessionCreated{AgentSessionView: view, Token: token, MCPURL: s.mcpURL()})
}

func agentSessionView(a *datasource.AgentSession, ds []AgentSessionDatasource) AgentSessionView {
	return AgentSessionView{ID: a.ID, EndUserID: a.EndUserID, Datasources: ds, CreatedAt: a.CreatedAt.UTC(),
		ExpiresAt: a.ExpiresAt.UTC(), CreatedBy: a.CreatedBy}
}

// sessionDatasources names a session's datasources, and reports whether
// c may see it: a limited key sees only sessions whose every datasource
// it covers.
func (s *Server) sessionDatasources(c *fiber.Ctx, a *datasource.AgentSession, names map[string]*datasource.Datasource) ([]AgentSessionDatasource, bool) {
	k := apiKeyOf(c)
	out := make([]AgentSessionDatasource, 0, len(a.Datasources))
	for _, id := range a.Datasources {
		d := names[id]
		if k != nil && (d == nil && len(k.Datasources) > 0 || d != nil && !k.Covers(d)) {
			return nil, false
		}
		v := AgentSessionDatasource{ID: id}
		if d != nil {
			v.Name = d.Name
		}
		out = append(out, v)
	}
	return out, true
}

func (s *Server) datasourcesByID(c *fiber.Ctx) (map[string]*datasource.Datasource, error) {
	list, err := s.cfg.Engine.List(c.UserContext())
	if err != nil {
		return nil, err
	}
	m := make(map[string]*datasource.Datasource, len(list))
	for _, l := range list {
		m[l.Datasource.ID] = l.Datasource
	}
	return m, nil
}

// listAgentSessions answers the sessions that have not expired, oldest
// first (?endUserId= for one end user's).
func (s *Server) listAgentSessions(c *fiber.Ctx) error {
	sessions, err := s.agentSessions()
	if err != nil {
		return err
	}
	list, err := sessions.List(c.UserContext())
	if err != nil {
		return err
	}
	names, err := s.datasourcesByID(c)
	if err != nil {
		return err
	}
	user := c.Query("endUserId")
	out := AgentSessionList{AgentSessions: []AgentSessionView{}}
	for _, a := range list {
		if user != "" && a.EndUserID != user {
			continue
		}
		if ds, ok := s.sessionDatasources(c, a, names); ok {
			out.AgentSessions = append(out.AgentSessions, agentSessionView(a, ds))
		}
	}
	return c.JSON(out)
}

// deleteAgentSession revokes a session: refused from now on, on every
// replica (see access.AgentSessions.Revoke).
func (s *Server) deleteAgentSession(c *fiber.Ctx) error {
	sessions, err := s.agentSessions()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	notFound := probNotFound.with("no such agent session")
	a, err := sessions.Get(ctx, c.Params("sessionId"))
	if errors.Is(err, access.ErrNoSuchAgentSession) {
		return notFound
	}
	if err != nil {
		return err
	}
	names, err := s.datasourcesByID(c)
	if err != nil {
		return err
	}
	ds, ok := s.sessionDatasources(c, a, names)
	if !ok {
		return notFound // a limited key learns nothing of sessions beyond its datasources
	}
	if err := sessions.Revoke(ctx, a.ID); errors.Is(err, access.ErrNoSuchAgentSession) {
		return notFound
	} else if err != nil {
		return err
	}
	s.log.Info("agent session revoked", "session", a.ID, "endUser", a.EndUserID, "by", c.Locals(localActor))
	s.auditAgentSession(c, datasource.EventAgentSessionEnded, a, ds)
	return c.SendStatus(fiber.StatusNoContent)
}

// auditAgentSession records a session made or revoked, naming it and its
// datasources (never its token).
func (s *Server) auditAgentSession(c *fiber.Ctx, typ string, a *datasource.AgentSession, ds []AgentSessionDatasource) {
	if s.cfg.Publish == nil {
		return
	}
	actor, _ := c.Locals(localActor).(string)
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
		if names[i] == "" {
			names[i] = d.ID
		}
	}
	e := &datasource.Event{Type: typ, Actor: actor, EndUserID: a.EndUserID,
		Detail: access.AgentActor(a) + " for " + strings.Join(names, ", ") + ", until " + a.ExpiresAt.UTC().Format(time.RFC3339)}
	if len(ds) == 1 {
		e.DatasourceID, e.DatasourceName = ds[0].ID, ds[0].Name
	}
	s.cfg.Publish(e)
}
