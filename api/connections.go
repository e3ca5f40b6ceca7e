package api

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// endUserHeader names the end user a call to a per-user datasource is
// for: the app backend's own user id. It is never forwarded upstream.
const endUserHeader = "Grantd-End-User"

// keyOf is the key a call on datasource id acts as: the shared one, or the
// end user's connection named by Grantd-End-User (the engine drops it for
// a shared datasource).
func keyOf(c *fiber.Ctx, id string) datasource.Key {
	return datasource.Key{Datasource: id, EndUser: c.Get(endUserHeader)}
}

// ConnectionView is a connection as the API returns it.
type ConnectionView struct {
	EndUserID        string                   `json:"endUserId"`
	EndUser          datasource.EndUser       `json:"endUser"`
	ConnectionConfig map[string]string        `json:"connectionConfig"`
	CreatedAt        time.Time                `json:"createdAt"`
	UpdatedAt        time.Time                `json:"updatedAt"`
	Authorization    datasource.Authorization `json:"authorization"`
	Health           *datasource.Health       `json:"health"`
}

// ConnectionList is a page of connections; NextCursor is empty after the
// last page.
type ConnectionList struct {
	Connections []ConnectionView `json:"connections"`
	NextCursor  string           `json:"nextCursor"`
}

func connectionView(c *grants.Connection) ConnectionView {
	cfg := c.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	return ConnectionView{EndUserID: c.EndUserID, EndUser: c.EndUser, ConnectionConfig: cfg,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), Authorization: c.Authorization, Health: c.Health}
}

// endUserParam is the end user id in the path, unescaped and checked.
func endUserParam(c *fiber.Ctx) (string, error) {
	id, err := url.PathUnescape(c.Params("endUserId"))
	if err == nil {
		err = datasource.ValidEndUserID(id)
	}
	if err != nil {
		p := probInvalid.with("the end user id is not one")
		p.Errors = []datasource.FieldError{{Field: "endUserId", Message: datasource.EndUserIDRule}}
		return "", p
	}
	return id, nil
}

func (s *Server) listConnections(c *fiber.Ctx) error {
	q := datasource.ConnectionQuery{DatasourceID: c.Params("id"), Status: datasource.Status(c.Query("status")),
		Prefix: c.Query("prefix"), After: c.Query("cursor")}
	var errs []datasource.FieldError
	if q.Status != "" && !slicesContains(datasource.Statuses, q.Status) {
		errs = append(errs, datasource.FieldError{Field: "status", Message: "must be one of authorized, unauthorized, needs_reauthorization, error"})
	}
	if len(q.Prefix) > datasource.MaxEndUserIDLen {
		errs = append(errs, datasource.FieldError{Field: "prefix", Message: "must be at most " + strconv.Itoa(datasource.MaxEndUserIDLen) + " characters"})
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > datasource.MaxConnectionPage {
			errs = append(errs, datasource.FieldError{Field: "limit", Message: "must be 1–" + strconv.Itoa(datasource.MaxConnectionPage)})
		}
		q.Limit = n
	}
	if len(errs) > 0 {
		p := probInvalid.with("the query has invalid parameters")
		p.Errors = errs
		return p
	}
	page, next, err := s.cfg.Engine.Connections(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := ConnectionList{Connections: make([]ConnectionView, len(page)), NextCursor: next}
	for i := range page {
		out.Connections[i] = connectionView(&page[i])
	}
	return c.JSON(out)
}

func (s *Server) getConnection(c *fiber.Ctx) error {
	user, err := endUserParam(c)
	if err != nil {
		return err
	}
	conn, err := s.cfg.Engine.Connection(c.UserContext(), c.Params("id"), user)
	if err != nil {
		return s.noConnection(c, err)
	}
	return c.JSON(connectionView(conn))
}

// noConnection tells an end user without a connection apart from an
// unknown datasource: the engine answers datasource.ErrNotFound for both,
// and "no such datasource" would send the app looking for the wrong thing.
func (s *Server) noConnection(c *fiber.Ctx, err error) error {
	if !errors.Is(err, datasource.ErrNotFound) || errors.Is(err, grants.ErrNoConnection) {
		return err
	}
	if _, derr := s.cfg.Engine.Datasource(c.UserContext(), c.Params("id")); derr != nil {
		return err
	}
	return grants.ErrNoConnection
}

func (s *Server) deleteConnection(c *fiber.Ctx) error {
	user, err := endUserParam(c)
	if err != nil {
		return err
	}
	res, err := s.cfg.Engine.DeleteConnection(c.UserContext(), c.Params("id"), user)
	if err != nil {
		return s.noConnection(c, err)
	}
	s.log.Info("connection deleted", "datasource", c.Params("id"), "endUser", user, "atProvider", res.AtProvider, "by", c.Locals(localActor))
	s.auditConnection(c, datasource.EventConnectionDeleted, c.Params("id"), user, "")
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) refreshConnection(c *fiber.Ctx) error {
	user, err := endUserParam(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := s.cfg.Engine.Refresh(ctx, datasource.Key{Datasource: c.Params("id"), EndUser: user}); err != nil {
		return err
	}
	conn, err := s.cfg.Engine.Connection(ctx, c.Params("id"), user)
	if err != nil {
		return err
	}
	return c.JSON(connectionView(conn))
}

func (s *Server) revokeConnection(c *fiber.Ctx) error {
	user, err := endUserParam(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := s.cfg.Engine.Connection(ctx, c.Params("id"), user); err != nil {
		return s.noConnection(c, err)
	}
	res, err := s.cfg.Engine.Revoke(ctx, datasource.Key{Datasource: c.Params("id"), EndUser: user})
	if err != nil {
		return err
	}
	s.auditConnection(c, datasource.EventRevoked, c.Params("id"), user, "")
	return c.JSON(revokeAnswer(res))
}

func (s *Server) checkConnection(c *fiber.Ctx) error {
	user, err := endUserParam(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	k := datasource.Key{Datasource: c.Params("id"), EndUser: user}
	if _, err := s.cfg.Engine.Connection(ctx, k.Datasource, user); err != nil {
		return s.noConnection(c, err)
	}
	if _, err := s.cfg.Engine.Check(ctx, k); err != nil {
		return err
	}
	conn, err := s.cfg.Engine.Connection(ctx, k.Datasource, user)
	if err != nil {
		return err
	}
	return c.JSON(connectionView(conn))
}

// ConnectSessionRequest is the body of POST /api/v1/connect/sessions.
type ConnectSessionRequest struct {
	// Datasource is the per-user datasource, by id or name.
	Datasource       string             `json:"datasource"`
	EndUserID        string             `json:"endUserId"`
	EndUser          datasource.EndUser `json:"endUser"`
	ConnectionConfig map[string]string  `json:"connectionConfig"`
	// ReturnTo is where the end user's browser goes afterwards: a relative
	// path, or an absolute URL on an origin in --allowed-return-origins.
	ReturnTo string `json:"returnTo"`
	// TTLSeconds shortens the link's life (at most 1800).
	TTLSeconds int `json:"ttlSeconds"`
}

// ConnectSessionAnswer is the answer of POST /api/v1/connect/sessions.
type ConnectSessionAnswer struct {
	Token      string    `json:"token"`
	ConnectURL string    `json:"connectUrl"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

func (s *Server) createConnectSession(c *fiber.Ctx) error {
	b, err := s.readJSONBody(c)
	if err != nil {
		return err
	}
	var req ConnectSessionRequest
	if err := decodeStrict(b, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	var errs []datasource.FieldError
	if strings.TrimSpace(req.Datasource) == "" {
		errs = append(errs, datasource.FieldError{Field: "datasource", Message: "is required (an id or a name)"})
	}
	var v *datasource.ValidationError
	if errors.As(datasource.ValidateConnect(req.EndUserID, req.EndUser, req.ConnectionConfig), &v) {
		errs = append(errs, v.Errors...)
	}
	returnTo, rerr := s.checkConnectReturnTo(req.ReturnTo)
	if rerr != nil {
		var p *Problem
		if errors.As(rerr, &p) {
			errs = append(errs, p.Errors...)
		}
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int(datasource.ConnectSessionTTL.Seconds()) {
		errs = append(errs, datasource.FieldError{Field: "ttlSeconds", Message: "must be 0–1800"})
	}
	if len(errs) > 0 {
		p := probInvalid.with("the connect session has invalid fields")
		p.Errors = errs
		return p
	}
	d, err := s.cfg.Engine.DatasourceByNameOrID(ctx, req.Datasource)
	if k := apiKeyOf(c); k != nil && len(k.Datasources) > 0 && errors.Is(err, datasource.ErrNotFound) {
		return forbidden(k, "datasource "+req.Datasource, "", req.Datasource) // as for a datasource it does not cover
	}
	if err != nil {
		return err
	}
	if err := covers(c, d); err != nil {
		return err
	}
	cs, err := s.cfg.Engine.CreateConnectSession(ctx, grants.ConnectRequest{DatasourceID: d.ID, EndUserID: req.EndUserID,
		EndUser: req.EndUser, ConnectionConfig: req.ConnectionConfig, ReturnTo: returnTo, TTL: time.Duration(req.TTLSeconds) * time.Second})
	if err != nil {
		return err
	}
	s.log.Info("connect session created", "datasource", d.ID, "endUser", req.EndUserID, "by", c.Locals(localActor))
	s.auditConnection(c, datasource.EventConnectStarted, d.ID, req.EndUserID, "")
	return c.Status(fiber.StatusCreated).JSON(ConnectSessionAnswer{Token: cs.Token, ConnectURL: s.connectURL(cs.Token), ExpiresAt: cs.ExpiresAt.UTC()})
}

// connectURL is the link an end user opens: <public URL>/connect/<token>.
func (s *Server) connectURL(token string) string {
	return strings.TrimRight(s.cfg.PublicURL.String(), "/") + "/connect/" + token
}

// openConnect is the end user's browser opening a connect link: it binds
// the browser and goes to the provider, or shows grantd's own form for a
// static auth type (connectform.go). The link is its credential.
func (s *Server) openConnect(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer") // the URL holds the link's token
	if ok, err := s.openConnectForm(c); ok {
		return err // a static auth type's: grantd's own form
	}
	binding := c.Cookies(bindingCookie)
	if len(binding) < 32 || len(binding) > 64 {
		binding = grants.NewBinding()
	}
	u, err := s.cfg.Engine.OpenConnectSession(c.UserContext(), c.Params("token"), binding)
	if err != nil {
		// An end user, not an admin: plain words, no link into grantd.
		return endUserState(c, err)
	}
	s.setBindingCookie(c, binding)
	return c.Redirect(u, fiber.StatusFound)
}

// checkConnectReturnTo accepts a relative path, or an absolute https (or
// http on loopback) URL whose origin is in AllowedReturnOrigins.
func (s *Server) checkConnectReturnTo(raw string) (string, error) {
	if raw == "" || strings.HasPrefix(raw, "/") {
		return checkReturnTo(raw, "returnTo")
	}
	bad := func(msg string) error {
		p := probInvalid.with("returnTo is not allowed")
		p.Errors = []datasource.FieldError{{Field: "returnTo", Message: msg}}
		return p
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", bad("must be a relative path or an absolute http(s) URL")
	}
	origin := datasource.Origin(raw)
	for _, o := range s.cfg.AllowedReturnOrigins {
		if datasource.Origin(o) == origin {
			return raw, nil
		}
	}
	return "", bad("the origin " + origin + " is not in --allowed-return-origins")
}

// notConnected adds a fresh connect link for the end user to a 424 about
// a per-user datasource, so the app can offer "Connect your account" in
// one round trip.
func (s *Server) notConnected(c *fiber.Ctx, k datasource.Key, err error) error {
	if k.EndUser == "" || !errors.Is(err, grants.ErrNotAuthorized) {
		return err
	}
	if te := (*grants.TokenError)(nil); errors.As(err, &te) && te.Code == "invalid_client" {
		return err // the datasource's client is refused: reconnecting cannot help
	}
	cs, cerr := s.cfg.Engine.CreateConnectSession(c.UserContext(), grants.ConnectRequest{DatasourceID: k.Datasource, EndUserID: k.EndUser})
	if cerr != nil {
		return err
	}
	p := problemFor(err)
	q := *p
	q.ConnectURL = s.connectURL(cs.Token)
	return &q
}

func slicesContains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
