package api

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
)

// EventLister lists the event log for GET /api/v1/events; a
// datasource.EventLog is one.
type EventLister interface {
	ListEvents(ctx context.Context, q datasource.EventQuery) ([]*datasource.Event, error)
}

// audit records an action for the audit trail and the webhooks: who (the
// admin token's or session's fingerprint), what, on which datasource.
// Never a secret.
func (s *Server) audit(c *fiber.Ctx, typ string, d *datasource.Datasource, detail string) {
	if s.cfg.Publish == nil {
		return
	}
	actor, _ := c.Locals(localActor).(string)
	if actor == "" {
		actor = "anonymous"
	}
	e := &datasource.Event{Type: typ, Actor: actor, Detail: detail}
	if d != nil {
		e.DatasourceID, e.DatasourceName = d.ID, d.Name
	}
	s.cfg.Publish(e)
}

// auditConnection records an action on one end user's connection.
func (s *Server) auditConnection(c *fiber.Ctx, typ, id, endUser, detail string) {
	if s.cfg.Publish == nil {
		return
	}
	actor, _ := c.Locals(localActor).(string)
	if actor == "" {
		actor = "anonymous"
	}
	e := &datasource.Event{Type: typ, Actor: actor, Detail: detail, DatasourceID: id, EndUserID: endUser}
	if d, err := s.cfg.Engine.Datasource(c.UserContext(), id); err == nil {
		e.DatasourceName = d.Name
	}
	s.cfg.Publish(e)
}

// listEvents answers recent events, newest first: ?datasource=<id>,
// ?before=<event id> for the next page, ?limit=<1–500>.
func (s *Server) listEvents(c *fiber.Ctx) error {
	if s.cfg.Events == nil {
		return c.JSON(fiber.Map{"events": []any{}})
	}
	q := datasource.EventQuery{DatasourceID: c.Query("datasource"), EndUserID: c.Query("endUserId"), Before: c.Query("before")}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			p := probInvalid.with("limit must be a number from 1 to 500")
			p.Errors = []datasource.FieldError{{Field: "limit", Message: "must be a number from 1 to 500"}}
			return p
		}
		q.Limit = n
	}
	events, err := s.cfg.Events.ListEvents(c.UserContext(), q)
	if err != nil {
		return err
	}
	if events == nil {
		events = []*datasource.Event{}
	}
	return c.JSON(fiber.Map{"events": events})
}
